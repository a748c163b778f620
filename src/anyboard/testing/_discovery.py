"""Which runs and event files a log directory holds, in the order TensorBoard reads them.

Kept in one private module so that it can be replaced by :mod:`anyboard.read`'s run discovery.

- An event file is a file whose base name contains ``tfevents`` (TensorBoard's only test);
  names ending in ``.profile-empty`` are skipped, as TensorBoard's Python loader skips them.
- A run is every directory, at any depth, that directly holds at least one event file; its
  name is its path relative to the log directory with ``/`` separators, ``"."`` for the
  log directory itself. Runs are sorted by name.
- Within a run, files are read in byte order of their names (both TensorBoard loaders).
"""

from __future__ import annotations

import os


def is_event_file(name: str) -> bool:
    """Whether TensorBoard reads a file with this base name as an event file."""
    return "tfevents" in name and not name.endswith(".profile-empty")


def run_files(path: str | os.PathLike[str]) -> list[tuple[str, list[str]]]:
    """``[(run name, [event file paths in read order]), ...]`` sorted by run name.

    ``path`` may be a log directory or one event file (then the single run is named ``"."``).
    Raises ``FileNotFoundError`` if ``path`` does not exist.
    """
    root = os.fspath(path)
    if os.path.isfile(root):
        return [(".", [root])]
    if not os.path.isdir(root):
        raise FileNotFoundError(f"no log directory or event file at {root!r}")
    runs: list[tuple[str, list[str]]] = []
    for directory, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames.sort()
        names = sorted(
            (n for n in filenames if is_event_file(n) and os.path.isfile(os.path.join(directory, n))),
            key=lambda n: n.encode("utf-8", "surrogateescape"),
        )
        if names:
            rel = os.path.relpath(directory, root)
            run = "." if rel == "." else rel.replace(os.sep, "/")
            runs.append((run, [os.path.join(directory, n) for n in names]))
    runs.sort(key=lambda item: item[0].encode("utf-8", "surrogateescape"))
    return runs
