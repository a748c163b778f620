"""One background thread per writer, serving any number of event files.

The caller's side of a logging call is an append to a ``deque`` plus a
counter update and one comparison: no lock, no protobuf, no I/O. Each queued
item is a serialized ``Event`` (``bytes``), a tuple ``(encode, args)`` or a
5-tuple ``(code, a, b, c, d)`` where ``code`` comes from
:func:`encoder_code` (the hottest paths: one tuple fewer, and a tuple of
floats, ints and strs is not tracked by the garbage collector, so a backlog
of millions of scalars costs no collection time). The thread calls
``encode(*args)`` to get the serialized ``Event``, frames the payloads of a
file in batches and writes each batch with one system call.

The thread yields the GIL between batches of at most :data:`~anyboard.io.stream.BATCH_EVENTS`
events (or :data:`~anyboard.io.stream.BATCH_BYTES`), so a training loop that logs faster than the
thread encodes keeps running at its own speed: the backlog is encoded in the
loop's idle time, or at ``flush``/``close``, within the memory bound below.

Contracts:

- ``max_queue`` pending events wake the thread to write them to the file (the
  peers' meaning of ``max_queue``); the caller never waits for that.
- Memory is bounded by ``max_pending_bytes``: an estimate of the bytes the
  queued items hold, :data:`EVENT_BYTES` per event plus the ``nbytes`` its
  ``put`` declared. When it is exceeded, ``on_full="block"`` makes the caller
  wait until the thread catches up; ``on_full="drop"`` drops new items (each
  counted in :attr:`BackgroundWriter.dropped`; one warning) until there is
  room. Small items are checked every ``max_queue`` events (or, while the
  thread has a wake it has not taken yet, every :data:`FAR_GATE` events
  within the room left for that many items of :data:`BIG_ITEM` bytes), so
  the bound may be passed by at most ``max_queue`` small events; an item
  declaring more than :data:`BIG_ITEM` bytes is checked at once.
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
from typing import Any

import numpy as np

from anyboard.errors import WriteError, WriterClosedError
from anyboard.io.stream import (  # noqa: F401 - re-exported: the writer's constants and encoder registry
    BIG_ITEM,
    EVENT_BYTES,
    FAR_GATE,
    POOL_BYTES,
    FileFactory,
    Item,
    Stream,
    encoder_code,
    parallel_encoder,
)

_ALL: weakref.WeakSet[BackgroundWriter] = weakref.WeakSet()


class BackgroundWriter:
    """The shared thread and bookkeeping for one writer's event files."""

    # The queue counters add_scalar's compiled fast path reads and writes at fixed offsets
    # (anyboard._native.FastScalar); everything else lives in __dict__.
    __slots__ = ("__dict__", "__weakref__", "_gate", "_in_events")

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
        # Callers queue without any check while _in_events < _gate; _gate is 0
        # whenever _slow is set, else it is the event count of the next check.
        self._gate = 0
        self._slow = False  # any of: closed, error pending, forked, thread not started
        self._closed = False
        self._error: BaseException | None = None
        self._waiting = 0  # callers blocked on the memory bound
        self._pid = os.getpid()
        # Snapshot buffers of large arrays, free for reuse (see take_buffer).
        self._pool: dict[tuple[int, str], list[Any]] = {}
        self._pool_bytes = 0
        self._pool_cap = min(POOL_BYTES, self._max_bytes // 4)
        self._init_sync()
        _ALL.add(self)

    def _init_sync(self) -> None:
        self._pool_lock = threading.Lock()
        self._wake = threading.Event()
        self._progress = threading.Condition(threading.Lock())
        self._flush_requests: deque[threading.Event] = deque()
        self._stop = False
        self._hurry = False  # the drain in progress was asked for by a waiting caller
        self._wanted: deque[tuple[int, str]] = deque()  # buffers to fault in for the pool (want_buffer)
        self._wanted_bytes = 0
        self._dirty = False
        self._thread: threading.Thread | None = None
        self._set_slow()  # start the thread on first use

    def _set_slow(self) -> None:
        """Send the next logging call through :meth:`_slow_path`."""
        self._slow = True
        self._gate = 0

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
        self._slow = self._closed  # _gate stays 0: the next call re-checks
        if isinstance(error, ValueError | TypeError):
            raise error
        raise WriteError(f"writing events failed: {error}") from error

    def _pending_bytes(self) -> int:
        return (
            self._in_bytes - self._out_bytes + EVENT_BYTES * (self._in_events - self._out_events) + self._pool_bytes
        )

    # -- snapshot buffers ----------------------------------------------------
    def take_buffer(self, nbytes: int, dtype: str) -> Any:
        """A free snapshot buffer of ``nbytes`` bytes of ``dtype`` (a 1-D array), or ``None``.

        A caller copies a large array into it (warm pages: no page faults, ~10x
        faster than a fresh copy) and queues it with an encoder that calls
        :meth:`give_buffer` once it has read it. Free buffers count towards
        ``max_pending_bytes`` and are dropped first when it is reached; they
        hold at most ``min(POOL_BYTES, max_pending_bytes // 4)``.
        """
        with self._pool_lock:
            free = self._pool.get((nbytes, dtype))
            if not free:
                return None
            self._pool_bytes -= nbytes
            return free.pop()

    def want_buffer(self, nbytes: int, dtype: str, count: int = 1) -> None:
        """Ask the writer thread for ``count`` more free buffers like this (after :meth:`take_buffer` found none).

        The thread allocates them and faults their pages in when it has nothing queued
        to write, so that cost (about 0.6 µs per 4 KiB page) is not paid on the caller's
        copy. Requests beyond the pool's cap are ignored.
        """
        with self._pool_lock:
            for _ in range(count):
                if self._closed or self._pool_bytes + self._wanted_bytes + nbytes > self._pool_cap:
                    return
                self._wanted.append((nbytes, dtype))
                self._wanted_bytes += nbytes

    def _fill_pool(self) -> None:
        """Fault in the wanted buffers (writer thread), yielding to queued work."""
        while not self._stop and not self._wake.is_set():
            with self._pool_lock:
                if not self._wanted:
                    return
                nbytes, dtype = self._wanted.popleft()
                self._wanted_bytes -= nbytes
            try:
                buffer = np.empty(nbytes // np.dtype(dtype).itemsize, dtype)
                buffer.fill(0)  # touches every page; NumPy releases the GIL meanwhile
            except MemoryError:  # the pool is only a speed-up: give it up, never fail the writer
                self._drop_pool()
                return
            self.give_buffer(buffer)

    def caller_waiting(self) -> bool:
        """Whether a caller is waiting on this writer (``flush``, ``close``, the memory bound).

        Encoders may then spread their work over more cores: no training loop is running
        on the waiting thread meanwhile. Otherwise they use this thread alone.
        """
        return self._hurry or self._waiting > 0 or bool(self._flush_requests)

    def give_buffer(self, buffer: Any) -> None:
        """Return a snapshot buffer whose encoder has run (background thread)."""
        key = (buffer.nbytes, buffer.dtype.str)
        with self._pool_lock:
            if self._pool_bytes + buffer.nbytes > self._pool_cap or self._closed:
                return
            self._pool.setdefault(key, []).append(buffer)
            self._pool_bytes += buffer.nbytes

    def _drop_pool(self) -> None:
        with self._pool_lock:
            self._pool.clear()
            self._pool_bytes = 0
            self._wanted.clear()
            self._wanted_bytes = 0

    def _put_checked(self, stream: Stream, item: Item, nbytes: int) -> None:
        """Queue ``item`` on ``stream`` with every check.

        Runs for the first call, every ``max_queue`` events, each big item and
        any call after the writer turned slow (closed, failed, forked): raises
        a pending error, wakes the thread and enforces the memory bound (the
        item is dropped again if the bound is passed and ``on_full="drop"``).
        """
        if self._slow:
            self._slow_path()
        stream.append(item)
        self._in_bytes += nbytes
        self._in_events += 1
        wake = self._wake
        if wake.is_set():
            # The thread has a wake it has not taken yet (it is busy, or waiting
            # for the GIL): waking it again every max_queue events is wasted
            # work, so check again later, within the room the memory bound
            # leaves. The thread restores the max_queue gate before it waits.
            room = (self._max_bytes - self._pending_bytes()) // (EVENT_BYTES + BIG_ITEM)
            self._gate = 0 if self._slow else self._in_events + max(self._max_queue, min(FAR_GATE, room))
            if not wake.is_set():  # taken meanwhile: back to max_queue
                wake.set()
                self._gate = 0 if self._slow else self._in_events + self._max_queue
        else:
            self._gate = 0 if self._slow else self._in_events + self._max_queue
            wake.set()
        if self._pending_bytes() > self._max_bytes:
            self._full(nbytes, stream)

    def _full(self, nbytes: int, stream: Stream | None = None) -> None:
        if self._pool_bytes:
            self._drop_pool()  # free snapshot buffers go first
            if self._pending_bytes() <= self._max_bytes:
                return
        if self._on_full == "drop":
            # Take back the item just appended (last in its stream's queue).
            for s in [stream] if stream is not None else self._streams:
                if s.queue:
                    try:
                        s.queue.pop()
                    except IndexError:
                        continue
                    self._in_bytes -= nbytes
                    self._in_events -= 1
                    break
            self.dropped += 1
            self._gate = 0  # check every event until there is room
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
            self._waiting += 1
            try:
                self._wait_for_room()
            finally:
                self._waiting -= 1

    def _wait_for_room(self) -> None:
        """Wait (holding ``self._progress``) until the backlog fits the memory bound."""
        while self._pending_bytes() > self._max_bytes:
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
            self._set_slow()
            self._stop = True
            self._wake.set()
            thread = self._thread
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout)
            self._drop_pool()
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
            if self._gate > self._in_events + self._max_queue:
                # About to wait: the next max_queue events must wake this thread.
                self._gate = self._in_events + self._max_queue
                if self._slow:  # turned slow meanwhile: keep every call checked
                    self._gate = 0
            self._wake.wait(max(0.0, next_flush - time.monotonic()))
            self._wake.clear()
            requests = []
            while self._flush_requests:
                requests.append(self._flush_requests.popleft())
            stop = self._stop
            self._hurry = bool(requests) or stop
            self._drain_all()
            self._hurry = False
            now = time.monotonic()
            if requests or stop or now >= next_flush:
                if self._dirty or requests:
                    self._flush_all()
                next_flush = now + self._flush_secs
            for done in requests:
                done.set()
            if not stop:
                self._fill_pool()
            if stop:
                # Closing: stop once everything is written, or once writing
                # fails (a full disk must not keep close() waiting forever).
                if self._error is not None or not any(s.queue for s in self._streams):
                    return
                self._wake.set()  # a put raced with close: write it at once

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
        self._set_slow()


def _forked_child() -> None:
    # Threads do not survive fork(): send each writer's next call through
    # _slow_path, which sees the new pid and starts afresh (_after_fork).
    for w in list(_ALL):
        w._set_slow()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked_child)


def close_all() -> None:
    """Close every open writer of this process (used at interpreter exit)."""
    for w in list(_ALL):
        try:
            w.close(timeout=60)
        except Exception:  # noqa: BLE001 - exiting: nothing left to report to
            pass
