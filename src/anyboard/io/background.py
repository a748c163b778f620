"""One background thread per writer, serving any number of event files.

The caller's side of a logging call is an append to a ``deque`` plus two
counter updates: no lock, no protobuf, no I/O. Each queued item is either a
serialized ``Event`` (``bytes``) or a tuple ``(encode, args)``; the thread
calls ``encode(*args)`` to get the serialized ``Event``, frames every pending
payload of a file and writes the batch with one system call.

Contracts:

- ``max_queue`` pending events wake the thread to write them to the file (the
  peers' meaning of ``max_queue``); the caller never waits for that.
- Memory is bounded by ``max_pending_bytes`` (an estimate of the bytes the
  queued items hold). When it is exceeded, ``on_full="block"`` makes the
  caller wait until the thread catches up; ``on_full="drop"`` drops the new
  item, counts it in :attr:`BackgroundWriter.dropped` and warns once.
- Every ``flush_secs`` the files are flushed, but only when something was
  written since the last flush.
- :meth:`BackgroundWriter.flush` returns once everything queued before it is
  in the files.
- An exception in the thread (disk full, file deleted, permission lost) is
  raised on the caller's next logging call or flush, as
  :class:`~anyboard.errors.WriteError` chained to the original. The failed
  batch is kept and retried on the next write, so what a retry can save is
  not lost. The caller never blocks on a failing thread.
- :meth:`BackgroundWriter.close` is idempotent.
- After ``os.fork()`` the child starts with empty queues and, on its first
  logging call, a new thread and new files (the parent's queued events stay
  the parent's: nothing is written twice, no inherited lock is awaited).
"""

from __future__ import annotations

import os
import threading
import time
import warnings
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from anyboard.errors import WriteError, WriterClosedError
from anyboard.io.records import frame_many

Item = Any  # bytes | tuple[Callable[..., bytes], tuple]
FileFactory = Callable[[], Any]

_ALL: weakref.WeakSet[BackgroundWriter] = weakref.WeakSet()


class Stream:
    """The queue of one event file. ``put`` is the caller's hot path."""

    __slots__ = ("_factory", "_file", "_header", "_retry", "_writer", "append", "queue", "__weakref__")

    def __init__(self, writer: BackgroundWriter, factory: FileFactory, header: list[bytes]) -> None:
        self._writer = writer
        self._factory = factory
        self._header = header
        self._file: Any = None
        self._retry: bytes = b""
        self.queue: deque[Item] = deque()
        self.append = self.queue.append

    @property
    def path(self) -> str | None:
        """Path of the current file (``None`` until it is opened)."""
        return None if self._file is None else self._file.path

    def open(self) -> None:
        """Create the file now (on the caller, so a bad directory fails at once)."""
        if self._file is None:
            self._file = self._factory()
            self._file.write(frame_many(self._header))

    def put(self, item: Item, nbytes: int = 128) -> None:
        """Queue one event; ``nbytes`` estimates the memory it holds."""
        w = self._writer
        if w._slow:
            w._slow_path()
        self.append(item)
        w._in_bytes += nbytes
        w._in_events += 1
        if w._in_events - w._out_events >= w._max_queue:
            w._kick(nbytes)

    # -- background side -------------------------------------------------
    def _drain(self) -> int:
        """Encode, frame and write everything queued; return how many events."""
        queue = self.queue
        popleft = queue.popleft
        payloads: list[bytes] = []
        add = payloads.append
        n = 0
        error: BaseException | None = None
        while True:
            try:
                item = popleft()
            except IndexError:
                break
            n += 1
            if type(item) is bytes:
                add(item)
                continue
            try:
                add(item[0](*item[1]))
            except Exception as exc:  # an encoder failed: report it, keep the rest
                error = error or exc
        if payloads or self._retry:
            if self._file is None:
                self.open()
            data = self._retry + frame_many(payloads) if self._retry else frame_many(payloads)
            self._retry = data  # kept until the write succeeds
            self._file.write(data)
            self._retry = b""
        if error is not None:
            raise error
        return n

    def _flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _forget_after_fork(self) -> None:
        self.queue.clear()
        self._retry = b""
        self._file = None  # the parent's file; the child opens its own


class BackgroundWriter:
    """The shared thread and bookkeeping for one writer's event files."""

    def __init__(
        self,
        *,
        max_queue: int = 10,
        flush_secs: float = 120,
        max_pending_bytes: int = 256 << 20,
        on_full: str = "block",
    ) -> None:
        if on_full not in ("block", "drop"):
            raise ValueError(f"on_full must be 'block' or 'drop', got {on_full!r}")
        if not (isinstance(max_queue, int) and max_queue >= 1):
            raise ValueError(f"max_queue must be a positive int, got {max_queue!r}")
        if not flush_secs > 0:
            raise ValueError(f"flush_secs must be > 0, got {flush_secs!r}")
        self._max_queue = max_queue
        self._flush_secs = float(flush_secs)
        self._max_bytes = int(max_pending_bytes)
        self._on_full = on_full
        self.dropped = 0
        self._warned_drop = False
        self._streams: list[Stream] = []
        self._in_bytes = 0
        self._out_bytes = 0
        self._in_events = 0
        self._out_events = 0
        self._slow = False  # any of: closed, error pending, forked, thread not started
        self._closed = False
        self._error: BaseException | None = None
        self._pid = os.getpid()
        self._init_sync()
        _ALL.add(self)

    def _init_sync(self) -> None:
        self._wake = threading.Event()
        self._progress = threading.Condition(threading.Lock())
        self._flush_requests: deque[threading.Event] = deque()
        self._stop = False
        self._dirty = False
        self._thread: threading.Thread | None = None
        self._slow = True  # start the thread on first use

    # -- streams -----------------------------------------------------------
    def stream(self, factory: FileFactory, header: list[bytes]) -> Stream:
        """Register a new event file; ``header`` events open every file it creates."""
        if self._closed:
            raise WriterClosedError("this writer is closed; create a new SummaryWriter to log again")
        s = Stream(self, factory, header)
        self._streams.append(s)
        return s

    # -- caller side -------------------------------------------------------
    def _slow_path(self) -> None:
        if self._closed:
            raise WriterClosedError("this writer is closed; create a new SummaryWriter to log again")
        if self._pid != os.getpid():
            self._after_fork()
        if self._error is not None:
            self._raise_error()
        if self._thread is None or not self._thread.is_alive():
            self._start()
        self._slow = False

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="anyboard-writer", daemon=True)
        self._thread.start()

    def _raise_error(self) -> None:
        error, self._error = self._error, None
        self._slow = self._closed
        if isinstance(error, ValueError | TypeError):
            raise error
        raise WriteError(f"writing events failed: {error}") from error

    def _kick(self, nbytes: int) -> None:
        if not self._wake.is_set():
            self._wake.set()
        if self._in_bytes - self._out_bytes > self._max_bytes:
            self._full(nbytes)

    def _full(self, nbytes: int) -> None:
        if self._on_full == "drop":
            # Take back the item just appended, on whichever stream holds it last.
            for s in self._streams:
                if s.queue:
                    try:
                        s.queue.pop()
                    except IndexError:
                        continue
                    self._in_bytes -= nbytes
                    self._in_events -= 1
                    break
            self.dropped += 1
            if not self._warned_drop:
                self._warned_drop = True
                warnings.warn(
                    "anyboard: pending events exceed max_pending_bytes; dropping new events "
                    "(see SummaryWriter.dropped)",
                    RuntimeWarning,
                    stacklevel=4,
                )
            return
        with self._progress:
            while self._in_bytes - self._out_bytes > self._max_bytes:
                if self._error is not None:
                    self._raise_error()
                if self._thread is None or not self._thread.is_alive():
                    break
                self._wake.set()
                self._progress.wait(0.1)

    def flush(self, timeout: float | None = None) -> None:
        """Return once every event queued before this call is in its file."""
        if self._slow:
            self._slow_path()
        done = threading.Event()
        self._flush_requests.append(done)
        self._wake.set()
        deadline = None if timeout is None else time.monotonic() + timeout
        while not done.wait(0.05):
            if self._thread is None or not self._thread.is_alive():
                break
            if deadline is not None and time.monotonic() > deadline:
                raise WriteError(f"flush did not finish within {timeout} s")
        if self._error is not None:
            self._raise_error()

    def close(self, timeout: float | None = None) -> None:
        """Write everything queued, close the files and stop the thread. Idempotent."""
        if self._closed:
            return
        if self._pid != os.getpid():
            self._after_fork()
        error = None
        try:
            if self._thread is not None and self._thread.is_alive() or any(s.queue for s in self._streams):
                if self._thread is None or not self._thread.is_alive():
                    self._start()
                self.flush(timeout)
        except (WriteError, ValueError, TypeError) as exc:
            error = exc
        finally:
            self._closed = True
            self._slow = True
            self._stop = True
            self._wake.set()
            thread = self._thread
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout)
            for s in self._streams:
                try:
                    s._close_file()
                except OSError:
                    pass
            _ALL.discard(self)
        if error is not None:
            raise error

    @property
    def closed(self) -> bool:
        return self._closed

    # -- fork --------------------------------------------------------------
    def _after_fork(self) -> None:
        self._pid = os.getpid()
        self._init_sync()
        for s in self._streams:
            s._forget_after_fork()
        self._in_bytes = self._out_bytes = 0
        self._in_events = self._out_events = 0
        self._error = None

    # -- background side ---------------------------------------------------
    def _run(self) -> None:
        next_flush = time.monotonic() + self._flush_secs
        while True:
            self._wake.wait(max(0.0, next_flush - time.monotonic()))
            self._wake.clear()
            requests = []
            while self._flush_requests:
                requests.append(self._flush_requests.popleft())
            stop = self._stop
            self._drain_all()
            now = time.monotonic()
            if requests or stop or now >= next_flush:
                if self._dirty or requests:
                    self._flush_all()
                next_flush = now + self._flush_secs
            for done in requests:
                done.set()
            if stop and not any(s.queue for s in self._streams):
                return

    def _drain_all(self) -> None:
        # Everything counted before this snapshot is popped below (queues are
        # FIFO), so afterwards only later items, and failed batches kept for a
        # retry, still hold memory.
        in_bytes, in_events = self._in_bytes, self._in_events
        for s in list(self._streams):
            try:
                if s._drain():
                    self._dirty = True
            except BaseException as exc:  # noqa: BLE001 - reported on the caller
                self._record(exc)
        self._out_bytes = in_bytes - sum(len(s._retry) for s in self._streams)
        self._out_events = in_events
        with self._progress:
            self._progress.notify_all()

    def _flush_all(self) -> None:
        for s in self._streams:
            try:
                s._flush()
            except BaseException as exc:  # noqa: BLE001 - reported on the caller
                self._record(exc)
        self._dirty = False

    def _record(self, exc: BaseException) -> None:
        if self._error is None:
            self._error = exc
        self._slow = True


def close_all() -> None:
    """Close every open writer of this process (used at interpreter exit)."""
    for w in list(_ALL):
        try:
            w.close(timeout=60)
        except Exception:  # noqa: BLE001 - exiting: nothing left to report to
            pass
