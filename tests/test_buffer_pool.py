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
    data = np.arange(1 << 18, dtype=np.float32)  # 1 MiB with edges of its own: a pooled snapshot
    first = anyboard.SummaryWriter(str(tmp_path / "a"))
    first.add_histogram("h", data, 0, bins=64)  # no free buffer: a fresh snapshot, handed back once binned
    first.flush()
    assert POOL.free_bytes == data.nbytes
    for _ in range(2):  # as a burst whose snapshots were binned side by side would leave
        first._core.give_buffer(np.empty(data.size, np.float32))
    assert POOL.free_bytes == 3 * data.nbytes
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
    assert bp.HugePages.now() and bp.HugePages.backoff == 4 * bp.BACKOFF
    bp.HugePages.record(0, 4 * MIB)  # fast: the back-off starts over
    assert bp.HugePages.backoff == bp.BACKOFF and bp.HugePages.now()


def test_a_fresh_copy_is_exact_and_declines_while_huge_pages_back_off(monkeypatch):
    monkeypatch.setattr(bp.HugePages, "skip", 0)
    monkeypatch.setattr(bp.HugePages, "backoff", bp.BACKOFF)
    monkeypatch.setattr(bp, "_HUGE", True)
    x = np.random.default_rng(1).standard_normal((1000, 1000)).astype(np.float32)
    copy = bp.fresh_copy(x)  # the first try is the caller's: nothing faults buffers in ahead of it
    assert copy is not None and copy.shape == (x.size,) and copy.dtype == x.dtype
    np.testing.assert_array_equal(copy, x.ravel())
    assert bp.fresh_copy(x[:10]) is None  # under HUGE_MIN: the caller's other paths
    monkeypatch.setattr(bp.HugePages, "skip", 3)
    assert bp.fresh_copy(x) is None and bp.HugePages.skip == 2


def test_histograms_through_fresh_copies_and_warm_buffers_are_exact(tmp_path, monkeypatch):
    from anyboard._methods import core as core_methods
    from anyboard.summary import histogram as h

    monkeypatch.setattr(bp.HugePages, "skip", 0 if bp._HUGE else -1)
    monkeypatch.setattr(bp.HugePages, "backoff", bp.BACKOFF)
    copies, taken = [], []
    fresh, take = core_methods.fresh_copy, BackgroundWriter.take_buffer
    monkeypatch.setattr(core_methods, "fresh_copy", lambda a: copies.append(fresh(a)) or copies[-1])
    monkeypatch.setattr(BackgroundWriter, "take_buffer", lambda self, *a: taken.append(take(self, *a)) or taken[-1])
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal(1 << 20).astype(np.float32) * (i + 1) for i in range(6)]  # 4 MiB: above HUGE_MIN
    for run in ("a", "b"):  # the second writer reuses the first one's buffers
        w = anyboard.SummaryWriter(str(tmp_path / run), summary_format="tensor")
        for i, x in enumerate(arrays):
            w.add_histogram("h", x, i, bins=64)  # bins of its own: a snapshot, binned on the writer thread
        w.close()
    if bp._HUGE:  # the first miss tried a fresh huge-page copy (a slow one backs off the next ones)
        assert copies[0] is not None
    assert taken[6] is not None  # the second writer's first call found a warm buffer
    for run in ("a", "b"):
        events = [e for e in anyboard.iter_run_events(str(tmp_path / run)) if e.summary.value]
        assert [e.step for e in events] == list(range(6))
        for e, x in zip(events, arrays):
            rows = np.frombuffer(e.summary.value[0].tensor.tensor_content, "<f8").reshape(-1, 3)
            np.testing.assert_array_equal(rows, h.bucket_rows(x, 64))


def test_an_allocation_refused_with_oserror_does_not_reach_the_caller_and_backs_off(tmp_path, monkeypatch):
    """mmap reports ENOMEM as OSError, not MemoryError: the caller copies into plain pages and goes on."""
    import errno

    def refused(*args, **kwargs):
        raise OSError(errno.ENOMEM, "Cannot allocate memory")

    monkeypatch.setattr(bp, "new_buffer", refused)
    monkeypatch.setattr(bp.HugePages, "skip", 0)  # the caller tries a fresh copy
    monkeypatch.setattr(bp.HugePages, "backoff", bp.BACKOFF)
    data = np.linspace(-1, 1, 1 << 20, dtype=np.float32)  # 4 MiB: above HUGE_MIN
    w = anyboard.SummaryWriter(str(tmp_path))
    try:
        for step in range(3):  # bins of its own: a snapshot; fresh_copy declines, plain pages instead
            w.add_histogram("h", data, step, bins=64)
        w.flush()
        assert bp.HugePages.skip > 0  # refused: backed off as after a slow one
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
