"""Event files on local disk: unique, creation-ordered names and an append-only sink.

File name: ``events.out.tfevents.<10-digit unix time>.<host>.<pid>.<counter><suffix>``.
The counter is process-wide and zero-padded, so names from one process sort
in creation order even within one second (TensorBoard orders a run's files by
name), and time + host + pid + counter make them unique across writers and
processes. Files are created with ``O_EXCL``: an existing file is never
overwritten, a clash just takes the next counter value.

Across processes, pids are not ordered: a job restarted within the same second
could get a name sorting *before* the file it continues, and TensorBoard would
read them in the wrong order. So a new local file whose name would not sort
after every event file already in its directory takes the timestamp one
second past the newest one there (:func:`ordered_name`).
"""

from __future__ import annotations

import itertools
import os
import socket
import time

from anyboard._paths import MAX_COMPONENT_BYTES, check_inside, safe_component

_COUNTER = itertools.count()
HOST = safe_component(socket.gethostname() or "localhost")


_PREFIX = "events.out.tfevents."


def _name(stamp: int, pid: int, counter: int, suffix: str) -> str:
    return f"{_PREFIX}{stamp:010d}.{HOST}.{pid}.{counter:06d}{suffix}"


def event_file_name(suffix: str = "", now: float | None = None) -> str:
    """Return a fresh event-file name (not a path) for this process."""
    return _name(int(time.time() if now is None else now), os.getpid(), next(_COUNTER), suffix)


def check_suffix(suffix: str, given: object) -> None:
    """Refuse a ``filename_suffix`` (``suffix``, escaped; ``given``, as passed) that would make this
    process's event-file names longer than a file name may be (with room for a 7-digit pid and
    ``GlobalSummaryWriter``'s ``.global``), before any directory is made.

    Raises:
        ValueError: naming ``filename_suffix`` and the length.
    """
    longest = len(_name(0, 9_999_999, 0, f".global{suffix}").encode())
    if longest > MAX_COMPONENT_BYTES:
        raise ValueError(
            f"filename_suffix {given!r} is too long: event file names would be up to {longest} bytes "
            f"(at most {MAX_COMPONENT_BYTES})"
        )


def ordered_name(existing: list[str], suffix: str = "") -> str:
    """A fresh name that sorts after every event-file name in ``existing``."""
    name = event_file_name(suffix)
    newest = max((n for n in existing if "tfevents" in n), default="")
    if newest < name:
        return name
    stamp = newest[len(_PREFIX) : len(_PREFIX) + 10] if newest.startswith(_PREFIX) else ""
    if not stamp.isdigit():  # a foreign name sorting after ours: nothing sensible to do
        return name
    return event_file_name(suffix, now=int(stamp) + 1)


class LocalFile:
    """An append-only event file whose writes are all-or-nothing.

    A failed write (disk full, file too large) is rolled back with
    ``ftruncate`` to the last complete batch, so the file never holds a torn
    record followed by good ones; the caller keeps the batch and may retry.
    Every ``OSError`` raised carries the file's path (``filename``, shown in
    its message).

    ``root`` is the log directory when ``directory`` is a sub-run below it:
    a component of ``directory`` below ``root`` that is a symlink leading
    outside ``root`` is refused (:class:`anyboard._paths.UnsafePathError`)
    before anything is created (see :mod:`anyboard._paths`). The file itself is
    opened with ``O_CREAT | O_EXCL | O_NOFOLLOW``: an existing name, a symlink
    included, is never written through; the next counter value is taken.

    ``shared``: a file name that several processes append to at once
    (``O_APPEND``, created by the first; :class:`anyboard.GlobalSummaryWriter`).
    Each write then lands whole after every earlier one, whichever process made
    it (a local file system appends one ``write`` at a time). A failed write
    cannot be rolled back there (another process may have appended since): it
    raises, and a write that stopped part way (the disk filled up) leaves a
    torn record that readers stop at.
    """

    cheap_flush = True  # flush() is an fstat: the writer may flush early to bound what it keeps (Stream)

    def __init__(self, directory: str, suffix: str = "", root: str | None = None, shared: str | None = None) -> None:
        if root is not None:
            check_inside(root, directory)
        os.makedirs(directory, exist_ok=True)
        if root is not None:
            check_inside(root, directory)
        self._shared = shared is not None
        flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
        if shared is not None:
            path = os.path.join(directory, safe_component(shared))
            self._fd = os.open(path, flags | os.O_APPEND, 0o644)
        else:
            while True:
                path = os.path.join(directory, ordered_name(os.listdir(directory), suffix))
                try:
                    self._fd = os.open(path, flags | os.O_EXCL, 0o644)
                    break
                except FileExistsError:
                    continue
        self.path = path
        self._size = 0

    def write(self, data: bytes) -> None:
        """Append ``data`` completely, or leave the file as it was and raise."""
        view = memoryview(data)
        written = 0
        try:
            while written < len(view):
                written += os.write(self._fd, view[written:])
        except BaseException as exc:
            if not self._shared:  # a shared file may have grown since: nothing to roll back to
                try:
                    os.ftruncate(self._fd, self._size)
                    os.lseek(self._fd, self._size, os.SEEK_SET)
                except OSError:
                    pass
            if isinstance(exc, OSError) and exc.filename is None:
                exc.filename = self.path  # "[Errno 28] No space left on device: '<path>'"
            raise
        self._size += written

    def flush(self) -> None:
        """Check the file still exists (data written to a deleted file is lost)."""
        try:
            links = os.fstat(self._fd).st_nlink
        except OSError as exc:
            if exc.filename is None:
                exc.filename = self.path
            raise
        if links == 0:
            raise FileNotFoundError(f"event file {self.path} was deleted while being written")

    def close(self) -> None:
        os.close(self._fd)
