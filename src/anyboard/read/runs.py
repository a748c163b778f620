"""Runs under a log directory and their event files, in the order TensorBoard reads them.

This is the reusable part of :mod:`anyboard.read` (``anyboard.testing`` and the
``anyboard`` command use it too). The rules are TensorBoard's Python loader's
(``io_wrapper.GetLogdirSubdirectories``, ``EventMultiplexer.AddRunsFromDirectory``,
``DirectoryWatcher``):

- An **event file** is a file whose base name contains ``tfevents``.
- A **run** is every directory, at any depth below the log directory (symbolic links
  followed, so a folder reached by two names is two runs, as in TensorBoard; a link back
  up to one of its own ancestors is not walked again), that directly holds at least one
  event file. Its **name** is its path relative to the log directory, ``"."`` for the log
  directory itself (``os.sep`` separators for local paths, ``/`` inside URLs).
- Within a run the files are read one after the other in the **sorted order of their
  paths**; files whose names end in ``.profile-empty`` are not read (they hold no
  summaries). A run whose only files are such files is still a run, with no files.
- A path that is itself an event file is one run named ``"."`` holding that file.

Paths may be local paths or fsspec URLs (``memory://...``, ``s3://...``;
``storage_options`` are passed to the filesystem).

Example::

    for run in find_runs("runs/"):
        print(run.name, [f.path for f in run.files])
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from anyboard.io import remote


def is_event_file(name: str) -> bool:
    """Whether TensorBoard counts a file with this base name as an event file."""
    return "tfevents" in name


def is_read_event_file(name: str) -> bool:
    """Whether TensorBoard's loader reads an event file of this base name (not ``*.profile-empty``)."""
    return "tfevents" in name and not name.endswith(".profile-empty")


@dataclass(frozen=True)
class EventFile:
    """One event file: ``path`` (local path or URL as given) and its ``size`` in bytes when listed."""

    path: str
    size: int
    storage_options: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)

    def open(self) -> BinaryIO:
        """Open the file for reading (binary)."""
        return remote.open_file(self.path, "rb", self.storage_options)


@dataclass(frozen=True)
class Run:
    """A run: its TensorBoard ``name``, its ``directory``, and its event ``files`` in read order."""

    name: str
    directory: str
    files: tuple[EventFile, ...]


def _local_runs(root: str) -> list[Run]:
    runs: list[Run] = []
    reals: dict[str, str] = {}  # normalized directory path -> its real path, for the loop check
    for directory, dirnames, filenames in os.walk(root, followlinks=True):
        key = os.path.normpath(directory)
        real = os.path.realpath(directory)
        reals[key] = real
        # A symbolic link back up the tree (the real directory is one of this one's ancestors)
        # is not followed. Other links are, as TensorBoard does: a run reached by two names is
        # two runs, and neither hides the other.
        parent = os.path.dirname(key)
        looped = False
        while parent in reals and parent != key:
            if reals[parent] == real:
                looped = True
                break
            key, parent = parent, os.path.dirname(parent)
        if looped:
            dirnames[:] = []
            continue
        dirnames.sort()
        names = [n for n in filenames if is_event_file(n) and os.path.isfile(os.path.join(directory, n))]
        if not names:
            continue
        paths = sorted(os.path.join(directory, n) for n in names if is_read_event_file(n))
        files = tuple(EventFile(p, os.path.getsize(p)) for p in paths)
        rel = os.path.relpath(directory, root)
        runs.append(Run(rel, directory, files))
    runs.sort(key=lambda r: r.name)
    return runs


def _remote_runs(fs: Any, inner: str, url: str, storage_options: Mapping[str, Any] | None) -> list[Run]:
    prefix = url[: len(url) - len(inner)] if url.endswith(inner) else ""
    protocol = url.split("://", 1)[0] + "://"
    runs: list[Run] = []
    root = inner.rstrip("/")
    for directory, _dirs, files in fs.walk(root, detail=True):
        names = [n for n, info in files.items() if is_event_file(n) and info.get("type", "file") == "file"]
        if not names:
            continue
        paths = sorted(posixpath.join(directory, n) for n in names if is_read_event_file(n))
        dir_url = _to_url(directory, prefix, protocol)
        event_files = tuple(
            EventFile(_to_url(p, prefix, protocol), int(files[posixpath.basename(p)].get("size") or 0), storage_options)
            for p in paths
        )
        rel = posixpath.relpath(directory.rstrip("/") or "/", root or "/")
        runs.append(Run(rel, dir_url, event_files))
    runs.sort(key=lambda r: r.name)
    return runs


def _to_url(path: str, prefix: str, protocol: str) -> str:
    if prefix:
        return prefix + path
    return path if "://" in path else protocol + path


def find_runs(path: str | os.PathLike[str], storage_options: Mapping[str, Any] | None = None) -> list[Run]:
    """The runs under ``path`` (a log directory or one event file), sorted by name.

    Raises:
        FileNotFoundError: nothing exists at ``path``.
    """
    name = os.fspath(path)
    local = remote._local(name)
    if local is not None:
        if os.path.isfile(local):
            return [Run(".", os.path.dirname(local) or ".", (EventFile(local, os.path.getsize(local)),))]
        if not os.path.isdir(local):
            raise FileNotFoundError(f"no log directory or event file at {name!r}")
        return _local_runs(local)
    fs, inner = remote.filesystem(name, storage_options)
    if not fs.exists(inner):
        raise FileNotFoundError(f"no log directory or event file at {name!r}")
    if fs.isfile(inner):
        size = int(fs.size(inner) or 0)
        return [Run(".", name.rsplit("/", 1)[0], (EventFile(name, size, storage_options),))]
    return _remote_runs(fs, inner, name, storage_options)


def run_files(
    path: str | os.PathLike[str], storage_options: Mapping[str, Any] | None = None
) -> list[tuple[str, list[str]]]:
    """``[(run name, [event file paths in read order]), ...]``: :func:`find_runs` as plain data."""
    return [(run.name, [f.path for f in run.files]) for run in find_runs(path, storage_options)]
