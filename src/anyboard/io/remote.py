"""Log directories on any fsspec storage (``s3://``, ``gs://``, ``memory://``...).

A log directory that is a URL is written through `fsspec
<https://filesystem-spec.readthedocs.io>`_ (the optional extras
``anyboard[fsspec]``, ``anyboard[s3]``); a plain local path, or a
``file://`` URL, is written with ordinary system calls and never imports
fsspec.

Event files on object stores
    Object stores cannot append, and the peers re-upload the whole event file
    on every flush, so their traffic grows with data x flushes.
    :class:`RemoteFile` writes every byte once: it buffers what the writer
    writes and, on each ``flush()``, uploads the buffer as **one new object**
    with a fresh, creation-ordered event-file name
    (:func:`anyboard.io.event_file.event_file_name`). Each object is complete
    when it appears, and objects appear in name order, which is what
    TensorBoard's Python loader needs (it reads a run's files in name order
    and never goes back to an older one). Every object starts with a
    ``file_version`` event; only the first one carries the rest of the
    stream's header (the ``purge_step`` restart events), so a rotation never
    purges anything.

    A failed upload raises (the background writer reports it as
    :class:`~anyboard.errors.WriteError` on the caller's next call) and keeps
    the bytes: the next flush uploads them again, under the same object name,
    so an upload that failed only on the client side is overwritten by a
    superset rather than duplicated.

Storage helpers
    :func:`is_url`, :func:`join`, :func:`write_bytes`, :func:`read_bytes`,
    :func:`exists`, :func:`makedirs`, :func:`listdir` and :func:`open_file`
    work the same on local paths and URLs, so code that writes anything else
    into a log directory (projector files, ...) reaches the same storage.
"""

from __future__ import annotations

import functools
import os
import posixpath
import re
import tempfile
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO

from anyboard.io.event_file import LocalFile, event_file_name
from anyboard.io.records import FOOTER_SIZE, HEADER_SIZE

__all__ = [
    "RemoteFile",
    "UploadError",
    "event_file_factory",
    "exists",
    "filesystem",
    "is_url",
    "join",
    "listdir",
    "makedirs",
    "open_file",
    "read_bytes",
    "write_bytes",
]

# "proto://..." or a chained fsspec URL "simplecache::s3://...". A Windows
# drive ("C:\\x", "C:/x") never matches: one letter then ":" and no "//".
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+(://|::)")
_FILE_PREFIX = "file://"

#: Upload the buffer from ``write`` (not only on ``flush``) beyond this size.
DEFAULT_MAX_BUFFER_BYTES = 64 << 20


class UploadError(OSError):
    """Uploading an event object failed; ``__cause__`` is the backend's error."""


def is_url(path: str | os.PathLike[str]) -> bool:
    """Return whether ``path`` is a URL (``s3://b/run``, ``memory://x``, ``file:///x``).

    Args:
        path: a log directory or file path.
    """
    return isinstance(path, str) and _URL.match(path) is not None


def _local(path: str | os.PathLike[str]) -> str | None:
    """The local path ``path`` names (a plain path or ``file://``), else ``None``."""
    if not isinstance(path, str):
        return os.fspath(path)
    if path.startswith(_FILE_PREFIX):
        return path[len(_FILE_PREFIX) :] or "/"
    return None if is_url(path) else path


def _check_options(storage_options: Mapping[str, Any] | None) -> dict[str, Any]:
    if storage_options is None:
        return {}
    if not isinstance(storage_options, Mapping):
        raise TypeError(
            f"storage_options must be a dict of fsspec filesystem options, got {type(storage_options).__name__}"
        )
    return dict(storage_options)


def filesystem(url: str, storage_options: Mapping[str, Any] | None = None) -> tuple[Any, str]:
    """Return ``(fsspec filesystem, path inside it)`` for ``url``.

    Args:
        url: an fsspec URL such as ``s3://bucket/run``.
        storage_options: keyword arguments for the filesystem (credentials,
            ``client_kwargs={"endpoint_url": ...}``, ...).

    Raises:
        ImportError: fsspec (or the backend's package, e.g. s3fs) is missing;
            the message names the extra to install.
        ValueError: ``url`` names an unknown protocol.
    """
    options = _check_options(storage_options)
    try:
        import fsspec.core
    except ImportError:
        raise ImportError(
            f"log directory {url!r} is a URL: writing it needs fsspec (pip install 'anyboard[fsspec]', "
            "plus the backend's package, e.g. 'anyboard[s3]' for s3://)"
        ) from None
    try:
        return fsspec.core.url_to_fs(url, **options)  # type: ignore[no-any-return]
    except ImportError as exc:
        raise ImportError(f"log directory {url!r}: {exc} (for s3:// pip install 'anyboard[s3]')") from exc


def join(base: str | os.PathLike[str], *parts: str) -> str:
    """Join path components onto a local path or a URL (``/`` for URLs).

    Args:
        base: a local directory or a URL.
        parts: relative components (already safe names).
    """
    base = os.fspath(base)
    if not parts:
        return base
    if is_url(base) and not base.startswith(_FILE_PREFIX):
        return posixpath.join(base, *parts)
    if base.startswith(_FILE_PREFIX):
        return posixpath.join(base, *parts)
    return os.path.join(base, *parts)


def makedirs(path: str | os.PathLike[str], storage_options: Mapping[str, Any] | None = None) -> None:
    """Create directory ``path`` and its parents if missing (a no-op on most object stores).

    Args:
        path: a local directory or a URL.
        storage_options: fsspec options for a URL.
    """
    local = _local(path)
    if local is not None:
        os.makedirs(local, exist_ok=True)
        return
    fs, inner = filesystem(os.fspath(path), storage_options)
    fs.makedirs(inner, exist_ok=True)


def write_bytes(path: str | os.PathLike[str], data: bytes, storage_options: Mapping[str, Any] | None = None) -> None:
    """Write ``data`` as the whole content of file ``path``, creating parent directories.

    Readers never see a partly written file: a local file is written to a
    temporary name and renamed, an object is uploaded in one request.

    Args:
        path: a local file path or a URL.
        data: the bytes to store.
        storage_options: fsspec options for a URL.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"write_bytes expects bytes, got {type(data).__name__}")
    local = _local(path)
    if local is not None:
        directory = os.path.dirname(local) or "."
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".anyboard-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, local)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        return
    fs, inner = filesystem(os.fspath(path), storage_options)
    parent = posixpath.dirname(inner)
    if parent:
        fs.makedirs(parent, exist_ok=True)
    fs.pipe_file(inner, bytes(data))


def read_bytes(path: str | os.PathLike[str], storage_options: Mapping[str, Any] | None = None) -> bytes:
    """Return the whole content of file ``path`` (local path or URL).

    Raises:
        FileNotFoundError: there is no such file.
    """
    local = _local(path)
    if local is not None:
        with open(local, "rb") as f:
            return f.read()
    fs, inner = filesystem(os.fspath(path), storage_options)
    return fs.cat_file(inner)  # type: ignore[no-any-return]


def exists(path: str | os.PathLike[str], storage_options: Mapping[str, Any] | None = None) -> bool:
    """Return whether file or directory ``path`` exists (local path or URL)."""
    local = _local(path)
    if local is not None:
        return os.path.exists(local)
    fs, inner = filesystem(os.fspath(path), storage_options)
    return bool(fs.exists(inner))


def listdir(path: str | os.PathLike[str], storage_options: Mapping[str, Any] | None = None) -> list[str]:
    """Return the sorted names (not paths) of the entries directly in directory ``path``."""
    local = _local(path)
    if local is not None:
        return sorted(os.listdir(local))
    fs, inner = filesystem(os.fspath(path), storage_options)
    fs.invalidate_cache(inner)
    names = {posixpath.basename(p.rstrip("/")) for p in fs.ls(inner, detail=False)}
    return sorted(n for n in names if n)


def open_file(
    path: str | os.PathLike[str], mode: str = "rb", storage_options: Mapping[str, Any] | None = None
) -> BinaryIO:
    """Open file ``path`` (local path or URL) in binary ``mode`` (``"rb"`` or ``"wb"``).

    A remote file opened for writing appears when it is closed.
    """
    if mode not in ("rb", "wb"):
        raise ValueError(f"open_file supports mode 'rb' or 'wb', got {mode!r}")
    local = _local(path)
    if local is not None:
        if mode == "rb":  # the caller closes it
            return open(local, "rb")
        return open(local, "wb")
    fs, inner = filesystem(os.fspath(path), storage_options)
    return fs.open(inner, mode)  # type: ignore[no-any-return]


def _first_record(data: bytes) -> bytes:
    """The first tfrecord of ``data`` (the ``file_version`` event), or ``data`` if it holds less."""
    if len(data) < HEADER_SIZE:
        return data
    length = int.from_bytes(data[:8], "little")
    return data[: HEADER_SIZE + length + FOOTER_SIZE]


class RemoteFile:
    """An event "file" on a store that cannot append: one new object per flush.

    The background writer's file protocol: ``write(bytes)`` (all or nothing),
    ``flush()``, ``close()`` and the attribute ``path``. The first ``write``
    is the stream's header; it opens the first object, and its first record
    (the ``file_version`` event) opens every later one.

    Attributes:
        path: URL of the newest object uploaded (before the first upload, the
            URL the first object will have).
        paths: URLs of every object uploaded, oldest first.
        uploaded_bytes: bytes sent in successful uploads.
    """

    def __init__(
        self,
        directory: str,
        suffix: str = "",
        storage_options: Mapping[str, Any] | None = None,
        *,
        max_buffer_bytes: int = DEFAULT_MAX_BUFFER_BYTES,
    ) -> None:
        """Prepare event objects in ``directory`` (a URL); creates the directory now.

        Args:
            directory: URL of the run directory.
            suffix: appended to every object name.
            storage_options: fsspec options (credentials, endpoint, ...).
            max_buffer_bytes: upload from ``write`` once this much is buffered.

        Raises:
            OSError: the directory (bucket) cannot be created or reached.
        """
        if not (isinstance(max_buffer_bytes, int) and max_buffer_bytes > 0):
            raise ValueError(f"max_buffer_bytes must be a positive int, got {max_buffer_bytes!r}")
        self._fs, self._dir = filesystem(directory, storage_options)
        try:
            self._fs.makedirs(self._dir, exist_ok=True)
        except OSError:
            raise
        except Exception as exc:  # backends raise their own types
            raise UploadError(f"cannot create log directory {directory!r}: {exc}") from exc
        self._url = directory.rstrip("/")
        self._suffix = suffix
        self._max_buffer = max_buffer_bytes
        self._head: bytes | None = None  # what the next object starts with
        self._pending = bytearray()
        self._name: str | None = event_file_name(suffix)  # kept until its upload succeeds
        self._closed = False
        self.paths: list[str] = []
        self.uploaded_bytes = 0
        self.path = posixpath.join(self._url, self._name)

    def write(self, data: bytes) -> None:
        """Buffer ``data``; may upload the buffer first when it is large.

        Raises:
            UploadError: that upload failed; ``data`` was not taken.
            ValueError: the file is closed.
        """
        if self._closed:
            raise ValueError(f"event object {self.path} is closed")
        if self._head is None:
            self._head = bytes(data)
            return
        if len(self._pending) >= self._max_buffer:
            self._upload()
        self._pending += data

    def flush(self) -> None:
        """Upload what was written since the last upload as one new object.

        The first flush uploads even a header-only object, so the run exists for
        TensorBoard (the projector lists only runs with an event file) and a
        ``purge_step`` takes effect.

        Raises:
            UploadError: the upload failed; the bytes stay buffered for the next flush.
        """
        if self._pending or (not self.paths and self._head is not None):
            self._upload()

    keeps_unsent = True  # a failed close keeps its bytes: the stream keeps the file to retry (Stream.close_file)

    def close(self) -> None:
        """Upload what is left, then refuse further writes. Idempotent.

        Raises:
            UploadError: the final upload failed (the bytes are kept: a later
                ``flush`` or ``close`` may retry).
        """
        if self._closed:
            return
        self.flush()
        self._closed = True

    def _upload(self) -> None:
        head = self._head or b""
        name = self._name or event_file_name(self._suffix)
        self._name = name
        url = posixpath.join(self._url, name)
        data = head + self._pending
        try:
            self._fs.pipe_file(posixpath.join(self._dir, name), bytes(data))
        except Exception as exc:  # network, auth, backend errors alike
            raise UploadError(f"uploading event object {url} ({len(data)} bytes) failed: {exc}") from exc
        self.uploaded_bytes += len(data)
        self.paths.append(url)
        self.path = url
        self._pending = bytearray()
        self._name = None
        self._head = _first_record(head)  # later objects: file_version only, no purge events


def event_file_factory(
    directory: str | os.PathLike[str],
    suffix: str = "",
    storage_options: Mapping[str, Any] | None = None,
    root: str | os.PathLike[str] | None = None,
    shared: str | None = None,
) -> Callable[[], Any]:
    """Return a zero-argument factory of event files for run directory ``directory``.

    A local path or ``file://`` URL gives :class:`~anyboard.io.event_file.LocalFile`
    (fsspec is not imported); any other URL gives :class:`RemoteFile`.

    Args:
        directory: local run directory or URL.
        suffix: appended to every event-file name.
        storage_options: fsspec options for a URL.
        root: the log directory, when ``directory`` is a sub-run below it:
            locally, a symlink below ``root`` leading outside it is refused
            (see :class:`~anyboard.io.event_file.LocalFile`). Ignored for URLs
            (object stores have no symlinks).
        shared: locally, one file of that name that several processes append
            to (see :class:`~anyboard.io.event_file.LocalFile`); ignored for URLs
            (an object is written whole by one process).
    """
    local = _local(directory)
    if local is not None:
        local_root = None if root is None else _local(root)
        return functools.partial(LocalFile, local, suffix, local_root, shared)
    options = _check_options(storage_options)
    return functools.partial(RemoteFile, os.fspath(directory), suffix, options)
