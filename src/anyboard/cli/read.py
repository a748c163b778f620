"""``anyboard ls``, ``anyboard dump`` and ``anyboard export``: read TensorBoard logs from the shell.

First version: ``ls`` and ``dump`` over :func:`anyboard.iter_events`; ``export`` arrives with
:mod:`anyboard.read`.
"""

from __future__ import annotations

import argparse
import os
import sys

from anyboard.cli import UsageError


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``ls``, ``dump`` and ``export`` to the ``anyboard`` parser."""
    p = subparsers.add_parser("dump", help="print every event of an event file or log directory")
    p.add_argument("path", metavar="FILE_OR_DIR")
    p.set_defaults(func=_dump)


def _dump(args: argparse.Namespace) -> int:
    from anyboard.io.reader import event_files, iter_events

    path = args.path
    if not os.path.exists(path):
        raise UsageError(f"no such file or directory: {path}")
    files = event_files(path) if os.path.isdir(path) else [path]
    for name in files:
        for event in iter_events(name):
            sys.stdout.write(f"{event}\n")
    return 0
