"""The ``anyboard`` command line (``anyboard`` console script and ``python -m anyboard``).

Each sub-command lives in its own module under :mod:`anyboard.cli` and registers itself
through ``register(subparsers)``, which adds its parser and sets ``func(args) -> int``.
Errors a user can fix (a missing path, an unknown format) print one line on stderr and
exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# The sub-command modules, in the order ``anyboard --help`` lists them.
_COMMAND_MODULES = ("anyboard.cli.read", "anyboard.cli.bench")


class UsageError(Exception):
    """A mistake in the command line or its inputs: reported on stderr, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    """The ``anyboard`` argument parser with every sub-command registered."""
    parser = argparse.ArgumentParser(prog="anyboard", description="Read, export and benchmark TensorBoard logs.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a sub-command module that is there but fails to import: a real bug
                raise
            continue  # a sub-command not installed in this build: the others still work
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 failure, 2 usage error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"anyboard {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("anyboard: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `anyboard dump ... | head`
        return 0
