"""Snapshot buffers for large arrays: one pool per process, shared by every writer.

A large ``add_histogram`` that the caller does not bin itself (custom bins, or no compiled
binning) copies its array into a *snapshot buffer* (a 1-D NumPy array of the same dtype and
byte size) and queues it; the writer thread bins the snapshot and hands the buffer back.
Copying into a warm buffer (pages already mapped) costs about 0.05 ns per byte; a fresh
buffer first faults its pages in: about 1.4 ms per 4 MB in 4 KiB pages on the benchmark VM,
0.13-0.2 ms in 2 MiB pages (but ~10 ms where the VM's host must first back memory the guest
never touched, or where the kernel must compact memory to find huge pages).

So buffers are:

- **in huge pages** where the kernel offers transparent huge pages
  (``/sys/kernel/mm/transparent_hugepage/enabled`` is ``always`` or ``madvise``): an
  anonymous ``mmap`` aligned to 2 MiB and advised ``MADV_HUGEPAGE`` (:func:`new_buffer`;
  NumPy's own huge-page advice starts at 4 MiB, above a 1e6-value float32 array). A caller
  that finds no free buffer copies into a fresh one (:func:`fresh_copy`), unless huge pages
  turned out slow (:class:`HugePages` backs off; the caller then copies into plain pages);
- **recycled across writers**: the free ones are kept in one process-wide
  :class:`BufferPool` (:data:`POOL`), so a fresh writer (a training job opens one
  per run or per phase) finds the buffers an earlier one left.

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
the memory is ready and ~1.4 ms in 4 KiB pages) backs off (see :class:`HugePages`)."""
BACKOFF = 16
"""Huge-page allocations skipped after the first slow one (doubled after each further slow one)."""


class HugePages:
    """Whether to allocate the next buffer in huge pages: yes, except after slow ones.

    Faulting huge pages in is cheap (0.13-0.2 ms per 4 MB on the benchmark VM, ~10x less than
    4 KiB pages) unless the kernel must compact memory for them or, in a virtual machine, the
    host must first back memory the guest never touched or reported free (~10 ms per 4 MB seen
    on the benchmark VM). After such a slow one the next :data:`BACKOFF` allocations use no
    huge page (:func:`fresh_copy` declines, and the caller copies into plain pages), then one
    is tried again; the back-off doubles after each slow try and is reset by a fast one.

    The first try in a process is a caller's fresh copy: nothing faults buffers in ahead of
    the callers any more (the writer thread did, before the large histograms with
    TensorFlow's buckets were binned on the caller), so gating the callers on a fast try
    made elsewhere would keep them off huge pages for good. A miss costs the caller a fault
    either way (~1.4 ms per 4 MB in 4 KiB pages); a slow huge-page try costs ~10 ms once,
    then the back-off keeps the next ones in plain pages.
    """

    skip = 0 if _HUGE else -1  # allocations still to skip; -1: never (no huge pages here)
    backoff = BACKOFF

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


def fresh_copy(array: np.ndarray) -> np.ndarray | None:
    """A copy of ``array`` (native byte order) in a fresh huge-page buffer (1-D), or ``None``.

    ``None`` below :data:`HUGE_MIN` bytes, where huge pages are not offered, and while
    :class:`HugePages` backs off (the caller then copies into plain pages, faulting them in at
    ~1.4 ms per 4 MB, against ~0.4 ms for a fresh huge-page copy and 0.2 ms for a warm one).
    """
    if array.nbytes < HUGE_MIN or not HugePages.now():
        return None
    try:
        buffer = new_buffer(array.nbytes, array.dtype.str)
    except (MemoryError, OSError):  # mmap refused (ENOMEM under a memory limit): plain pages
        HugePages.record(int(SLOW_NS_PER_BYTE * array.nbytes) + 1, array.nbytes)  # back off as after a slow one
        return None
    start = time.thread_time_ns()
    np.copyto(buffer.reshape(array.shape), array)
    HugePages.record(time.thread_time_ns() - start, array.nbytes)
    return buffer


def new_buffer(nbytes: int, dtype: str) -> np.ndarray:
    """A new 1-D array of ``nbytes // itemsize`` values of ``dtype``, its pages not faulted in yet.

    From :data:`HUGE_MIN` bytes on, where huge pages are offered, it lies in an
    anonymous ``mmap`` aligned to :data:`HUGE_PAGE` and advised ``MADV_HUGEPAGE`` (the map is
    unmapped when the array is freed; up to 2 MiB of address space, never touched, is spare).
    Otherwise it comes from ``numpy.empty``.
    """
    dt = np.dtype(dtype)
    count = nbytes // dt.itemsize
    if not _HUGE or nbytes < HUGE_MIN:
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
        # close cost 0.25 ms), runs the pending idle release, (monotonic deadline, writer_open).
        self._due: tuple[float, Callable[[], bool]] | None = None
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
        """Release every free buffer (each is unmapped once nothing refers to it); cancel a pending release."""
        with self._lock:
            self._free.clear()
            self.free_bytes = 0
            self._due = None

    def release_later(self, writer_open: Callable[[], bool], delay: float | None = None) -> None:
        """Clear the pool in ``delay`` (default :data:`IDLE_SECS`) seconds unless ``writer_open()`` then.

        Called when the last open writer closes; a later call replaces the pending one.
        The wait runs on the pool's keeper thread (one daemon thread, started on first use).
        """
        due = (time.monotonic() + (IDLE_SECS if delay is None else delay), writer_open)
        with self._lock:
            self._due = due
        self._wake_keeper()

    def _wake_keeper(self) -> None:
        with self._lock:  # started under the lock: two callers never start two keepers
            keeper = self._keeper
            if keeper is None or not keeper.is_alive():
                self._keeper = threading.Thread(target=self._keep, name="anyboard-pool", daemon=True)
                self._keeper.start()
                return
        self._kick.set()

    def _keep(self) -> None:
        """The keeper thread: the pending release when it is due (a later one replaces it)."""
        while True:
            self._kick.clear()  # before reading the state: a call after this sets it again
            with self._lock:
                due = self._due
            now = time.monotonic()
            if due is not None and due[0] <= now:
                with self._lock:
                    if self._due is not due:
                        continue  # replaced or cancelled meanwhile
                    self._due = None
                self._release_if_idle(due[1])
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
