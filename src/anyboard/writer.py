"""``SummaryWriter``: the API users know from tensorboardX, torch and MXBoard.

Every ``add_*`` method does the same three things on the caller's thread:
check the arguments (a bad tag, shape or type raises ``ValueError`` or
``TypeError`` at once, naming the tag), take an immutable snapshot of the
data (a float, a copied array), and queue ``(encoder, args)``. Encoding to
protobuf, PNG/WAV/GIF, framing and I/O happen on the writer's one background
thread (:mod:`anyboard.io.background`).

Method groups beyond the core (images, audio, hparams, ...) live in the
``anyboard._methods`` modules; :class:`SummaryWriter` lists them as its bases, so
type checkers and IDEs see every method with its signature.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import logging
import math
import os
import re
import socket
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import numpy as np

from anyboard._layout import checked_layout, keeps_spelling
from anyboard._methods.core import CoreMethods
from anyboard._methods.embedding import Methods as EmbeddingMethods
from anyboard._methods.export import Methods as ExportMethods
from anyboard._methods.graph import Methods as GraphMethods
from anyboard._methods.hparams import Methods as HparamsMethods
from anyboard._methods.images import Methods as ImageMethods
from anyboard._methods.media import Methods as MediaMethods
from anyboard._paths import safe_component, safe_relative
from anyboard.adapters import to_numpy
from anyboard.io import remote
from anyboard.io.background import BackgroundWriter
from anyboard.io.event_file import check_suffix
from anyboard.io.events import event_bytes, header_events
from anyboard.io.stream import Stream, parallel_encoder
from anyboard.proto.event_pb2 import Event
from anyboard.proto.summary_pb2 import Summary

log = logging.getLogger(__name__)

MAX_WALLTIME = 1e11
"""Wall times are seconds since the epoch in ``[0, MAX_WALLTIME)`` (1e11 s is the year 5138)."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Set by anyboard.GlobalSummaryWriter around the construction of its writers: the event-file name
# that every process appends to in each run directory (see anyboard.io.event_file.LocalFile).
SHARED_FILE: contextvars.ContextVar[str | None] = contextvars.ContextVar("anyboard_shared_file", default=None)

SUMMARY_FORMATS = frozenset({"compat", "tensor"})
"""``SummaryWriter(summary_format=...)``: ``"compat"`` (default) writes each summary in the form the peers
write (histograms as ``HistogramProto``, images and audio in ``Summary.Value.image``/``.audio``), so every
reader of their files reads anyboard's the same way; ``"tensor"`` writes TensorBoard's v2 tensor encodings."""


def _summary_event(wall: float, step: int, builder: Callable[..., Summary | bytes], args: tuple[Any, ...]) -> bytes:
    """Background-side encoder: build a ``Summary`` and wrap it in an ``Event``."""
    summary = builder(*args)
    return event_bytes(wall, step, summary if isinstance(summary, bytes) else summary.SerializeToString())


@parallel_encoder
def _independent_summary_event(
    wall: float, step: int, builder: Callable[..., Summary | bytes], args: tuple[Any, ...]
) -> bytes:
    """:func:`_summary_event` for a builder that is a pure function of ``args`` (images, video):
    while a caller waits, a run of these is encoded on several threads at once."""
    return _summary_event(wall, step, builder, args)


def _close_quietly(core: BackgroundWriter) -> None:
    """The finalizer of a writer: at garbage collection close it; at interpreter exit shut it down.

    At exit (the main thread has finished) threads still logging must not keep the process
    alive: what was queued is written, later calls are dropped (see ``shutdown_at_exit``).
    """
    if not threading.main_thread().is_alive():
        core.shutdown_at_exit()
        return
    try:
        core.close(timeout=60)
    except Exception as exc:  # noqa: BLE001 - at exit or GC there is no caller to raise to
        log.warning("anyboard: closing a writer left open failed: %s", exc)


_WRITERS: weakref.WeakSet[_WriterBase] = weakref.WeakSet()


def _new_locks_in_forked_child() -> None:
    # Another thread of the parent may have held a writer's lock at the fork: the child gets new ones.
    for w in list(_WRITERS):
        w._runs_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_locks_in_forked_child)


class _WriterBase:
    """State and the emit API shared by all method groups."""

    default_file_layout = "torch"
    """The ``file_layout`` used when none is given (``anyboard.tensorboardX.SummaryWriter``: ``"tensorboardX"``)."""

    def __init__(
        self,
        logdir: str | os.PathLike[str] | None = None,
        comment: str = "",
        purge_step: int | None = None,
        max_queue: int = 10,
        flush_secs: float = 120,
        filename_suffix: str | None = "",
        write_to_disk: bool = True,
        log_dir: str | os.PathLike[str] | None = None,
        *,
        max_pending_bytes: int = 256 << 20,
        on_full: str = "block",
        storage_options: dict[str, Any] | None = None,
        summary_format: str = "compat",
        file_layout: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Open a writer on ``logdir`` (created if missing); every argument is described on :class:`SummaryWriter`.

        Raises:
            ValueError / TypeError: an argument of the wrong value or type, naming it.
            OSError: the log directory cannot be created or written.
        """
        if summary_format not in SUMMARY_FORMATS:
            raise ValueError(f"summary_format must be one of {sorted(SUMMARY_FORMATS)}, got {summary_format!r}")
        self._summary_format = summary_format
        self._file_layout = checked_layout(self.default_file_layout if file_layout is None else file_layout)
        self._defaults: tuple[int | None, float | None] | None = None  # use_metadata's (step, walltime)
        unknown = set(kwargs) - {"verbose", "comet_config"}
        if unknown:
            raise TypeError(f"SummaryWriter got unexpected keyword arguments: {sorted(unknown)}")
        if logdir is not None and log_dir is not None and os.fspath(logdir) != os.fspath(log_dir):
            raise ValueError(f"got both logdir={logdir!r} and log_dir={log_dir!r}; pass one")
        if not isinstance(comment, str):
            raise TypeError(f"comment must be a str, got {type(comment).__name__}")
        logdir = logdir if logdir is not None else log_dir
        if logdir is None:
            stamp = datetime.now().strftime("%b%d_%H-%M-%S")
            name = safe_component(
                f"{stamp}_{socket.gethostname()}{comment}", what="comment (in the default log directory name)"
            )
            logdir = os.path.join("runs", name)
        self._logdir = os.fspath(logdir)
        self._local_logdir = remote._local(self._logdir)  # a plain path or file:// URL's path, else None
        self._url_names = self._local_logdir is None  # names below a URL escape '::', '?', '#' (anyboard._paths)
        suffix = safe_component(filename_suffix or "", allow_empty=True, url=self._url_names, what="filename_suffix")
        check_suffix(suffix, filename_suffix)
        if storage_options is not None and not isinstance(storage_options, dict):
            raise TypeError(f"storage_options must be a dict of fsspec options, got {type(storage_options).__name__}")
        self._storage_options = storage_options
        if purge_step is not None:
            purge_step = self._step("purge_step", purge_step)
        self._purge_step = purge_step
        self._suffix = suffix
        self._shared_file = SHARED_FILE.get()
        self._write_to_disk = bool(write_to_disk)
        self._core_options: dict[str, Any] = {
            "max_queue": max_queue,
            "flush_secs": flush_secs,
            "max_pending_bytes": max_pending_bytes,
            "on_full": on_full,
        }
        self._streams_ever: list[tuple[str, Stream]] = []  # across reopen(), for written_files()
        self._tags_ok: set[str] = set()
        # add_scalar's fast path: the tags known good, or an empty set while
        # use_metadata defaults apply (so that those calls take the full path).
        self._fast_tags: set[str] | frozenset[str] = self._tags_ok
        # State of the other method groups. Nothing reads or writes self.__dict__:
        # once materialized, every attribute load on the hot paths is ~25 % slower.
        self._extras: dict[str, Any] = {}
        self._open()

    def _open(self) -> None:
        """Start the background writer and open the main run's stream."""
        self._core = BackgroundWriter(**self._core_options)
        self._runs: dict[str, Stream] = {}
        self._runs_lock = threading.Lock()  # opening a sub-run's stream (replaced in a forked child)
        _WRITERS.add(self)
        self._main = self._run_stream("")
        self._core.start()
        self._main_put = self._main.put  # add_scalar's fast path: one attribute load, one call
        self._scalars_streams: dict[tuple[str, str], Stream] = {}  # add_scalars: (main_tag, key) -> sub-run
        self._finalizer = weakref.finalize(self, _close_quietly, self._core)

    # -- runs and streams --------------------------------------------------
    def _run_stream(self, run: str) -> Stream:
        """The stream of sub-run ``run`` ('' for the main run), opened on first use.

        ``run`` must already be a safe relative path (components made by
        :func:`~anyboard._paths.safe_component`).
        """
        stream = self._runs.get(run)
        if stream is not None:
            return stream
        with self._runs_lock:  # threads making a sub-run's first call at once share one stream
            return self._open_run_stream(run)

    def _open_run_stream(self, run: str) -> Stream:
        stream = self._runs.get(run)
        if stream is None:
            directory = remote.join(self._logdir, run) if run else self._logdir
            if self._write_to_disk:
                factory = remote.event_file_factory(
                    directory, self._suffix, self._storage_options, root=self._logdir, shared=self._shared_file
                )
            else:
                factory = _NullFile
            # After a close() the writer reopens with new files: those must not purge what this
            # writer itself wrote before (the peers apply purge_step once, too).
            stream = self._core.stream(factory, header_events(purge_step=self._purge_step), header_events())
            stream.open()
            self._runs[run] = stream
            self._streams_ever.append((run, stream))
        return stream

    # -- argument checks (shared by every method group) --------------------
    def _tag(self, tag: Any) -> str:
        """``tag`` checked: a str that encodes as UTF-8 (a ``TypeError``/``ValueError`` naming it otherwise)."""
        if type(tag) is str and tag in self._tags_ok:
            return tag
        if not isinstance(tag, str):
            raise TypeError(f"tag must be a str, got {type(tag).__name__}: {tag!r}")
        if not tag:
            raise ValueError("tag must be a non-empty str, got ''")
        if not tag.isprintable() and _CONTROL.search(tag):
            raise ValueError(
                f"tag {tag!r} contains a control character (NUL, newline, ...): TensorBoard cannot show it"
            )
        try:
            tag.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"tag {tag!r} is not valid Unicode text (it cannot be encoded as UTF-8)") from None
        # Tags that tensorboardX's spelling changes stay out of the set: add_scalar's fast path
        # (which writes the tag as given) takes only tags in it.
        if len(self._tags_ok) < 100_000 and keeps_spelling(self._file_layout, tag):
            self._tags_ok.add(tag)
        return tag

    def _step(self, tag: str, step: Any) -> int:
        """``step`` as an int64 step; ``None`` is the :meth:`use_metadata` default, else 0."""
        if step is None:
            defaults = self._defaults
            return defaults[0] if defaults is not None and defaults[0] is not None else 0
        if type(step) is int:
            if -(1 << 63) <= step < (1 << 63):
                return step
            raise ValueError(f"tag {tag!r}: global_step {step} does not fit in int64")
        if isinstance(step, bool):
            raise TypeError(f"tag {tag!r}: global_step must be an int, got bool")
        try:
            value = to_numpy(step, tag=tag)
        except (TypeError, ValueError):
            raise TypeError(f"tag {tag!r}: global_step must be an int, got {type(step).__name__}") from None
        if value.size != 1 or value.dtype.kind not in "iuf":
            raise TypeError(f"tag {tag!r}: global_step must be an int, got {type(step).__name__} {value!r}")
        number = value.reshape(()).item()
        if isinstance(number, float):
            if not number.is_integer():
                raise TypeError(f"tag {tag!r}: global_step must be an int, got non-integral {number!r}")
            number = int(number)
        if not -(1 << 63) <= number < (1 << 63):
            raise ValueError(f"tag {tag!r}: global_step {number} does not fit in int64")
        return int(number)

    def _walltime(self, tag: str, walltime: Any) -> float:
        """``walltime`` as finite seconds; ``None`` is the :meth:`use_metadata` default, else now."""
        if walltime is None:
            defaults = self._defaults
            return defaults[1] if defaults is not None and defaults[1] is not None else time.time()
        try:
            wall = float(walltime)
        except OverflowError:
            shown = f"{str(walltime)[:12]}... ({len(str(walltime))} digits)"
            raise ValueError(f"tag {tag!r}: walltime {shown} is too large for seconds since the epoch") from None
        except (TypeError, ValueError):
            raise TypeError(
                f"tag {tag!r}: walltime must be a number of seconds, got {type(walltime).__name__}"
            ) from None
        if not math.isfinite(wall):
            raise ValueError(f"tag {tag!r}: walltime must be finite, got {wall}")
        if not 0.0 <= wall < MAX_WALLTIME:
            raise ValueError(
                f"tag {tag!r}: walltime must be seconds since the epoch in [0, {MAX_WALLTIME:.0e}), got {wall}"
            )
        return wall

    def _array(self, tag: str, x: Any, *, copy: bool = True) -> np.ndarray:
        """``x`` as a NumPy array the caller can no longer change (a copy by default)."""
        # "V": ml_dtypes (bfloat16...); subclasses (masked arrays, np.matrix): the adapters handle them
        if type(x) is np.ndarray and x.dtype.kind != "V":
            return x.copy() if copy else x
        out = to_numpy(x, tag=tag)
        # A converter may return a view of the framework's buffer (torch CPU tensors do):
        # copy, so later in-place changes by the training loop cannot reach the queued data.
        return np.array(out, copy=True) if copy else np.asarray(out)

    # -- emitting ------------------------------------------------------------
    def _emit(
        self,
        tag: str,
        builder: Callable[..., Summary | bytes],
        args: tuple[Any, ...],
        global_step: Any = None,
        walltime: Any = None,
        *,
        nbytes: int = 256,
        run: str = "",
        independent: bool = False,
    ) -> None:
        """Queue ``builder(*args)`` (run on the background thread) as one event.

        ``builder`` returns a ``Summary`` (or its serialized bytes); ``nbytes``
        estimates the memory ``args`` hold; ``run`` is a safe sub-run path.
        ``independent``: ``builder`` is a pure, thread-safe function of ``args``
        (it may then run beside other such builders while a caller waits).
        """
        step = self._step(tag, global_step)
        wall = self._walltime(tag, walltime)
        stream = self._main if not run else self._run_stream(run)
        encode = _independent_summary_event if independent else _summary_event
        stream.put((encode, (wall, step, builder, args)), nbytes)

    def _emit_event(self, event: Event | bytes, *, run: str = "", nbytes: int = 256) -> None:
        """Queue a ready ``Event`` (wall time and step already set)."""
        data = event if isinstance(event, bytes) else event.SerializeToString()
        stream = self._main if not run else self._run_stream(run)
        stream.put(data, nbytes + len(data))

    @contextlib.contextmanager
    def use_metadata(self, *, global_step: Any = None, walltime: Any = None) -> Iterator[Any]:
        """Within the ``with`` block, calls without ``global_step``/``walltime`` use these.

        tensorboardX's context manager. A ``walltime`` left ``None`` still means
        "now" for each call (tensorboardX writes 0.0 then), and explicit
        arguments to a call win. Blocks nest; the writer's defaults are shared
        by all threads using it.
        """
        step = None if global_step is None else self._step("use_metadata", global_step)
        wall = None if walltime is None else self._walltime("use_metadata", walltime)
        previous = self._defaults
        self._defaults = (step, wall)
        self._fast_tags = frozenset()
        try:
            yield self
        finally:
            self._defaults = previous
            self._fast_tags = self._tags_ok if previous is None else frozenset()

    # -- lifecycle -------------------------------------------------------------
    def get_logdir(self) -> str:
        """Return the directory this writer writes its main run to."""
        return self._logdir

    @property
    def logdir(self) -> str:
        return self._logdir

    @property
    def dropped(self) -> int:
        """How many events ``on_full="drop"`` has dropped so far."""
        return self._core.dropped

    @property
    def closed(self) -> bool:
        return self._core.closed

    def event_file_paths(self) -> dict[str, str | None]:
        """Current event file of each run this writer owns ('' is the main run)."""
        return {run: s.path for run, s in self._runs.items()}

    def written_files(self) -> dict[str, list[str]]:
        """Every event file each run of this writer has written, oldest first.

        Includes files closed by :meth:`close`, left by :meth:`reopen` or
        replaced after a deleted one, and every object of a remote run.
        """
        out: dict[str, list[str]] = {}
        for run, stream in self._streams_ever:
            out.setdefault(run, []).extend(stream.paths())
        return {run: paths for run, paths in out.items() if paths}

    def flush(self) -> None:
        """Return once everything logged so far (by any thread) is in the event files.

        A barrier: other threads may keep logging meanwhile. On a closed writer it does
        nothing, as with the peers (frameworks call it after ``close()``).

        Raises:
            WriteError: writing failed in the background.
        """
        self._core.flush()

    def close(self) -> None:
        """Write everything pending and close all files. Calling it again does nothing.

        Safe from several threads at once. A later ``add_*`` call reopens the writer
        (new event files in the same directories), as the peers' writers do.
        """
        self._core.close()

    def reopen(self) -> None:
        """Log again after :meth:`close` (MXBoard's method): new event files, same directories.

        Does nothing on an open writer; any ``add_*`` after ``close()`` reopens too. Sub-runs
        get their new files when next used.
        """
        self._core.reopen(open_now=self._main)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickling (``multiprocessing`` with 'spawn', ``concurrent.futures``) opens the same log directory.

        The process that unpickles gets its own writer (own thread, own event files) on the
        same ``logdir`` with the same options; a ``purge_step`` is not applied again there.
        """
        return (
            _writer_in_another_process,
            (
                type(self),
                self._logdir,
                self._suffix,
                self._write_to_disk,
                self._storage_options,
                self._summary_format,
                self._core_options,
                self._file_layout,
            ),
        )

    def __enter__(self) -> SummaryWriter:
        return self  # type: ignore[return-value]

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<SummaryWriter logdir={self._logdir!r} {state}>"


def _writer_in_another_process(cls: type[SummaryWriter], logdir: str, *state: Any) -> SummaryWriter:
    """Unpickle a writer: a new one on the same log directory (see ``SummaryWriter.__reduce__``;
    ``state`` as :func:`unpickled_options` takes it)."""
    return cls(logdir, **unpickled_options(*state))


def unpickled_options(
    suffix: str,
    write_to_disk: bool,
    storage_options: dict[str, Any] | None,
    summary_format: str,
    options: dict[str, Any],
    file_layout: str | None = None,
) -> dict[str, Any]:
    """The constructor keywords of a writer rebuilt from ``SummaryWriter.__reduce__``'s state."""
    return {
        "filename_suffix": suffix,
        "write_to_disk": write_to_disk,
        "storage_options": storage_options,
        "summary_format": summary_format,
        "file_layout": file_layout,
        **options,
    }


class _NullFile:
    """Target for ``write_to_disk=False``: accepts and discards everything."""

    path = None
    discards = True  # the background thread skips encoding for it

    def write(self, data: bytes) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class FileWriter:
    """The lower-level writer of one run, for users who build protos themselves."""

    def __init__(self, writer: _WriterBase, run: str = "") -> None:
        """``run``: a sub-run of ``writer``'s log directory (``a/b``: levels split at ``/`` or ``\\``,
        each made safe as :func:`~anyboard._paths.safe_relative` makes it); ``""``: its own run."""
        self._writer = writer
        self._run = safe_relative(run, url=writer._url_names, what="FileWriter run")

    @classmethod
    def _of(cls, writer: _WriterBase, run: str) -> FileWriter:
        """The FileWriter of one of ``writer``'s own runs (a safe relative path already)."""
        self = cls.__new__(cls)
        self._writer = writer
        self._run = run
        return self

    def get_logdir(self) -> str:
        return remote.join(self._writer.get_logdir(), self._run) if self._run else self._writer.get_logdir()

    def add_event(self, event: Event, step: int | None = None, walltime: float | None = None) -> None:
        """Write ``event``; ``step``/``walltime`` override its fields when given."""
        if not isinstance(event, Event):
            raise TypeError(f"add_event expects an anyboard.proto.event_pb2.Event, got {type(event).__name__}")
        if walltime is None and not math.isfinite(event.wall_time):
            # A NaN wall time makes TensorBoard's Rust loader drop the rest of the file.
            raise ValueError(f"add_event: event.wall_time must be finite, got {event.wall_time}")
        if step is not None or walltime is not None or not event.wall_time:
            event = Event.FromString(event.SerializeToString())
            if step is not None:
                event.step = self._writer._step("event", step)
            if walltime is not None or not event.wall_time:
                event.wall_time = self._writer._walltime("event", walltime)
        self._writer._emit_event(event, run=self._run)

    def add_summary(
        self, summary: Summary | bytes, global_step: int | None = None, walltime: float | None = None
    ) -> None:
        """Write a ready ``Summary`` proto (or its serialized bytes) as one event."""
        if isinstance(summary, Summary):
            data = summary.SerializeToString()
        elif isinstance(summary, bytes):
            data = summary
        else:
            # Another library's Summary class (same wire format) is accepted too.
            serialize = getattr(summary, "SerializeToString", None)
            if serialize is None:
                raise TypeError(f"add_summary expects a Summary proto, got {type(summary).__name__}")
            data = serialize()
        step = self._writer._step("summary", global_step)
        wall = self._writer._walltime("summary", walltime)
        self._writer._emit_event(event_bytes(wall, step, data), run=self._run)

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


class SummaryWriter(
    EmbeddingMethods, ExportMethods, GraphMethods, HparamsMethods, ImageMethods, MediaMethods, CoreMethods, _WriterBase
):
    """Write TensorBoard event files from any framework.

    Args:
        logdir: directory of the main run (``log_dir`` is accepted too). Default
            ``runs/<MonDD_HH-MM-SS>_<host><comment>``.
        comment: appended to the default ``logdir`` name (ignored when a
            ``logdir`` is given, as in the peers).
        purge_step: drop values at steps ``>= purge_step`` written by an earlier
            run in the same directory (works in both TensorBoard loaders, for
            every sub-run this writer owns).
        max_queue: pending events that wake the background thread to write
            them; the caller never waits for the disk because of it.
        flush_secs: flush the files this often (only when something is new).
        filename_suffix: appended to every event-file name.
        write_to_disk: ``False`` accepts every call and writes nothing.
        max_pending_bytes: memory bound for queued data (default 256 MiB).
        on_full: ``"block"`` (wait for the disk) or ``"drop"`` (count in
            :attr:`dropped`, warn once) when ``max_pending_bytes`` is reached.
        storage_options: fsspec options for a URL ``logdir`` (``s3://``,
            ``gs://``, ``memory://``, ...); a plain path never imports fsspec.
        summary_format: ``"compat"`` (default): histograms, images and audio in
            the peers' (TensorFlow 1.x) fields, read the same way by every reader
            of tensorboardX/torch files; ``"tensor"``: TensorBoard's v2 tensor
            encodings (see :data:`SUMMARY_FORMATS`).
        file_layout: whose run directories and tag spellings to reproduce, for
            scripts that read the files back by name: ``"torch"`` (default)
            or ``"tensorboardX"`` (``add_scalars`` sub-runs ``<main_tag>/<key>``
            instead of ``<main_tag>_<key>``, mesh tags ``<tag>_1/_2/_3`` instead
            of ``_VERTEX/_FACE/_COLOR``, graph run metadata tag ``profiler``
            instead of ``step1``, ``export_scalars_to_json`` keys; see
            :mod:`anyboard._layout`). ``None``: the class's
            :attr:`default_file_layout` (``"tensorboardX"`` for
            ``anyboard.tensorboardX.SummaryWriter``, which ``anyboard.patch()``
            puts in place of tensorboardX's).

    A writer is a context manager; :meth:`close` is idempotent; as with the peers,
    :meth:`flush` after it does nothing and any ``add_*`` after it reopens the
    writer (new event files). Any number of threads may share one writer. Writers
    still open at interpreter exit or garbage collection are flushed and closed.
    """

    # torch.utils.tensorboard.SummaryWriter's public attributes, read-only here
    # (``os.path.join(writer.log_dir, "model.pt")``, ``tensorboard_trace_handler(writer.log_dir)``).
    @property
    def log_dir(self) -> str:
        """The main run's directory (torch's attribute; ``logdir`` and :meth:`get_logdir` too)."""
        return self._logdir

    @property
    def purge_step(self) -> int | None:
        """The ``purge_step`` given (torch sets its own to ``None`` once its first file is open)."""
        return self._purge_step

    @property
    def max_queue(self) -> int:
        return self._core_options["max_queue"]  # type: ignore[no-any-return]

    @property
    def flush_secs(self) -> float:
        return self._core_options["flush_secs"]  # type: ignore[no-any-return]

    @property
    def filename_suffix(self) -> str:
        return str(self._suffix)

    @property
    def all_writers(self) -> dict[str, FileWriter]:
        """``{run directory: FileWriter}`` of the main run and every ``add_scalars`` sub-run opened so far (torch's)."""
        return {
            remote.join(self._logdir, run) if run else self._logdir: FileWriter._of(self, run) for run in self._runs
        }

    @property
    def file_writer(self) -> FileWriter | None:
        """The main run's :class:`FileWriter` (tensorboardX's attribute); ``None`` once closed, as the peers."""
        if self.closed:
            return None
        return FileWriter(self)

    def _get_file_writer(self) -> FileWriter:
        """torch's accessor for the main run's :class:`FileWriter` (it reopens a closed writer, as torch's does)."""
        if self.closed:
            self.reopen()
        return FileWriter(self)

    def add_event(self, event: Event, step: int | None = None, walltime: float | None = None) -> None:
        """Write a ready ``Event`` proto to the main run."""
        FileWriter(self).add_event(event, step, walltime)

    def add_summary(
        self, summary: Summary | bytes, global_step: int | None = None, walltime: float | None = None
    ) -> None:
        """Write a ready ``Summary`` proto to the main run."""
        FileWriter(self).add_summary(summary, global_step, walltime)


def _show_required_parameters(cls: type) -> None:
    """Make ``help()``/``inspect.signature`` show required parameters as required.

    Parameters that also take another library's spelling (``img_tensor`` or MXBoard's
    ``image=``) default to a private "missing" sentinel so that either spelling can be
    given; their displayed signature drops that default instead of showing
    ``<object object at 0x...>``.
    """
    for name in dir(cls):
        if not name.startswith("add_"):
            continue
        method = getattr(cls, name)
        function = getattr(method, "__wrapped__", method)  # add_scalar's compiled descriptor wraps it
        missing = getattr(sys.modules.get(getattr(function, "__module__", ""), None), "_MISSING", None)
        if missing is None:
            continue
        try:
            signature = inspect.signature(function)
        except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
            continue
        if not any(p.default is missing for p in signature.parameters.values()):
            continue
        shown = []
        optional_seen = False
        for p in signature.parameters.values():
            if p.default is missing:
                required = p.kind is p.POSITIONAL_OR_KEYWORD and not optional_seen
                p = p.replace(default=inspect.Parameter.empty if required else _NOT_GIVEN)
            optional_seen = optional_seen or p.default is not inspect.Parameter.empty
            shown.append(p)
        function.__signature__ = signature.replace(parameters=shown)


class _NotGiven:
    """Shown as the default of a parameter that has another spelling (see ``_show_required_parameters``)."""

    def __repr__(self) -> str:
        return "<not given>"


_NOT_GIVEN = _NotGiven()


_show_required_parameters(SummaryWriter)
