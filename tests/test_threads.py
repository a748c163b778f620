"""anyboard._threads: the helper threads a writer borrows while a caller waits."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from anyboard import _threads


def test_threads_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANYBOARD_BIN_THREADS", raising=False)
    monkeypatch.setenv("ANYBOARD_THREADS", "3")
    assert _threads._configured_threads() == 3
    monkeypatch.setenv("ANYBOARD_THREADS", "0")
    assert _threads._configured_threads() == 1  # no helpers
    for bad in ("-2", "many"):
        monkeypatch.setenv("ANYBOARD_THREADS", bad)
        with pytest.raises(ValueError, match="ANYBOARD_THREADS must be a non-negative integer"):
            _threads._configured_threads()
    monkeypatch.delenv("ANYBOARD_THREADS")
    assert 1 <= _threads._configured_threads() <= 4
    monkeypatch.setenv("ANYBOARD_BIN_THREADS", "2")  # the older name still counts
    assert _threads._configured_threads() == 2
    monkeypatch.setenv("ANYBOARD_THREADS", "5")  # the new name wins
    assert _threads._configured_threads() == 5


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_call_all_runs_each_call_once_and_keeps_the_order(monkeypatch: pytest.MonkeyPatch, threads: int) -> None:
    monkeypatch.setattr(_threads, "THREADS", threads)
    monkeypatch.setattr(_threads, "_pool", None)
    runs: list[int] = []
    where: set[int] = set()
    holder: list[int] = []
    helper_ran = threading.Event()

    def square(i: int) -> int:
        ident = threading.get_ident()
        runs.append(i)
        where.add(ident)
        if i == 0:
            holder.append(ident)
            if threads > 1:  # hold the first call until another thread has taken one: no timing luck
                assert helper_ran.wait(30), "no helper thread took a call"
        elif holder and ident != holder[0]:
            helper_ran.set()
        return i * i

    out = _threads.call_all([(square, (i,)) for i in range(12)])
    assert out == [(True, i * i) for i in range(12)]
    assert sorted(runs) == list(range(12))
    assert (len(where) > 1) == (threads > 1)  # helpers took part only when there are any


def test_call_all_hands_back_each_failure_in_its_place(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_threads, "THREADS", 3)

    def maybe(i: int) -> int:
        if i % 3 == 1:
            raise ValueError(f"bad {i}")
        return i

    out = _threads.call_all([(maybe, (i,)) for i in range(7)])
    for i, (ok, value) in enumerate(out):
        if i % 3 == 1:
            assert not ok and isinstance(value, ValueError) and str(value) == f"bad {i}"
        else:
            assert ok and value == i


def test_call_all_runs_everything_here_when_the_pool_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    class Refusing:
        def submit(self, fn, *args):
            raise RuntimeError("cannot schedule new futures after interpreter shutdown")

    monkeypatch.setattr(_threads, "THREADS", 4)
    monkeypatch.setattr(_threads, "helper_pool", lambda: Refusing())
    here = threading.get_ident()
    out = _threads.call_all([(threading.get_ident, ()) for _ in range(5)])
    assert out == [(True, here)] * 5


def test_call_all_takes_back_calls_a_busy_pool_has_not_started(monkeypatch: pytest.MonkeyPatch) -> None:
    # The only helper is blocked: call_all must not wait behind it for the calls it queued.
    pool = ThreadPoolExecutor(1)
    release = threading.Event()
    blocker = pool.submit(release.wait, 30)
    monkeypatch.setattr(_threads, "THREADS", 2)
    monkeypatch.setattr(_threads, "helper_pool", lambda: pool)
    here = threading.get_ident()
    try:
        out = _threads.call_all([(threading.get_ident, ()) for _ in range(4)])
        assert out == [(True, here)] * 4
        assert not blocker.done()
    finally:
        release.set()
        pool.shutdown()


def test_call_all_waits_for_the_helpers_before_an_interrupt_propagates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_threads, "THREADS", 2)
    monkeypatch.setattr(_threads, "_pool", None)
    started, finished = threading.Event(), threading.Event()

    def helper_work() -> None:
        started.set()
        time.sleep(0.1)
        finished.set()

    def interrupt() -> None:
        assert started.wait(10)  # the helper is running the other call
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _threads.call_all([(interrupt, ()), (helper_work, ())])
    assert finished.is_set()  # no helper still ran a call when call_all returned


def test_each_call_runs_once_when_the_pool_queues_a_call_and_then_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    # ThreadPoolExecutor.submit queues the call before it starts a thread; if that start fails
    # ("can't start new thread"), the call is queued and still runs later. call_all runs it
    # here too, so each call must be claimed by one thread only.
    class QueuesThenRefuses:
        def __init__(self) -> None:
            self.inner = ThreadPoolExecutor(1)
            self.queued = []
            self.release = threading.Event()
            self.inner.submit(self.release.wait, 30)  # the queued copies start only after call_all

        def submit(self, fn, *args):
            self.queued.append(self.inner.submit(fn, *args))
            raise RuntimeError("can't start new thread")

    pool = QueuesThenRefuses()
    monkeypatch.setattr(_threads, "THREADS", 2)
    monkeypatch.setattr(_threads, "helper_pool", lambda: pool)
    runs: list[int] = []
    out = _threads.call_all([(runs.append, (i,)) for i in range(4)])
    pool.release.set()
    for f in pool.queued:
        f.result(10)  # the queued copy ran, and found its call taken
    pool.inner.shutdown()
    assert out == [(True, None)] * 4 and sorted(runs) == [0, 1, 2, 3]
