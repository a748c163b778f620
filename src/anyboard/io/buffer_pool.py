"""Snapshot buffers for large arrays: one pool per process, shared by every writer.

A large ``add_histogram`` copies its array into a *snapshot buffer* (a 1-D NumPy
array of the same dtype and byte size) and queues it; the writer thread bins the
snapshot and hands the buffer back. Copying into a warm buffer (pages already
mapped) costs about 0.05 ns per byte; a fresh buffer first faults its pages in:
about 1.4 ms per 4 MB in 4 KiB pages on the benchmark VM, 0.13-0.2 ms in 2 MiB pages
(but ~10 ms where the VM's host must first back memory the guest never touched, or
where the kernel must compact memory to find huge pages).

So buffers are:

- **in huge pages** where the kernel offers transparent huge pages
  (``/sys/kernel/mm/transparent_hugepage/enabled`` is ``always`` or ``madvise``): an
  anonymous ``mmap`` aligned to 2 MiB and advised ``MADV_HUGEPAGE`` (:func:`new_buffer`;
  NumPy's own huge-page advice starts at 4 MiB, above a 1e6-value float32 array). A caller
  that finds no free buffer copies into a fresh one (:func:`fresh_copy`), unless huge pages
  turned out slow (:class:`HugePages` backs off; the caller then bins on the spot and the
  writer thread faults buffers in while idle, :func:`filled_buffer`);
- **recycled across writers**: the free ones are kept in one process-wide
  :class:`BufferPool` (:data:`POOL`), so a fresh writer (a training job opens one
  per run or per phase) finds the buffers an earlier one left; the buffers a writer asked
  for but had no idle moment to fault in before it closed are faulted in by the pool's
  keeper thread once no writer is busy (:meth:`BufferPool.fill_later`).

The pool's rules:

- It holds at most :data:`~anyboard.io.stream.POOL_BYTES` (64 MiB) of free buffers in
  the whole process, and never more than the returning writer's own cap
  (``max_pending_bytes // 4``).
- A buffer is in exactly one place: free in the pool, or in use by one writer (taken by
  :meth:`BufferPool.take`, counted in that writer's ``max_pending_bytes`` through the bytes
  its queued item declares, until :meth:`BufferPool.give` returns it). ``give`` of a buffer
  that is already free is ignored, so no buffer is ever handed to two users.
- The free buffers are released (unmapped) :data:`IDLE_SECS` seconds after the last open
  writer of the process closes (unless a writer is opened meanwhile), when a writer
  reaches its memory bound (memory pressure: the free buffers go first), and in a forked
  child (which must not share the parent's buffers: it starts with an empty pool).
"""

from __future__ import annotations

import mmap
import os
import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from anyboard._flag import Flag
from anyboard.io.stream import POOL_BYTES

HUGE_PAGE = 2 << 20
"""Transparent huge page size on x86-64 and most arm64 kernels."""
HUGE_MIN = HUGE_PAGE
"""Buffers of at least this many bytes are allocated in huge pages (where offered)."""
IDLE_SECS = 10.0
"""Seconds the free buffers are kept after the last open writer of the process closed."""
_BUSY_RETRY = 0.005
"""Seconds the keeper first waits before trying a fill again while a writer is busy (doubled up to
:data:`_BUSY_RETRY_MAX` while it stays busy)."""
_BUSY_RETRY_MAX = 0.1

_THP_FILE = "/sys/kernel/mm/transparent_hugepage/enabled"


def huge_pages_offered() -> bool:
    """Whether ``madvise(MADV_HUGEPAGE)`` can give anonymous memory huge pages here."""
    if not hasattr(mmap, "MADV_HUGEPAGE"):
        return False
    try:
        with open(_THP_FILE, encoding="ascii") as f:
            mode = f.read()
    except OSError:
        return False
    return "[always]" in mode or "[madvise]" in mode


_HUGE = huge_pages_offered()


SLOW_NS_PER_BYTE = 0.15
"""Faulting a huge-page buffer in slower than this (0.6 ms for 4 MB, against 0.13-0.2 ms when
the memory is ready; binning 1e6 float32 values on the caller takes ~0.6 ms) backs off (see
:class:`HugePages`)."""
BACKOFF = 16
"""Huge-page allocations skipped after the first slow one (doubled after each further slow one)."""


class HugePages:
    """Whether to allocate the next buffer in huge pages: yes, except after slow ones.

    Faulting huge pages in is cheap (0.13-0.2 ms per 4 MB on the benchmark VM, ~10x less than
    4 KiB pages) unless the kernel must compact memory for them or, in a virtual machine, the
    host must first back memory the guest never touched or reported free (~10 ms per 4 MB seen
    on the benchmark VM). After such a slow one the next :data:`BACKOFF` allocations use no
    huge page (:func:`fresh_copy` declines, the pool's fill uses 4 KiB pages), then one is tried
    again; the back-off doubles after each slow try and is reset by a fast one. Callers risk a
    fresh copy only once a huge page was fast in this process (``proven``): the first tries are
    the writer thread's fills, so a slow one never lands on the training loop's first burst.
    """

    skip = 0 if _HUGE else -1  # allocations still to skip; -1: never (no huge pages here)
    backoff = BACKOFF
    proven = False  # a huge-page buffer faulted in fast in this process

    @classmethod
    def now(cls) -> bool:
        """Whether this allocation is to use huge pages (counts a skipped one)."""
        if cls.skip == 0:
            return True
        if cls.skip > 0:
            cls.skip -= 1
        return False

    @classmethod
    def record(cls, nanoseconds: int, nbytes: int) -> None:
        """A huge-page buffer of ``nbytes`` took ``nanoseconds`` of CPU time to fault in."""
        if nanoseconds > SLOW_NS_PER_BYTE * nbytes:
            cls.skip, cls.backoff = cls.backoff, cls.backoff * 2
        else:
            cls.backoff = BACKOFF
            cls.proven = True


def fresh_copy(array: np.ndarray) -> np.ndarray | None:
    """A copy of ``array`` (native byte order) in a fresh huge-page buffer (1-D), or ``None``.

    ``None`` below :data:`HUGE_MIN` bytes, where huge pages are not offered, until a huge page
    was fast in this process, and while :class:`HugePages` backs off (the caller then bins on the spot: one pass, ~0.6 ms per
    1e6 values, against ~0.4 ms for a fresh huge-page copy and 0.2 ms for a warm one).
    """
    if array.nbytes < HUGE_MIN or not HugePages.proven or not HugePages.now():
        return None
    try:
        buffer = new_buffer(array.nbytes, array.dtype.str)
    except (MemoryError, OSError):  # mmap refused (ENOMEM under a memory limit): bin on the spot
        HugePages.record(int(SLOW_NS_PER_BYTE * array.nbytes) + 1, array.nbytes)  # back off as after a slow one
        return None
    start = time.thread_time_ns()
    np.copyto(buffer.reshape(array.shape), array)
    HugePages.record(time.thread_time_ns() - start, array.nbytes)
    return buffer


def filled_buffer(nbytes: int, dtype: str) -> np.ndarray:
    """A new buffer (see :func:`new_buffer`) with every page faulted in (zeros), for the pool.

    In huge pages unless :class:`HugePages` backs off. NumPy releases the GIL while it fills.
    """
    huge = nbytes >= HUGE_MIN and HugePages.now()
    buffer = new_buffer(nbytes, dtype, huge=huge)
    start = time.thread_time_ns()
    buffer.fill(0)
    if huge:
        HugePages.record(time.thread_time_ns() - start, nbytes)
    return buffer


def new_buffer(nbytes: int, dtype: str, *, huge: bool = True) -> np.ndarray:
    """A new 1-D array of ``nbytes // itemsize`` values of ``dtype``, its pages not faulted in yet.

    With ``huge``, from :data:`HUGE_MIN` bytes on, where huge pages are offered, it lies in an
    anonymous ``mmap`` aligned to :data:`HUGE_PAGE` and advised ``MADV_HUGEPAGE`` (the map is
    unmapped when the array is freed; up to 2 MiB of address space, never touched, is spare).
    Otherwise it comes from ``numpy.empty``.
    """
    dt = np.dtype(dtype)
    count = nbytes // dt.itemsize
    if not (huge and _HUGE) or nbytes < HUGE_MIN:
        return np.empty(count, dt)
    span = -(-nbytes // HUGE_PAGE) * HUGE_PAGE
    region = mmap.mmap(-1, span + HUGE_PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    raw = np.frombuffer(region, np.uint8)
    offset = -raw.ctypes.data % HUGE_PAGE
    try:
        # Whole huge pages only: a tail shorter than one stays in small pages, so the memory
        # resident never exceeds the nbytes the pool and the memory bound count.
        region.madvise(mmap.MADV_HUGEPAGE, offset, nbytes // HUGE_PAGE * HUGE_PAGE)
    except OSError:  # refused (a container's seccomp, an old kernel): plain pages
        pass
    return raw[offset : offset + count * dt.itemsize].view(dt)


class BufferPool:
    """The free snapshot buffers of this process, by ``(nbytes, dtype.str)`` (thread-safe)."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._free: dict[tuple[int, str], list[np.ndarray]] = {}
        self.free_bytes = 0  # bytes of the free buffers (read without the lock: a snapshot)
        # One daemon keeper thread, started on first use and woken by _kick (a timer thread per
        # close cost 0.25 ms), runs the pending idle release, (monotonic deadline, writer_open),
        # and faults in the buffers closed writers still wanted, (nbytes, dtype, cap), while no
        # writer is busy (busy()).
        self._due: tuple[float, Callable[[], bool]] | None = None
        self._fills: deque[tuple[int, str, int]] = deque()
        self._filling = False  # the keeper is faulting one in (popped from _fills, not given yet)
        self._cleared = 0  # clear() calls: a fill that started before one is dropped
        self._busy: Callable[[], bool] | None = None
        self._kick = Flag()
        self._keeper: threading.Thread | None = None

    def take(self, nbytes: int, dtype: str) -> np.ndarray | None:
        """A free buffer of ``nbytes`` bytes of ``dtype`` (removed from the pool), or ``None``."""
        with self._lock:
            free = self._free.get((nbytes, dtype))
            if not free:
                return None
            self.free_bytes -= nbytes
            return free.pop()

    def room(self, nbytes: int, cap: int) -> bool:
        """Whether ``nbytes`` more free bytes fit: at most ``min(POOL_BYTES, cap)`` in all."""
        return self.free_bytes + nbytes <= min(POOL_BYTES, cap)

    def give(self, buffer: np.ndarray, cap: int) -> bool:
        """Keep ``buffer`` (no longer used by anyone) for reuse, if :meth:`room` allows; whether kept.

        A buffer already free (given twice) is not added again.
        """
        key = (buffer.nbytes, buffer.dtype.str)
        with self._lock:
            if not self.room(buffer.nbytes, cap):
                return False
            free = self._free.setdefault(key, [])
            if any(b is buffer for b in free):
                return True
            free.append(buffer)
            self.free_bytes += buffer.nbytes
            return True

    def clear(self) -> None:
        """Release every free buffer (each is unmapped once nothing refers to it); cancel a pending release and fills."""
        with self._lock:
            self._free.clear()
            self.free_bytes = 0
            self._due = None
            self._fills.clear()
            self._cleared += 1

    def release_later(self, writer_open: Callable[[], bool], delay: float | None = None) -> None:
        """Clear the pool in ``delay`` (default :data:`IDLE_SECS`) seconds unless ``writer_open()`` then.

        Called when the last open writer closes; a later call replaces the pending one.
        The wait runs on the pool's keeper thread (one daemon thread, started on first use).
        """
        due = (time.monotonic() + (IDLE_SECS if delay is None else delay), writer_open)
        with self._lock:
            self._due = due
        self._wake_keeper()

    def fill_later(self, wanted: list[tuple[int, str]], cap: int, busy: Callable[[], bool]) -> None:
        """Fault in the ``(nbytes, dtype)`` buffers a closing writer still wanted, on the keeper thread.

        A writer's own thread fills the buffers it asks for only while idle, which a writer
        closed right after a burst never is: without this the pool of a process that opens a
        writer per burst (or per phase) grew by about one buffer per writer. Each fill waits
        until ``busy()`` is false (no writer thread is writing or woken to: the fills do not
        compete with a burst), and keeps within :meth:`room` for ``cap``; :meth:`clear` drops
        the rest.
        """
        with self._lock:
            self._fills.extend((nbytes, dtype, cap) for nbytes, dtype in wanted)
            self._busy = busy
        self._wake_keeper()

    @property
    def fills_pending(self) -> bool:
        """Whether the keeper has buffers left to fault in (queued, or one under way)."""
        return bool(self._fills) or self._filling

    def _wake_keeper(self) -> None:
        with self._lock:  # started under the lock: two callers never start two keepers
            keeper = self._keeper
            if keeper is None or not keeper.is_alive():
                self._keeper = threading.Thread(target=self._keep, name="anyboard-pool", daemon=True)
                self._keeper.start()
                return
        self._kick.set()

    def _keep(self) -> None:
        """The keeper thread: the pending release when it is due (a later one replaces it), fills meanwhile."""
        retry = _BUSY_RETRY
        while True:
            self._kick.clear()  # before reading the state: a call after this sets it again
            with self._lock:
                due = self._due
                fill = self._fills[0] if self._fills else None
                busy = self._busy
            now = time.monotonic()
            if due is not None and due[0] <= now:
                with self._lock:
                    if self._due is not due:
                        continue  # replaced or cancelled meanwhile
                    self._due = None
                self._release_if_idle(due[1])
                continue
            if fill is not None:
                if busy is not None and busy():
                    self._kick.wait(retry if due is None else min(retry, due[0] - now))
                    retry = min(2 * retry, _BUSY_RETRY_MAX)  # a long busy stretch is polled less and less
                    continue
                retry = _BUSY_RETRY
                with self._lock:
                    if not self._fills or self._fills[0] is not fill:
                        continue  # cleared meanwhile
                    self._fills.popleft()
                    self._filling, cleared = True, self._cleared
                try:
                    nbytes, dtype, cap = fill
                    if self.room(nbytes, cap):
                        buffer = filled_buffer(nbytes, dtype)
                        with self._lock:
                            keep = self._cleared == cleared  # not after a clear() (memory pressure, release)
                        if keep:
                            self.give(buffer, cap)
                except (MemoryError, OSError):  # the pool is only a speed-up
                    self.clear()
                finally:
                    self._filling = False
                continue
            self._kick.wait(None if due is None else due[0] - now)

    def _release_if_idle(self, writer_open: Callable[[], bool]) -> None:
        if not writer_open():
            self.clear()

    def after_fork(self) -> None:
        """In a forked child: start empty (the parent's buffers and lock are not the child's)."""
        self._reset()


POOL = BufferPool()
"""The process's pool of free snapshot buffers, shared by every writer."""

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=POOL.after_fork)
