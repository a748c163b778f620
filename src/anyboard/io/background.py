"""One background thread per writer, serving any number of event files.

The caller's side of a small logging call is :meth:`~anyboard.io.stream.Stream.put`:
a ``len`` and an ``append`` on a ``deque`` (both atomic, with or without the
GIL): no lock, no counter, no protobuf, no I/O. The counters and the memory
bound belong to this module: the writer thread's own counters, and
:meth:`BackgroundWriter.put_checked` (one small lock) for everything a plain
append does not cover: items declaring bytes, every ``max_queue``-th item of a
stream (``Stream.check_at``), the first call and any call while the writer is
slow (closed, failed, forked, exiting). Each queued
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
  queued items hold, :data:`EVENT_BYTES` per queued item plus the ``nbytes``
  its ``put`` declared. When an item would exceed it, ``on_full="block"`` makes
  the caller wait until the thread has written enough for it to fit (an item
  over half the bound: until the backlog is half the bound), before the item is
  queued: a write failing meanwhile raises :class:`~anyboard.errors.WriteError`
  there, and the item is not queued. ``on_full="drop"`` drops new items
  (each counted in :attr:`BackgroundWriter.dropped`; one warning) until there
  is room. Items declaring no bytes are checked every ``max_queue`` items of
  their stream (or, while the thread has a wake it has not taken yet, at most
  every :data:`FAR_GATE` items, within the room the bound leaves), so the
  bound may be passed by at most ``max_queue`` such items per stream (plus
  one per thread passing the check at once). Items declaring up to
  :data:`~anyboard.io.stream.SMALL_ITEM` bytes (a histogram binned on the
  caller, a small image) are counted as they come, without a wake-up, and
  checked at the same gates; until then each stream's items spend a budget of
  bytes, its share of the room the bound left at its last check, and an item
  the budget cannot pay for is checked at once, as a larger item always is.
  With ``max_queue=1`` (as in a ``multiprocessing`` child) every item declaring
  bytes is checked and wakes the thread.
- Every ``flush_secs`` the files are flushed, but only when something was
  written since the last flush.
- :meth:`BackgroundWriter.flush` is a barrier: it puts a :class:`FlushMarker`
  behind what each file's queue holds and returns once the thread has written
  everything before the markers and flushed the files, however fast other
  threads keep queueing (each round of the thread drains at most what its
  queues held when the round began).
- Any number of threads may share one writer, with or without the GIL:
  starting the thread (the writer's constructor, the first use after a fork
  or a reopen),
  :meth:`~BackgroundWriter.close`, :meth:`~BackgroundWriter.flush` and
  :meth:`~BackgroundWriter.reopen` are serialized by one lifecycle lock, and
  the byte counters, ``dropped`` and ``Stream.check_at`` by one count lock;
  the caller's hot path takes neither. Callers only append to the queues and
  only the writer thread pops from them, so there is always at most one
  writer thread, and each thread's events are written exactly once, in the
  order it queued them.
- An exception in the thread (disk full, file deleted, permission lost) is
  raised on the caller's next logging call or flush, as
  :class:`~anyboard.errors.WriteError` chained to the original. The failed
  batch is kept and retried on the next write, so what a retry can save is
  not lost. The caller never blocks on a failing thread.
- :meth:`BackgroundWriter.close` is idempotent and may be called from several
  threads at once. After it, :meth:`~BackgroundWriter.flush` does nothing and
  the next queued item reopens the writer (a new thread; each file is created
  anew on its next write), as the peers' writers do.
- At interpreter exit (:func:`_close_all_at_exit`, and the writers'
  finalizers) what was queued when exit began is written and the files are
  closed; calls from threads still logging after that are dropped (counted in
  ``dropped``), so exit stays prompt.
- After ``os.fork()`` the child starts with empty queues and, on its first
  logging call, a new thread and new files (the parent's queued events stay
  the parent's: nothing is written twice, no inherited lock is awaited).
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Callable
from typing import Any

from anyboard._flag import Flag
from anyboard.errors import WriteError
from anyboard.io.buffer_pool import POOL
from anyboard.io.stream import (  # noqa: F401 - re-exported: the writer's constants and encoder registry
    EVENT_BYTES,
    FAR_GATE,
    POOL_BYTES,
    SINCE_FLUSH_BYTES,
    SMALL_ITEM,
    FileFactory,
    FlushMarker,
    Item,
    Stream,
    encoder_code,
    parallel_encoder,
)

_ALL: weakref.WeakSet[BackgroundWriter] = weakref.WeakSet()
_ALL_LOCK = threading.Lock()  # around adding to _ALL and iterating it from a thread (a WeakSet is not thread-safe)

EXIT_TIMEOUT = 60.0
"""Seconds a writer is given at interpreter exit to write what was queued (a stuck disk is left then)."""


class _WriterThread(threading.Thread):
    """The writer thread, with a liveness of its own (see :func:`_alive`).

    ``Thread.is_alive()`` cannot be trusted here: a ``join()`` that a Ctrl-C
    interrupts marks the running thread stopped (CPython 3.11's
    ``_wait_for_tstate_lock`` releases the lock the live thread holds), and a
    thread whose ``start()`` was interrupted reads as not alive although it
    runs later. ``entered`` is set (under ``_thread_lock``) once the thread is
    the writer's one loop, in process ``pid`` (a forked child has no such
    thread); ``done`` once it has left the loop or never will.
    """

    def __init__(self, target: Callable[[], None]) -> None:
        super().__init__(target=target, name="anyboard-writer", daemon=True)
        self.entered = False
        self.pid = 0
        self.done = Flag()


def _alive(thread: _WriterThread | None) -> bool:
    """Whether ``thread`` is the writer's loop, or started and about to become it."""
    if thread is None or thread.done.is_set():
        return False
    return thread.pid == os.getpid() if thread.entered else thread.is_alive()


def _wait_done(thread: _WriterThread, timeout: float | None) -> bool:
    """Wait until ``thread`` has left the loop (``timeout`` seconds at most); return whether it has."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while not thread.done.is_set():
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return False
        thread.done.wait(left)
    return True


class BackgroundWriter:
    """The shared thread and bookkeeping for one writer's event files (a :class:`~anyboard.io.stream.StreamOwner`)."""

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
        self._in_bytes = 0  # bytes declared by queued items (count lock)
        self._out_bytes = 0  # of those, written (count lock; set by the writer thread)
        self._slow = False  # any of: closed, error pending, forked, exiting, thread not started
        self._closed = False
        self._finished = False  # close() done: thread stopped, files closed
        self._exiting = False  # the interpreter is exiting: new items are dropped
        self._error: BaseException | None = None
        self._pid = os.getpid()
        self._exit_hooked = 0  # the pid whose multiprocessing exit closes this writer (see _hook_child_exit)
        # Serializes starting the thread, close(), reopen() and the after-fork reset; the
        # caller's hot path never takes it. Reentrant: close() flushes while holding it.
        self._life = threading.RLock()
        # Free snapshot buffers of large arrays live in the process-wide pool (see take_buffer).
        self._pool_cap = min(POOL_BYTES, self._max_bytes // 4)
        self._unchecked_budget = min(SINCE_FLUSH_BYTES, self._max_bytes // 8)
        self._init_sync()
        with _ALL_LOCK:
            _ALL.add(self)

    def _init_sync(self) -> None:
        # The byte counters, dropped and every stream's check_at; held for a few operations,
        # never while waiting or calling out (lock order: _life, then this).
        self._count_lock = threading.Lock()
        self._wake = Flag()  # the writer thread's wake-up
        self._room: set[Flag] = set()  # one flag per caller blocked on the memory bound, set after each batch
        self._flushers = 0  # callers waiting in flush() (see caller_waiting)
        self._draining = False  # the writer thread is in a drain round (see _on_child_sigterm)
        self._flushers_lock = threading.Lock()
        self._stop = False
        self._hurry = False  # the drain in progress was asked for by a waiting caller
        self._dirty = False
        self._reached: list[FlushMarker] = []  # markers written, to be released after the next file flush
        # Guards self._thread: the one writer thread. A Ctrl-C inside Thread.start() can leave an OS
        # thread that runs later although start() raised; whoever replaces a thread that is not
        # alive yet, and the thread itself on entering _run, decide under this lock, so that an
        # orphan finds it was replaced and never touches the streams (two loops would write twice).
        self._thread_lock = threading.Lock()
        self._thread: _WriterThread | None = None
        self._set_slow()  # the first call checks everything (the thread: see start())

    def _set_slow(self) -> None:
        """Send the next logging call through :meth:`_slow_path`."""
        with self._count_lock:
            self._slow = True
            for s in self._streams:
                s.check_at = 0

    # -- streams -----------------------------------------------------------
    def stream(self, factory: FileFactory, header: list[bytes], reopen_header: list[bytes] | None = None) -> Stream:
        """Register a new event file; ``header`` events open the first file it creates.

        ``reopen_header`` (default ``header``) opens the files created after a :meth:`close`.
        A closed writer is reopened first, as the next queued item would.
        """
        with self._life:
            if self._closed and not self._exiting:
                self._reopen_locked()
            s = Stream(self, factory, header, reopen_header)
            self._streams.append(s)
            return s

    # -- caller side -------------------------------------------------------
    def start(self) -> None:
        """Start the writer thread now (the writer's constructor), as the peers' writers do.

        Otherwise the first queued item starts it, and that call waits for a new thread to be
        scheduled (0.1-1 ms here, a whole switch interval on a busy machine).
        """
        with self._life:
            if self._pid == os.getpid() and not (self._closed or self._exiting):
                self._start()

    def _slow_path(self) -> bool:
        """The checks behind every queued item while the writer is slow; ``False``: drop the item.

        Under the lifecycle lock, so that however many threads make their first call at once,
        one of them starts the one writer thread. Raises a pending background error.
        """
        with self._life:
            if self._pid != os.getpid():
                self._after_fork()
            if self._exiting:
                with self._count_lock:
                    self.dropped += 1
                return False
            if self._closed:
                self._reopen_locked()
            if self._error is not None:
                self._raise_error()
            self._start()
            self._hook_child_exit()
            with self._count_lock:  # an error the thread records from here on sets it again
                self._slow = self._error is not None
            return True

    def _start(self) -> None:
        """Start the writer thread unless one is alive (see ``_thread_lock``)."""
        with self._thread_lock:
            if _alive(self._thread):
                return
            thread = self._thread = _WriterThread(self._run)
        thread.start()

    def _hook_child_exit(self) -> None:
        """In a ``multiprocessing`` child (fork, forkserver: it leaves through ``os._exit``, with no
        atexit), close this writer when the child leaves, whether it was inherited, created by the
        target or unpickled from its arguments (checked at the first call, in ``_slow_path``: a
        writer unpickled before the child's bootstrap cannot tell it is in a child yet).

        A child's target may also never return: the parent's exit terminates its daemonic children
        (SIGTERM), as it does a DataLoader's persistent workers. So in a child every queued item
        wakes the writer thread, which writes it at once (an event whose bytes reached the file
        outlives the process), and a SIGTERM left at its default action first waits (up to
        :data:`CHILD_TERM_WAIT` seconds) for what is queued to be written.
        """
        if self._exit_hooked != self._pid and _in_multiprocessing_child():
            self._exit_hooked = self._pid
            self._max_queue = 1
            _close_at_multiprocessing_exit(self)
            _CHILD_WRITERS.append(weakref.ref(self))
            _wait_for_writes_on_sigterm()

    def _forget_thread(self) -> None:
        """No writer thread from now on (one whose start() was interrupted exits when it runs)."""
        with self._thread_lock:
            self._thread = None

    def _raise_error(self) -> None:
        """Raise the writer thread's error on this caller (once: another caller may have taken it)."""
        error, self._error = self._error, None
        if error is None:  # two callers saw it at once: the other one raises it
            return
        with self._count_lock:  # check_at stays 0: the next call re-checks
            self._slow = self._closed or self._exiting
        if isinstance(error, ValueError | TypeError):
            raise error
        raise WriteError(f"writing events failed: {error}") from error

    def _pending_bytes(self) -> int:
        """The memory bound's estimate: declared bytes not written yet, :data:`EVENT_BYTES` per queued item, free buffers.

        The process-wide pool's free buffers count up to this writer's pool cap.
        """
        queued = sum(len(s.queue) for s in self._streams)
        return self._in_bytes - self._out_bytes + EVENT_BYTES * queued + min(POOL.free_bytes, self._pool_cap)

    # -- snapshot buffers ----------------------------------------------------
    def take_buffer(self, nbytes: int, dtype: str) -> Any:
        """A free snapshot buffer of ``nbytes`` bytes of ``dtype`` (a 1-D array), or ``None``.

        A caller copies a large array into it (warm pages: no page faults, ~10x
        faster than a fresh copy) and queues it, declaring its bytes, with an encoder
        that calls :meth:`give_buffer` once it has read it. Free buffers are shared by
        every writer of the process (:data:`anyboard.io.buffer_pool.POOL`); they count
        towards ``max_pending_bytes`` (up to ``min(POOL_BYTES, max_pending_bytes // 4)``,
        the most a writer returns to the pool) and are dropped first when it is reached.
        """
        return POOL.take(nbytes, dtype)

    def caller_waiting(self) -> bool:
        """Whether a caller is waiting on this writer (``flush``, ``close``, the memory bound).

        Encoders may then spread their work over more cores: no training loop is running
        on the waiting thread meanwhile. Otherwise they use this thread alone.
        """
        return self._hurry or bool(self._room) or self._flushers > 0

    def give_buffer(self, buffer: Any) -> None:
        """Return a snapshot buffer whose encoder has run (background thread) to the shared pool.

        It is kept while the pool holds less than ``min(POOL_BYTES, max_pending_bytes // 4)``.
        """
        POOL.give(buffer, self._pool_cap)

    def put_checked(self, stream: Stream, item: Item, nbytes: int) -> None:
        """Queue ``item`` on ``stream`` with every check (see :meth:`Stream.put <anyboard.io.stream.Stream.put>`).

        Runs for the first call, every ``max_queue``-th item of a stream, each
        item declaring more than ``SMALL_ITEM`` bytes or more than the stream's
        budget, and any call after the writer turned slow (closed, failed,
        forked, exiting): raises a pending error, wakes the thread, moves
        ``stream.check_at``, sets ``stream.budget`` and enforces the memory
        bound (``on_full="drop"``: an item that does not fit is not queued).
        """
        if self._slow and not self._slow_path():
            return  # the interpreter is exiting: dropped (counted)
        cost = EVENT_BYTES + nbytes
        pending = self._pending_bytes()
        if self._on_full == "block" and pending + cost > self._max_bytes:
            # Before queueing: a write failing meanwhile raises here, and the item is not queued
            # (a call that raises never wrote; the backlog of a failing disk stays bounded). An
            # item over half the bound waits for a backlog of half the bound.
            self._full(min(cost, self._max_bytes // 2))
            pending = self._pending_bytes()
        elif self._on_full == "drop" and pending + cost > self._max_bytes and not self._full(cost):
            with self._count_lock:
                self.dropped += 1
                stream.check_at = 0  # check every item until there is room
                warn, self._warned_drop = not self._warned_drop, True
            if warn:
                warnings.warn(
                    "anyboard: pending events exceed max_pending_bytes; dropping new events "
                    "(see SummaryWriter.dropped)",
                    RuntimeWarning,
                    stacklevel=4,
                )
            return
        with self._count_lock:
            stream.append(item)
            self._in_bytes += nbytes
            wake = self._wake
            left = self._max_bytes - pending - cost  # the room this item leaves
            if wake.is_set():
                # The thread has a wake it has not taken yet (it is busy, or waiting for
                # the GIL): waking it again every max_queue items is wasted work, so check
                # again later, within the room the memory bound leaves. The thread brings
                # check_at back to max_queue before it waits.
                room = left // ((EVENT_BYTES + SMALL_ITEM) * len(self._streams))
                step = max(self._max_queue, min(FAR_GATE, room))
            else:
                step = self._max_queue
                wake.set()
            stream.check_at = 0 if self._slow else len(stream.queue) + step
            # Items declaring up to SMALL_ITEM bytes pass until the next gate only within this
            # stream's share of that room (put_counted); with max_queue=1 each one is checked.
            stream.budget = max(left, 0) // len(self._streams) if self._max_queue > 1 else 0

    def put_counted(self, stream: Stream, item: Item, nbytes: int) -> None:
        """Queue a small item declaring ``nbytes`` (at most ``SMALL_ITEM``) between two gates.

        Only the byte count, under the count lock, paid from ``stream.budget``;
        the wake-up waits for the stream's next ``check_at``, as for items
        declaring none. An item the budget cannot pay for goes to :meth:`put_checked`.
        """
        cost = EVENT_BYTES + nbytes
        with self._count_lock:
            if stream.budget >= cost:
                stream.budget -= cost
                stream.append(item)
                self._in_bytes += nbytes
                return
        self.put_checked(stream, item, nbytes)

    def _full(self, nbytes: int) -> bool:
        """The memory bound is reached: free snapshot buffers go first; then ``"block"`` waits.

        Returns whether ``nbytes`` more fit now (``"block"``: waits until they do).
        """
        if POOL.free_bytes:
            POOL.clear()
        if self._pending_bytes() + nbytes <= self._max_bytes:
            return True
        if self._on_full == "drop":
            return False
        room = Flag()  # this caller's own: a flag with one waiter never has its wake-up taken by another
        with self._count_lock:
            self._room.add(room)
        try:
            self._wait_for_room(room, nbytes)
        finally:
            with self._count_lock:
                self._room.discard(room)
        return True

    def _wait_for_room(self, room: Flag, nbytes: int) -> None:
        """Wait until ``nbytes`` more fit the memory bound (the writer thread sets ``room`` after each batch)."""
        while True:
            room.clear()  # before the check: a batch written after it sets the flag again
            if self._pending_bytes() + nbytes <= self._max_bytes:
                return
            if self._error is not None:
                self._raise_error()
            if not _alive(self._thread) or self._exiting or self._closed:
                return
            self._wake.set()
            room.wait(0.1)

    def _room_made(self) -> None:
        """Wake every caller waiting on the memory bound (writer thread)."""
        if self._room:
            with self._count_lock:
                waiting = list(self._room)
            for room in waiting:
                room.set()

    def batch_written(self, events: int) -> None:
        """The writer thread wrote a batch of ``events`` items: callers blocked on the memory bound re-check."""
        self._room_made()

    def flush(self, timeout: float | None = None) -> None:
        """Return once every event queued before this call is in its file (a barrier).

        Other threads may go on queueing meanwhile: what they queue after this call
        is not waited for. Does nothing on a closed writer (as the peers' writers);
        during another thread's :meth:`close` it returns once that close is done.

        Raises:
            WriteError: writing failed in the background (at once: a failing disk
                never keeps the caller waiting), or ``timeout`` seconds passed.
        """
        if self._slow:
            with self._life:  # _slow_path makes the after-fork reset
                if self._closed or not self._slow_path():
                    return
        self._barrier(timeout)

    def _barrier(self, timeout: float | None) -> None:
        streams = list(self._streams)
        if not streams:
            return
        marker = FlushMarker(len(streams))
        with self._flushers_lock:
            self._flushers += 1
        try:
            for s in streams:
                s.append(marker)
            self._wake.set()
            deadline = None if timeout is None else time.monotonic() + timeout
            while not marker.done.wait(0.05):
                if self._error is not None:
                    break
                thread = self._thread
                if not _alive(thread):
                    if self._closed or self._exiting or not any(s.queue for s in self._streams):
                        break
                    with self._life:  # the thread died (it never should): start another one
                        if self._thread is thread:
                            self._start()
                if deadline is not None and time.monotonic() > deadline:
                    raise WriteError(f"flush did not finish within {timeout} s")
                self._wake.set()
        finally:
            with self._flushers_lock:
                self._flushers -= 1
        if self._error is not None:
            self._raise_error()

    def close(self, timeout: float | None = None) -> None:
        """Write everything queued, close the files and stop the thread.

        Idempotent, and safe from several threads at once: they all return once the
        files are closed. Calls from other threads meanwhile wait for it, then log to
        the reopened writer (new files), as with the peers. An interrupted close
        (``KeyboardInterrupt``) is finished by the next one.
        """
        with self._life:
            if self._finished:
                return
            if self._pid != os.getpid():
                self._after_fork()
            error = None
            self._closed = True
            self._set_slow()  # from here on new calls wait for the lifecycle lock
            try:
                # Items queued by threads that passed their stream's check_at just before it closed
                # can land behind a marker: a second barrier writes them.
                for _ in range(3):
                    thread = self._thread
                    if not (_alive(thread) or any(s.queue for s in self._streams)):
                        break
                    if self._error is not None:
                        self._raise_error()
                    if not _alive(thread):
                        self._stop = False
                        self._start()
                    self._barrier(timeout)
                    if not any(s.queue for s in self._streams):
                        break
            except (WriteError, ValueError, TypeError) as exc:
                error = exc
            finally:
                unsent = self._finish_close(timeout)
        if error is not None:
            raise error
        if unsent is not None:
            raise WriteError(f"closing the event files failed (a later close() retries): {unsent}") from unsent

    def _finish_close(self, timeout: float | None) -> OSError | None:
        """Stop the thread and close the files (lifecycle lock held); left unfinished if the thread is
        stuck, or if a file that keeps what it could not send failed to close (returned: the next
        close() retries it)."""
        self._stop = True
        self._wake.set()
        thread = self._thread
        # A thread whose start() a Ctrl-C interrupted, not running yet, is not waited for:
        # forgotten, it leaves on entering _run.
        if (
            thread is not None
            and thread is not threading.current_thread()
            and _alive(thread)
            and not _wait_done(thread, timeout)
        ):
            return None  # a stuck disk: the thread may still write; the next close() or reopen() finishes
        self._forget_thread()
        unsent: OSError | None = None
        for s in self._streams:
            try:
                s.close_file()
            except OSError as exc:
                if s.file_open:  # kept to retry (see Stream.close_file); a local file's failure is final
                    unsent = unsent or exc
        if unsent is not None:
            return unsent
        self._finished = True
        try:
            if self._exiting or sys.is_finalizing():
                POOL.clear()  # no keeper thread at exit
            elif POOL.free_bytes and not _any_writer_open():
                POOL.release_later(_any_writer_open)  # the free buffers outlive the last open writer briefly
        except Exception:  # noqa: BLE001 - the pool is only a speed-up: a failure here must not fail close()
            POOL.clear()
        return None

    def reopen(self, open_now: Stream | None = None) -> None:
        """Log again after :meth:`close`: a new thread, and new files on the next writes.

        ``open_now``'s file is created at once (so that a bad directory fails here).
        Does nothing on an open writer.
        """
        with self._life:
            if self._closed and not self._exiting:
                self._reopen_locked()
                if open_now is not None:
                    open_now.open()

    def _reopen_locked(self) -> None:
        if not self._finished:  # an interrupted or timed-out close(): finish it first
            self._finish_close(None)
        self._finished = False
        self._closed = False
        self._stop = False
        self._forget_thread()
        self._set_slow()

    def shutdown_at_exit(self, timeout: float = EXIT_TIMEOUT) -> None:
        """Interpreter exit: write what is queued now, drop what comes later, close the files."""
        self._exiting = True
        self._set_slow()
        for attempt in range(2):  # a second close() retries a file that kept what it could not send
            try:
                self.close(timeout=timeout)
                return
            except Exception as exc:  # noqa: BLE001 - exiting: there is no caller left to raise to
                lost = any(s.retry_bytes for s in self._streams)  # a batch no file took
                if attempt or lost:
                    warnings.warn(f"anyboard: events could not be written at exit: {exc}", RuntimeWarning, stacklevel=1)
                    return
                if self._finished:  # the error was retried and the files closed: nothing lost
                    return

    @property
    def closed(self) -> bool:
        return self._closed

    # -- fork --------------------------------------------------------------
    def _after_fork(self) -> None:
        self._pid = os.getpid()
        self._init_sync()
        for s in self._streams:
            s.forget_after_fork()
        self._in_bytes = self._out_bytes = 0
        self._error = None

    # -- background side ---------------------------------------------------
    def _run(self) -> None:
        me = threading.current_thread()
        with self._thread_lock:
            if self._thread is not me:  # started by an interrupted start() and replaced since
                if isinstance(me, _WriterThread):
                    me.done.set()
                return
            me = self._thread
            me.pid = os.getpid()
            me.entered = True
        try:
            self._loop()
        finally:
            me.done.set()

    def _loop(self) -> None:
        next_flush = time.monotonic() + self._flush_secs
        while True:
            with self._count_lock:  # about to wait: the next max_queue items of a stream must wake this thread
                for s in self._streams:
                    s.check_at = 0 if self._slow else min(s.check_at, len(s.queue) + self._max_queue)
            self._wake.wait(max(0.0, next_flush - time.monotonic()))
            self._wake.clear()
            stop = self._stop
            self._hurry = self._flushers > 0 or stop
            self._draining = True
            try:
                self._drain_all()
            finally:
                self._draining = False
            self._hurry = False
            now = time.monotonic()
            # Flushed early too once the streams keep many unchecked bytes (see Stream.unchecked_bytes):
            # they are memory outside max_pending_bytes until a flush checks the files.
            unchecked = sum(s.unchecked_bytes for s in self._streams) > self._unchecked_budget
            if self._reached or stop or now >= next_flush or unchecked:
                if self._dirty or self._reached or unchecked:
                    self._flush_all()
                next_flush = now + self._flush_secs
            self._release_markers()
            if stop:
                return  # close() has had its barriers: what it waited for is written
            if any(s.queue for s in self._streams):
                self._wake.set()  # more than this round's share is queued: go on at once

    def _release_markers(self) -> None:
        """Release the flush() callers whose markers were written and flushed."""
        reached, self._reached = self._reached, []
        for marker in reached:
            marker.done.set()

    def _drain_all(self) -> None:
        # The snapshot is taken under the count lock, which put_checked holds while it appends
        # an item and counts its bytes: every byte counted in it belongs to an item within the
        # queue lengths taken with it. Each stream drains exactly what it held at the snapshot
        # (FIFO; only this thread pops), so afterwards only later items, and failed batches
        # kept for a retry, still hold memory. No stream drains more than it held, so however
        # fast other threads queue, a round ends and the flush markers it passed are released.
        with self._count_lock:
            in_bytes = self._in_bytes
            streams = list(self._streams)
            limits = [len(s.queue) for s in streams]
        for s, limit in zip(streams, limits):
            try:
                if s.drain(limit, self._reached):
                    self._dirty = True
            except BaseException as exc:  # noqa: BLE001 - reported on the caller
                self._record(exc)
        with self._count_lock:
            self._out_bytes = in_bytes - sum(s.retry_bytes for s in streams)
        self._room_made()

    def _flush_all(self) -> None:
        for s in self._streams:
            try:
                s.flush_file()
            except BaseException as exc:  # noqa: BLE001 - reported on the caller
                self._record(exc)
        self._dirty = False

    def _record(self, exc: BaseException) -> None:
        if self._error is None:
            self._error = exc
        self._set_slow()


def _writers() -> list[BackgroundWriter]:
    """The writers of this process now (a copy: a WeakSet is not safe to iterate from a thread)."""
    with _ALL_LOCK:
        return list(_ALL)


def _any_writer_open() -> bool:
    """Whether any writer of this process is open (not closed); a closed one reopens on use."""
    return any(not w._closed for w in _writers())


def _forked_child() -> None:
    # Threads do not survive fork(): send each writer's next call through _slow_path,
    # which sees the new pid and starts afresh (_after_fork). The lifecycle lock may have
    # been held by one of the parent's other threads at the fork: the child gets a new one.
    global _ALL_LOCK
    _ALL_LOCK = threading.Lock()
    for w in list(_ALL):
        w._life = threading.RLock()
        w._count_lock = threading.Lock()
        w._flushers_lock = threading.Lock()
        w._set_slow()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked_child)


def _in_multiprocessing_child() -> bool:
    """Whether this process is a ``multiprocessing`` child (any start method)."""
    mp = sys.modules.get("multiprocessing")
    return mp is not None and mp.parent_process() is not None


CHILD_TERM_WAIT = 1.0
"""Seconds a ``multiprocessing`` child's SIGTERM waits for its writers' queued events."""

_CHILD_WRITERS: list[weakref.ref[BackgroundWriter]] = []  # this child's writers (a list: the handler takes no lock)


def _wait_for_writes_on_sigterm() -> None:
    """In a ``multiprocessing`` child, from its main thread, while SIGTERM has its default action:
    on SIGTERM, wait for the writers' queued events, then terminate as SIGTERM would."""
    if threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _on_child_sigterm)
    except (ValueError, OSError, AttributeError):  # no SIGTERM here, or not allowed
        pass


def _on_child_sigterm(signum: int, frame: Any) -> None:
    """Wait for each writer's thread to write what is queued (no lock taken: the interrupted code
    may hold one; a writer that cannot go on is given up at the deadline), then die of SIGTERM."""
    deadline = time.monotonic() + CHILD_TERM_WAIT
    while time.monotonic() < deadline:
        writers = [w for w in (ref() for ref in list(_CHILD_WRITERS)) if w is not None and w._pid == os.getpid()]
        if not any(_alive(w._thread) and (w._draining or any(s.queue for s in w._streams)) for w in writers):
            break
        time.sleep(0.002)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _close_at_multiprocessing_exit(writer: BackgroundWriter) -> None:
    """In a ``multiprocessing`` child, close ``writer`` when the child's target returns.

    Such a child leaves through ``os._exit``, which runs no ``atexit`` handler and no
    finalizer: without this, what it logged after its last flush would be lost.
    """
    util = sys.modules.get("multiprocessing.util")
    if util is None:  # not a multiprocessing child (a plain os.fork())
        return
    ref = weakref.ref(writer)

    def close() -> None:
        w = ref()
        if w is not None:
            w.shutdown_at_exit()

    util.Finalize(None, close, exitpriority=100)


def _close_all_at_exit() -> None:
    """Close every open writer of this process at interpreter exit (registered with ``atexit``).

    A writer's own finalizer usually does it first (``weakref.finalize`` runs at exit too);
    this covers writers whose owner is gone. Threads still logging have their calls dropped.
    """
    for w in _writers():
        if not w._finished:
            w.shutdown_at_exit()


atexit.register(_close_all_at_exit)
