"""The process-wide pool of snapshot buffers (anyboard.io.buffer_pool): shared, bounded, released, fork-safe."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest
from watchdog import frequent_thread_switches, wait_for

import anyboard
from anyboard.io import background as bg
from anyboard.io import buffer_pool as bp
from anyboard.io.background import BackgroundWriter
from anyboard.io.buffer_pool import POOL, BufferPool
from anyboard.io.stream import POOL_BYTES

F32 = np.dtype(np.float32).str
MIB = 1 << 20


def test_a_fresh_writer_finds_the_buffers_an_earlier_writer_left(tmp_path):
    data = np.arange(1 << 18, dtype=np.float32)  # 1 MiB: a pooled snapshot
    first = anyboard.SummaryWriter(str(tmp_path / "a"))
    first._core.want_buffer(data.nbytes, F32, 3)
    first.add_scalar("s", 1.0, 0)  # starts the writer thread, which faults the wanted buffers in
    first.flush()
    wait_for(lambda: POOL.free_bytes == 3 * data.nbytes)
    left = {id(b) for b in POOL._free[(data.nbytes, F32)]}
    first.close()
    assert POOL.free_bytes == 3 * data.nbytes  # closing the writer keeps them for the next one

    second = anyboard.SummaryWriter(str(tmp_path / "b"))
    buffer = second._core.take_buffer(data.nbytes, F32)
    assert buffer is not None and id(buffer) in left
    second._core.give_buffer(buffer)
    for i in range(3):  # copies into the earlier writer's buffers (edges of its own: a snapshot)
        second.add_histogram("h", data * (i + 1), i, bins=64)
    assert POOL.free_bytes < 3 * data.nbytes
    second.close()
    events = [e for e in anyboard.iter_run_events(str(tmp_path / "b")) if e.summary.value]
    assert [e.step for e in events] == [0, 1, 2]
    wait_for(lambda: POOL.free_bytes == 3 * data.nbytes)  # handed back after binning


def test_the_pool_is_bounded_by_pool_bytes_and_the_returning_writers_cap():
    pool = BufferPool()
    small = [np.empty(MIB // 4, np.float32) for _ in range(6)]
    assert sum(pool.give(b, cap=4 * MIB) for b in small) == 4  # a writer's cap: max_pending_bytes // 4
    assert pool.free_bytes == 4 * MIB
    big = np.empty(POOL_BYTES // 4, np.float32)  # POOL_BYTES in one buffer
    assert not pool.give(big, cap=1 << 40)  # the process-wide cap holds whatever the writer's
    pool.clear()
    assert pool.give(big, cap=1 << 40) and pool.free_bytes == POOL_BYTES
    assert not pool.give(small[0], cap=1 << 40)


def test_free_buffers_count_against_a_writer_up_to_its_cap_and_go_first_when_it_is_full():
    core = BackgroundWriter(max_pending_bytes=16 * MIB)  # cap: 4 MiB
    assert core._pending_bytes() == 0
    for _ in range(4):
        POOL.give(np.empty(MIB // 4, np.float32), cap=64 * MIB)  # left by a writer with a larger cap
    for _ in range(4):
        POOL.give(np.empty(MIB // 4, np.float32), cap=64 * MIB)
    assert POOL.free_bytes == 8 * MIB
    assert core._pending_bytes() == 4 * MIB  # counted up to this writer's cap
    core._full(0)  # this writer's memory bound reached: the free buffers are released
    assert POOL.free_bytes == 0 and core._pending_bytes() == 0
    core.close()


def test_no_buffer_is_handed_to_two_users_at_once():
    pool = BufferPool()
    buffers = [np.empty(1024, np.float32) for _ in range(4)]
    for b in buffers:
        pool.give(b, cap=MIB)
    assert pool.give(buffers[0], cap=MIB)  # given twice: still one entry
    assert pool.free_bytes == 4 * 4096 and len(pool._free[(4096, F32)]) == 4

    in_use: set[int] = set()
    lock = threading.Lock()
    clashes = []
    takes = [0]

    def user() -> None:
        for _ in range(2000):
            b = pool.take(4096, F32)
            if b is None:
                continue
            with lock:
                takes[0] += 1
                if id(b) in in_use:
                    clashes.append(id(b))
                in_use.add(id(b))
            b[:] = 1.0
            with lock:
                in_use.discard(id(b))
            pool.give(b, cap=MIB)

    threads = [threading.Thread(target=user) for _ in range(8)]
    with frequent_thread_switches():
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not clashes and takes[0] > 0
    assert sorted(map(id, pool._free[(4096, F32)])) == sorted(map(id, buffers))
    assert pool.free_bytes == 4 * 4096


@pytest.fixture
def only_these_writers(monkeypatch):
    """The writers other tests left open do not count as open here."""
    import weakref

    monkeypatch.setattr(bg, "_ALL", weakref.WeakSet())


def test_the_free_buffers_are_released_after_the_last_writer_closes(tmp_path, monkeypatch, only_these_writers):
    monkeypatch.setattr(bp, "IDLE_SECS", 0.05)
    w = anyboard.SummaryWriter(str(tmp_path / "a"))
    other = anyboard.SummaryWriter(str(tmp_path / "b"))
    POOL.give(np.empty(MIB // 4, np.float32), cap=64 * MIB)
    w.close()  # another writer is still open: nothing is scheduled
    assert POOL._due is None
    time.sleep(0.2)
    assert POOL.free_bytes == MIB
    other.close()  # the last open writer: released IDLE_SECS later
    wait_for(lambda: POOL.free_bytes == 0)


def test_an_idle_release_is_skipped_while_a_writer_is_open(tmp_path, only_these_writers):
    POOL.give(np.empty(MIB // 4, np.float32), cap=64 * MIB)
    w = anyboard.SummaryWriter(str(tmp_path))
    POOL._release_if_idle(bg._any_writer_open)  # a writer opened since the last one closed
    assert POOL.free_bytes == MIB
    w.close()
    POOL._release_if_idle(bg._any_writer_open)
    assert POOL.free_bytes == 0


def test_a_reopened_writer_keeps_the_pool(tmp_path, monkeypatch, only_these_writers):
    monkeypatch.setattr(bp, "IDLE_SECS", 0.05)
    w = anyboard.SummaryWriter(str(tmp_path))
    w.close()
    POOL.give(np.empty(MIB // 4, np.float32), cap=64 * MIB)
    w.add_scalar("s", 1.0, 1)  # reopens the writer before the release is due
    time.sleep(0.3)
    assert POOL.free_bytes == MIB
    w.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_starts_with_an_empty_pool():
    kept = np.full(MIB // 4, 7.0, np.float32)
    POOL.give(kept, cap=64 * MIB)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: none of the parent's buffers, a working pool of its own
        try:
            ok = POOL.free_bytes == 0 and POOL.take(MIB, F32) is None
            mine = np.empty(MIB // 4, np.float32)
            ok = ok and POOL.give(mine, cap=64 * MIB) and POOL.take(MIB, F32) is mine
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 1)
    os.close(read)
    os.waitpid(pid, 0)
    assert answer == b"1"
    assert POOL.free_bytes == MIB and POOL.take(MIB, F32) is kept  # the parent's are untouched


def test_a_huge_page_buffer_is_aligned_and_holds_its_values():
    buffer = bp.new_buffer(4_000_000, F32)
    assert buffer.shape == (1_000_000,) and buffer.dtype == np.float32 and buffer.flags.writeable
    buffer[:] = np.arange(1_000_000, dtype=np.float32)
    assert buffer[-1] == 999_999.0
    if bp._HUGE:
        assert buffer.ctypes.data % bp.HUGE_PAGE == 0  # THP needs 2 MiB-aligned ranges
    small = bp.new_buffer(MIB, F32)
    assert small.shape == (MIB // 4,) and small.dtype == np.float32


def test_huge_pages_back_off_after_a_slow_one_and_come_back_after_a_fast_one(monkeypatch):
    monkeypatch.setattr(bp.HugePages, "skip", 0)
    monkeypatch.setattr(bp.HugePages, "backoff", bp.BACKOFF)
    assert bp.HugePages.now()
    bp.HugePages.record(10**9, 4 * MIB)  # slow: the next BACKOFF allocations use small pages
    assert [bp.HugePages.now() for _ in range(bp.BACKOFF)] == [False] * bp.BACKOFF
    assert bp.HugePages.now()  # then one is tried again
    bp.HugePages.record(10**9, 4 * MIB)  # slow again: twice as long
    assert sum(not bp.HugePages.now() for _ in range(2 * bp.BACKOFF)) == 2 * bp.BACKOFF
    assert bp.HugePages.now()
    monkeypatch.setattr(bp.HugePages, "proven", False)
    bp.HugePages.record(0, 4 * MIB)  # fast: the back-off starts over, and callers may try fresh copies
    assert bp.HugePages.backoff == bp.BACKOFF and bp.HugePages.now() and bp.HugePages.proven


def test_a_fresh_copy_is_exact_and_declines_while_huge_pages_back_off(monkeypatch):
    monkeypatch.setattr(bp.HugePages, "skip", 0)
    monkeypatch.setattr(bp.HugePages, "backoff", bp.BACKOFF)
    monkeypatch.setattr(bp, "_HUGE", True)
    monkeypatch.setattr(bp.HugePages, "proven", False)
    x = np.random.default_rng(1).standard_normal((1000, 1000)).astype(np.float32)
    assert bp.fresh_copy(x) is None  # no huge page was fast yet: the caller risks none
    monkeypatch.setattr(bp.HugePages, "proven", True)
    copy = bp.fresh_copy(x)
    assert copy is not None and copy.shape == (x.size,) and copy.dtype == x.dtype
    np.testing.assert_array_equal(copy, x.ravel())
    assert bp.fresh_copy(x[:10]) is None  # under HUGE_MIN: the caller's other paths
    monkeypatch.setattr(bp.HugePages, "skip", 3)
    assert bp.fresh_copy(x) is None and bp.HugePages.skip == 2


def test_histograms_through_fresh_copies_and_warm_buffers_are_exact(tmp_path, monkeypatch):
    from anyboard.summary import histogram as h

    monkeypatch.setattr(bp.HugePages, "skip", 0)
    monkeypatch.setattr(bp.HugePages, "proven", True)
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal(1 << 20).astype(np.float32) * (i + 1) for i in range(6)]
    for run in ("a", "b"):  # the second writer reuses the first one's buffers
        w = anyboard.SummaryWriter(str(tmp_path / run), summary_format="tensor")
        for i, x in enumerate(arrays):
            w.add_histogram("h", x, i)
        w.close()
    for run in ("a", "b"):
        events = [e for e in anyboard.iter_run_events(str(tmp_path / run)) if e.summary.value]
        assert [e.step for e in events] == list(range(6))
        for e, x in zip(events, arrays):
            rows = np.frombuffer(e.summary.value[0].tensor.tensor_content, "<f8").reshape(-1, 3)
            np.testing.assert_array_equal(rows, h.bucket_rows(x))


def test_an_allocation_refused_with_oserror_neither_kills_the_writer_thread_nor_reaches_the_caller(
    tmp_path, monkeypatch
):
    """mmap reports ENOMEM as OSError, not MemoryError: the pool gives up and the writer goes on."""
    import errno

    def refused(*args, **kwargs):
        raise OSError(errno.ENOMEM, "Cannot allocate memory")

    monkeypatch.setattr(bp, "new_buffer", refused)
    monkeypatch.setattr(bp.HugePages, "proven", True)  # the caller would try a fresh copy
    monkeypatch.setattr(bp.HugePages, "skip", 0)
    data = np.linspace(-1, 1, 1 << 20, dtype=np.float32)  # 4 MiB: above HUGE_MIN
    w = anyboard.SummaryWriter(str(tmp_path))
    try:
        w._core.want_buffer(data.nbytes, F32, 2)
        for step in range(3):
            w.add_histogram("h", data, step)  # fresh_copy declines: binned on the spot
        w.flush()
        assert w._core._thread is not None and w._core._thread.is_alive()
    finally:
        w.close()
    steps = [e.step for e in anyboard.iter_run_events(str(tmp_path)) if e.summary.value]
    assert steps == [0, 1, 2]


def test_one_keeper_thread_runs_the_idle_releases(only_these_writers):
    # Each last close() schedules a release: one daemon thread serves them all (a thread per
    # close cost 0.25 ms of close()); a later schedule replaces the pending one, clear() cancels it.
    def keepers() -> int:
        return sum(t.name == "anyboard-pool" and t.is_alive() for t in threading.enumerate())

    for _ in range(3):
        POOL.release_later(lambda: False, delay=30)
    assert keepers() == 1
    POOL.give(np.empty(MIB // 4, np.float32), cap=64 * MIB)
    POOL.release_later(lambda: False, delay=0.05)  # replaces the one due in 30 s
    wait_for(lambda: POOL.free_bytes == 0)
    POOL.release_later(lambda: False, delay=0.05)
    POOL.clear()  # cancels it: what is given afterwards stays
    POOL.give(np.empty(MIB // 4, np.float32), cap=64 * MIB)
    time.sleep(0.3)
    assert POOL.free_bytes == MIB and keepers() == 1
    POOL.clear()


def test_buffers_a_closed_writer_still_wanted_are_filled_on_the_keeper(tmp_path, monkeypatch, only_these_writers):
    # A writer closed right after a burst never had an idle moment to fault in the buffers it
    # asked for; the pool's keeper does, once no writer is busy, so the next writer finds them.
    POOL.clear()
    busy = [True]
    monkeypatch.setattr(bg, "_any_writer_busy", lambda: busy[0])
    w = anyboard.SummaryWriter(str(tmp_path))
    w._core.want_buffer(MIB, F32, 2)
    w.close()
    time.sleep(0.1)
    assert POOL.free_bytes == 0  # a writer is busy: the fills wait
    busy[0] = False
    wait_for(lambda: POOL.free_bytes == 2 * MIB)
    assert POOL.take(MIB, F32) is not None and POOL.take(MIB, F32) is not None
    POOL.clear()


def test_fills_wait_for_a_writing_writer_but_not_for_an_idle_one_and_are_released(
    tmp_path, monkeypatch, only_these_writers
):
    # A writer with a few scalars queued below max_queue is idle (its thread is not woken for
    # them): fills go ahead. What the keeper fills after the last close is released too (the
    # close found no free buffer yet, only fills to come).
    monkeypatch.setattr(bp, "IDLE_SECS", 0.2)
    POOL.clear()
    idle = anyboard.SummaryWriter(str(tmp_path / "idle"), max_queue=100, flush_secs=3600)
    idle.add_scalar("s", 1.0, 0)
    idle.flush()
    idle.add_scalar("s", 2.0, 1)  # queued, below max_queue: the thread sleeps on
    assert not bg._any_writer_busy()
    closing = anyboard.SummaryWriter(str(tmp_path / "closing"))
    closing._core.want_buffer(MIB, F32, 2)
    closing.close()
    wait_for(lambda: POOL.free_bytes == 2 * MIB)  # filled while `idle` stays open
    POOL.clear()
    closing = anyboard.SummaryWriter(str(tmp_path / "again"))
    closing._core.want_buffer(MIB, F32, 2)
    monkeypatch.setattr(bp, "filled_buffer", _slow_fill)  # the fills are still under way at the last close
    closing.close()
    idle.close()  # the last open writer: nothing free yet, fills pending
    wait_for(lambda: POOL.free_bytes == 2 * MIB or not POOL.fills_pending)
    wait_for(lambda: POOL.free_bytes == 0 and not POOL.fills_pending)  # released IDLE_SECS later


def test_a_closing_writers_last_drain_counts_as_busy(tmp_path, only_these_writers):
    # close() waits on the thread's last drain: a fill beside it (~1.4 ms per 4 MB) would take a
    # core from that drain. Its writer counts as busy until its thread has ended (it did not once
    # close() had begun); a writer with no live thread never counts (a forked child, a late
    # wake-up, a writer closed and reopened unused), or the keeper would wait on it for good.
    gate, entered = threading.Event(), threading.Event()

    def held(_):
        entered.set()
        gate.wait(10)
        return b""

    w = anyboard.SummaryWriter(str(tmp_path))
    w._emit("held", held, (None,))
    closing = threading.Thread(target=w.close)
    closing.start()
    try:
        assert entered.wait(10)
        assert w._core._closed and bg._any_writer_busy()
        if hasattr(os, "fork"):
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child's result is its exit status
                os._exit(0 if not bg._any_writer_busy() else 1)
            assert os.waitpid(pid, 0)[1] == 0
    finally:
        gate.set()
        closing.join(10)
    assert not closing.is_alive() and not bg._any_writer_busy()
    w._core._wake.set()  # a wake-up that came after the thread's last look: no thread, not busy
    assert not bg._any_writer_busy()
    unused = anyboard.SummaryWriter(str(tmp_path / "unused"))
    unused.close()  # sets the wake-up flag for a thread that never started
    unused._core.reopen()
    assert not bg._any_writer_busy()
    unused.close()


def _slow_fill(nbytes: int, dtype: str) -> np.ndarray:
    time.sleep(0.05)
    return np.zeros(nbytes // np.dtype(dtype).itemsize, dtype)
