"""The queue of one event file, and the encoders its writer thread runs.

:class:`Stream` holds one file's queue. Its :meth:`Stream.put` is the one
enqueue protocol of anyboard (every logging call, ``add_scalar`` included,
queues through it): an item declaring no extra bytes is appended to the
deque while the queue is shorter than ``check_at``, and that is all the
caller does (``deque.append`` and ``len`` are atomic, with or without the
GIL). Everything else (the memory bound, waking the writer thread, errors,
the first call) goes to the owner's ``put_checked``, which serializes it
with one small lock; the owner also moves ``check_at``.

The writer thread calls :meth:`Stream.drain` to encode, frame and write what
is queued, in batches, with one system call each. Queued items are
serialized ``Event`` bytes, ``(encode, args)`` tuples, or
``(code, a, b, c, d)`` tuples whose ``code`` comes from :func:`encoder_code`
(a run of those may be encoded at once by a batch encoder, whose payloads
this module frames). This module imports nothing of the writer's: the owner
is anything with the three methods of :class:`StreamOwner`.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from anyboard import _threads
from anyboard._flag import Flag
from anyboard.io.records import frame_many, frame_row_groups

try:  # the compiled run taker (_native.c); the popleft loop and _run_length below do the same
    from anyboard._native import take_run as _native_take_run
except ImportError:  # pragma: no cover - not built: the fallback tests patch this
    _native_take_run = None  # type: ignore[assignment]

Item = Any  # bytes | (encode, args) | (code, a, b, c, d)
FileFactory = Callable[[], Any]
RowGroups = list[tuple[Any, Any]]
"""Payloads of many events as ``(indices, rows)`` groups (see :func:`anyboard.io.records.frame_row_groups`)."""

_ENCODERS: list[Callable[[Any, Any, Any, Any], bytes]] = []
_ROWS: dict[int, Callable[[list[Any]], RowGroups | None]] = {}  # code -> batch encoder (payload row groups)
_PARALLEL: set[Callable[..., bytes]] = set()  # encoders of independent items (see parallel_encoder)

EVENT_BYTES = 160
"""Memory charged for every queued event (a small tuple with a float, an int and a str)."""
FAR_GATE = 1024
"""Most events a stream queues without a check while the thread still has an untaken wake (see ``put_checked``)."""
SMALL_ITEM = 65536
"""Items declaring at most this many bytes are counted without the checks until the next gate
(a histogram binned on the caller is ~10 KB: checking and waking the writer thread for each one
cost a burst of them ~30 µs of the second core per call, issue #21)."""
BATCH_EVENTS = 256
"""Events encoded between two yields of the GIL (and written with one system call)."""
RUN_EVENTS = 4096
"""Most items of one code encoded together by its batch encoder (see :func:`encoder_code`)."""
BATCH_BYTES = 1 << 20
"""Encoded bytes that end a batch early (images, large tensors)."""
POOL_BYTES = 64 << 20
"""Most bytes of free snapshot buffers kept for reuse in the process (see ``anyboard.io.buffer_pool``)."""
SINCE_FLUSH_BYTES = 32 << 20
"""Written bytes kept until the next flush confirms the file still exists."""
PARALLEL_RUN = 16
"""Most items of a :func:`parallel_encoder` encoded at once."""


class FlushMarker:
    """A ``flush()`` barrier queued behind what each stream holds (see ``BackgroundWriter.flush``).

    The writer thread counts the streams that have written everything queued before
    their copy of the marker; when all have, and the files are flushed, ``done`` is set.
    """

    __slots__ = ("done", "remaining")

    def __init__(self, streams: int) -> None:
        self.remaining = streams  # written by the writer thread only
        self.done = Flag()


class StreamOwner(Protocol):
    """What a :class:`Stream` asks of the writer that owns it (``anyboard.io.background.BackgroundWriter``)."""

    def put_checked(self, stream: Stream, item: Item, nbytes: int) -> None:
        """Queue ``item`` on ``stream`` with every check (the caller's side of :meth:`Stream.put`)."""

    def put_counted(self, stream: Stream, item: Item, nbytes: int) -> None:
        """Queue a small ``item`` on ``stream`` and count its ``nbytes``, paid from ``stream.budget``: no wake, no
        memory-bound check (an item the budget cannot pay for goes to :meth:`put_checked`)."""

    def caller_waiting(self) -> bool:
        """Whether a caller waits on the writer now (encoders may then use more cores)."""

    def batch_written(self, events: int) -> None:
        """The writer thread wrote a batch of ``events`` items (callers blocked on the memory bound re-check)."""


def encoder_code(
    encode: Callable[[Any, Any, Any, Any], bytes], rows: Callable[[list[Any]], RowGroups | None] | None = None
) -> int:
    """Return the int that stands for ``encode`` in a queued ``(code, a, b, c, d)``.

    ``encode(a, b, c, d)`` returns one serialized ``Event``. ``rows``, if
    given, encodes a whole run of such items at once: ``rows(items)``
    returns the events as ``(indices, rows)`` groups of equal-length
    payloads (what :func:`anyboard.io.records.frame_row_groups` takes; the
    same bytes as each ``encode`` result), or ``None`` to fall back to
    ``encode``. Framing them is this module's.
    """
    code = next((i for i, known in enumerate(_ENCODERS) if known is encode), -1)
    if code < 0:
        _ENCODERS.append(encode)
        code = len(_ENCODERS) - 1
    if rows is not None:
        _ROWS[code] = rows
    return code


def parallel_encoder(encode: Callable[..., bytes]) -> Callable[..., bytes]:
    """Declare queued ``(encode, args)`` items independent of each other and thread-safe.

    ``encode`` must be a pure function of its arguments (no shared state, no
    I/O). While a caller waits on the writer (``flush``, ``close``, the memory
    bound), a run of consecutive such items (at most :data:`PARALLEL_RUN`) is
    encoded on the writer thread and the helper threads at once
    (:func:`anyboard._threads.call_all`) and written in queue order. Returns
    ``encode`` (usable as a decorator).
    """
    _PARALLEL.add(encode)
    return encode


def _run_length(chunk: list[Any], code: int) -> int:
    """How many items at the start of ``chunk`` are ``(code, a, b, c, d)`` tuples."""
    if set(map(type, chunk)) == {tuple} and set(map(len, chunk)) == {5}:
        codes = [item[0] for item in chunk]
        if codes.count(code) == len(codes):
            return len(codes)
    for i, item in enumerate(chunk):
        if not (type(item) is tuple and len(item) == 5 and item[0] == code):
            return i
    return len(chunk)


class Stream:
    """The queue of one event file. :meth:`put` is the caller's hot path (the one enqueue protocol)."""

    __slots__ = (
        "__weakref__",
        "_factory",
        "_file",
        "_header",
        "_owner",
        "_reopen_header",
        "_retry",
        "_retry_bytes",
        "_retry_markers",
        "_since_flush",
        "_since_flush_bytes",
        "append",
        "budget",
        "check_at",
        "opened",
        "queue",
    )

    def __init__(
        self, owner: StreamOwner, factory: FileFactory, header: list[bytes], reopen_header: list[bytes] | None = None
    ) -> None:
        self._owner = owner
        self._factory = factory
        self._header = header
        self._reopen_header = header if reopen_header is None else reopen_header
        self._retry_markers: list[FlushMarker] = []  # markers behind the failed batches in _retry
        self._file: Any = None
        self.opened: list[Any] = []  # every file object opened, oldest first
        # Framed batches not written yet (a write failed), oldest first: each is whole records,
        # written on its own, so a disk with room for some of them takes those.
        self._retry: deque[bytes] = deque()
        self._retry_bytes = 0
        # Batches written since the file was last checked by flush(): rewritten
        # into a new file if the old one turns out to have been deleted.
        self._since_flush: list[bytes] = []
        self._since_flush_bytes = 0
        self.queue: deque[Item] = deque()
        self.append = self.queue.append
        # put() appends without a check while len(queue) < check_at. Written only by the
        # owner under its lock (put_checked, the writer thread); 0 sends every call there.
        self.check_at = 0
        # Bytes that items declaring up to SMALL_ITEM may still bring before the next check
        # (put_counted spends it, put_checked sets it, both under the owner's lock).
        self.budget = 0

    @property
    def path(self) -> str | None:
        """Path of the current file (``None`` until it is opened)."""
        return None if self._file is None else self._file.path

    def paths(self) -> list[str]:
        """Every file this stream has written, oldest first (also after it is closed).

        A file that rotates (a remote object per flush) lists each object; a
        ``write_to_disk=False`` target lists nothing.
        """
        out: list[str] = []
        for file in self.opened:
            if getattr(file, "discards", False):
                continue
            many = getattr(file, "paths", None)
            if many is not None:
                out.extend(many)
            elif file.path is not None:
                out.append(file.path)
        return out

    def open(self) -> None:
        """Create the file now (on the caller, so a bad directory fails at once)."""
        if self._file is None:
            self._file = self._factory()
            self.opened.append(self._file)
            self._file.write(frame_many(self._header))
            self._since_flush.clear()
            self._since_flush_bytes = 0

    def put(self, item: Item, nbytes: int = 0) -> None:
        """Queue one event; ``nbytes`` estimates the memory it holds beyond :data:`EVENT_BYTES`.

        The caller's whole work for an item declaring no bytes while the
        queue is shorter than ``check_at``: one ``len`` and one ``append``,
        no counter, no lock. An item declaring up to :data:`SMALL_ITEM` bytes
        there goes to the owner's ``put_counted`` (the byte count under its
        small lock, no wake-up: a one-string ``add_text``). Any other call (a
        larger item, the queue at ``check_at``, a slow writer: ``check_at`` is
        0) goes to ``put_checked``. Several threads passing the length test at
        once may each append one item past ``check_at``.
        """
        if nbytes > SMALL_ITEM or len(self.queue) >= self.check_at:
            self._owner.put_checked(self, item, nbytes)
        elif nbytes:
            self._owner.put_counted(self, item, nbytes)
        else:
            self.append(item)

    # -- background side -------------------------------------------------
    @property
    def file_open(self) -> bool:
        """Whether the stream holds a file (after a failed close: one kept to retry)."""
        return self._file is not None

    @property
    def unchecked_bytes(self) -> int:
        """Bytes written since the last :meth:`flush_file`, kept to rewrite if the file was deleted (writer thread's).

        0 for a file whose flush uploads an object (a URL log directory): an early flush there
        would split the run into many small objects.
        """
        return self._since_flush_bytes if getattr(self._file, "cheap_flush", False) else 0

    @property
    def retry_bytes(self) -> int:
        """Bytes of a failed write kept for the next one (the writer thread's)."""
        return self._retry_bytes

    def drain(self, limit: int, reached: list[FlushMarker]) -> int:
        """Encode, frame and write the first ``limit`` queued items (writer thread); return how many events.

        Works in batches of :data:`BATCH_EVENTS` events (or
        :data:`BATCH_BYTES`), each written with one system call, and yields the
        GIL between batches. An encoder that fails is reported after the rest
        is written. A :class:`FlushMarker` whose copies have all been passed is
        appended to ``reached`` once the batch before it is written.
        """
        if getattr(self._file, "discards", False):  # write_to_disk=False: nothing to encode
            popleft = self.queue.popleft
            for _ in range(limit):
                item = popleft()
                if type(item) is FlushMarker:
                    self._passed(item, reached)
            return limit
        queue = self.queue
        popleft = queue.popleft
        encoders = _ENCODERS
        batchers = _ROWS
        parallel = _PARALLEL
        owner = self._owner
        n = 0
        error: BaseException | None = None
        while True:
            parts: list[bytes] = []  # framed
            payloads: list[bytes] = []  # not framed yet
            markers: list[FlushMarker] = []  # passed in this batch
            add = payloads.append
            size = 0
            count = 0
            empty = False
            while count < BATCH_EVENTS and size < BATCH_BYTES:
                if n + count >= limit:
                    empty = True  # this round's share is done; later items wait for the next round
                    break
                try:
                    item = popleft()
                except IndexError:
                    empty = True
                    break
                count += 1
                if type(item) is bytes:
                    add(item)
                    size += len(item)
                    continue
                if type(item) is FlushMarker:
                    markers.append(item)
                    continue
                if len(item) == 5 and item[0] in batchers:
                    # A run of items of one code (scalars): encoded and framed together.
                    code = item[0]
                    chunk = [item]
                    share = min(RUN_EVENTS - 1, limit - n - count)
                    if _native_take_run is not None:  # one C loop instead of the three below
                        chunk += _native_take_run(queue, code, share)
                    else:
                        chunk += [popleft() for _ in range(min(len(queue), share))]
                        m = _run_length(chunk, code)
                        if m < len(chunk):
                            queue.extendleft(reversed(chunk[m:]))
                            del chunk[m:]
                    count += len(chunk) - 1
                    try:
                        groups = batchers[code](chunk)
                        data = None if groups is None else frame_row_groups(len(chunk), groups)
                    except Exception:  # noqa: BLE001 - encoded one by one below, which reports
                        data = None
                    if data is None:
                        for it in chunk:
                            try:
                                add(encoders[code](it[1], it[2], it[3], it[4]))
                            except Exception as exc:  # noqa: BLE001 - an encoder failed: report it, keep the rest
                                error = error or exc
                        continue
                    if payloads:
                        parts.append(frame_many(payloads))
                        payloads.clear()
                    parts.append(data)
                    size += len(data)
                    continue
                if len(item) == 2 and item[0] in parallel and _threads.THREADS > 1 and owner.caller_waiting():
                    run = self._parallel_run(item, limit - n - count)
                    count += len(run) - 1
                    for ok, data in _threads.call_all(run):
                        if not ok:  # an encoder failed: report it, keep the rest
                            error = error or data
                            continue
                        add(data)
                        size += len(data)
                    continue
                try:
                    if len(item) == 5:
                        data = encoders[item[0]](item[1], item[2], item[3], item[4])
                    else:
                        data = item[0](*item[1])
                except Exception as exc:  # noqa: BLE001 - an encoder failed: report it, keep the rest
                    error = error or exc
                    continue
                add(data)
                size += len(data)
            n += count
            if payloads:
                parts.append(frame_many(payloads))
            if parts or self._retry:
                retry = self._retry
                if parts:
                    framed = parts[0] if len(parts) == 1 else b"".join(parts)
                    retry.append(framed)  # kept until its write succeeds, with the markers behind it
                    self._retry_bytes += len(framed)
                self._retry_markers += markers
                if self._file is None:
                    self.open()  # may fail (directory gone, symlink refused): the batches are kept above
                while retry:
                    data = retry[0]
                    self._file.write(data)  # all or nothing (the file's contract)
                    retry.popleft()
                    self._retry_bytes -= len(data)
                    self._remember(data)
                markers, self._retry_markers = self._retry_markers, []
            for marker in markers:
                self._passed(marker, reached)
            # Progress per batch, so a caller blocked on the memory bound moves
            # on as soon as there is room, not after the whole backlog.
            owner.batch_written(count)
            if empty:
                break  # the queue was empty
            time.sleep(0)  # let the training loop run: the rest waits for the next turn
        if error is not None:
            raise error
        return n

    @staticmethod
    def _passed(marker: FlushMarker, reached: list[FlushMarker]) -> None:
        """Count one stream past ``marker`` (everything before it written)."""
        marker.remaining -= 1
        if marker.remaining == 0:
            reached.append(marker)

    def _parallel_run(self, first: Item, share: int) -> list[Item]:
        """``first`` and at most ``share`` items of parallel encoders queued right after it (popped)."""
        run = [first]
        queue = self.queue
        while len(run) < min(PARALLEL_RUN, share + 1):
            try:
                item = queue.popleft()  # popped, then checked: another thread may change the queue in between
            except IndexError:  # the queue ran empty
                break
            if not (type(item) is tuple and len(item) == 2 and item[0] in _PARALLEL):
                queue.appendleft(item)  # not ours: back to the front, where it was
                break
            run.append(item)
        return run

    def _remember(self, data: bytes) -> None:
        if self._since_flush_bytes + len(data) > SINCE_FLUSH_BYTES:
            self._since_flush.clear()  # too much to keep: a deletion now loses it (documented)
            self._since_flush_bytes = SINCE_FLUSH_BYTES + 1
            return
        self._since_flush.append(data)
        self._since_flush_bytes += len(data)

    def flush_file(self) -> None:
        """Flush the file (writer thread); a deleted file re-queues what was written since the last flush and raises."""
        if self._file is None:
            return
        try:
            self._file.flush()
        except FileNotFoundError:
            # The file (or its directory) was deleted: what was written since the
            # last check is queued again, and the next write opens a new file.
            self._retry.extendleft(reversed(self._since_flush))
            self._retry_bytes += sum(map(len, self._since_flush))
            self._since_flush.clear()  # rewritten into the next file, remembered again there
            self._since_flush_bytes = 0
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None
            raise
        self._since_flush.clear()
        self._since_flush_bytes = 0

    def close_file(self) -> None:
        """Close the file; the next write opens a new one with the reopen header.

        A file that keeps what it could not send (``keeps_unsent``: an object whose final upload
        failed) stays this stream's when its close raises, so that a later close retries it.
        """
        self._header = self._reopen_header  # a file created after close() (the writer reopened)
        if self._file is not None:
            file = self._file
            try:
                file.close()
            except OSError:
                if not getattr(file, "keeps_unsent", False):
                    self._file = None
                raise
            self._file = None

    def forget_after_fork(self) -> None:
        """In a forked child: drop the parent's queue, retry bytes and file (the child opens its own)."""
        self.queue.clear()
        self._retry.clear()
        self._retry_bytes = 0
        self._retry_markers = []
        self._since_flush.clear()
        self._since_flush_bytes = 0
        self._file = None  # the parent's file; the child opens its own
