"""One writer, many threads: every event written exactly once, in each thread's order, and no hang.

Each test here could fail on the code before the writer's thread start was made race-free and
``flush()`` became a barrier (two writer threads draining one file duplicated, reordered and lost
events; ``close()`` waited forever in ``join``; ``flush()`` never returned while another thread kept
logging). Every wait has a watchdog: a hang dumps every thread's stack and fails the test instead of
blocking CI. Trials repeat because the races need several tries to show on 2 cores.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from watchdog import ctrl_c_storm, frequent_thread_switches, no_hang

import anyboard
from anyboard import SummaryWriter
from anyboard._methods import core as core_methods
from anyboard.io import records
from anyboard.io import stream as st

WATCHDOG_S = 60.0
"""A call that has not returned after this long is a hang (the healthy calls take well under a second)."""


@pytest.fixture(params=["compiled", "fallback"])
def paths(request, monkeypatch):
    """Run a test through the compiled helpers and through their Python fallbacks."""
    if request.param == "fallback":
        monkeypatch.setattr(st, "_native_take_run", None)
        monkeypatch.setattr(core_methods, "_native_columns", None)
        monkeypatch.setattr(records, "_native_frame_rows", None)
    return request.param


def _event_files(logdir: str) -> dict[str, list[Path]]:
    """Event files per run directory (relative path, '.' for the root), in name order."""
    runs: dict[str, list[Path]] = defaultdict(list)
    for path in sorted(Path(logdir).rglob("events.out.tfevents.*")):
        runs[os.path.relpath(path.parent, logdir)].append(path)
    return runs


def _values(logdir: str) -> dict[str, list[tuple[str, int]]]:
    """``(tag, step)`` of every summary value per run, in the order the files hold them."""
    out: dict[str, list[tuple[str, int]]] = {}
    for run, files in _event_files(logdir).items():
        seen: list[tuple[str, int]] = []
        for path in files:
            for event in anyboard.iter_events(path):
                seen.extend((value.tag, event.step) for value in event.summary.value)
        out[run] = seen
    return out


# -- what each thread logs ------------------------------------------------------------------------
IMAGE = np.random.default_rng(0).integers(0, 255, (3, 8, 8), dtype=np.uint8)
HIST = np.random.default_rng(1).normal(size=64).astype(np.float32)
AUDIO = np.linspace(-1, 1, 200, dtype=np.float32)


def _log(writer: SummaryWriter, thread: int, kind: str, seq: int) -> tuple[str, str]:
    """Log one event of ``kind`` at step ``seq``; return ``(run, tag)`` where it must appear."""
    tag = f"t{thread}/{kind}"
    if kind == "scalar":
        writer.add_scalar(tag, float(seq), seq)
    elif kind == "scalars":
        writer.add_scalars(tag, {"a": float(seq)}, seq)
        return f"{tag.replace('/', '_')}_a", tag
    elif kind == "histogram":
        writer.add_histogram(tag, HIST + seq, seq)
    elif kind == "image":
        writer.add_image(tag, IMAGE, seq)
    elif kind == "text":
        writer.add_text(tag, f"text {seq}", seq)
    elif kind == "tensor":
        writer.add_tensor(tag, np.arange(4, dtype=np.float32) + seq, seq)
    elif kind == "audio":
        writer.add_audio(tag, AUDIO, seq, sample_rate=8000)
    elif kind == "pr_curve":
        writer.add_pr_curve(tag, np.array([0, 1, 1, 0]), np.array([0.1, 0.9, 0.8, 0.3]), seq, num_thresholds=5)
    else:  # pragma: no cover - a kind this test does not know
        raise AssertionError(kind)
    return ".", tag


KINDS = ("scalar", "scalars", "histogram", "image", "text", "tensor", "audio", "pr_curve")


def _producer(writer, thread, calls, barrier, kinds, log):
    barrier.wait()
    for seq in range(calls):
        log.append(_log(writer, thread, kinds[(thread + seq) % len(kinds)], seq))


def _flusher(writer, barrier):
    barrier.wait()
    for _ in range(5):
        writer.flush()


def _first_call(writer, barrier, i):
    barrier.wait()
    writer.add_scalar(f"s{i}", 1.0, 0)


def _check_exactly_once_in_order(logdir: str, logged: list[list[tuple[str, str]]]) -> None:
    values = _values(logdir)
    expected: dict[tuple[str, str], list[int]] = defaultdict(list)
    for entries in logged:
        for seq, (run, tag) in enumerate(entries):
            expected[(run, tag)].append(seq)
    got: dict[tuple[str, str], list[int]] = defaultdict(list)
    for run, seen in values.items():
        for tag, step in seen:
            got[(run, tag)].append(step)
    missing = {key: sorted(set(steps) - set(got.get(key, ()))) for key, steps in expected.items()}
    missing = {k: v for k, v in missing.items() if v}
    assert not missing, f"accepted events missing after close(): {dict(list(missing.items())[:5])}"
    twice = {key: steps for key, steps in got.items() if len(steps) != len(set(steps))}
    assert not twice, f"events written more than once: {list(twice)[:5]}"
    assert set(got) == set(expected), f"unexpected series: {sorted(set(got) - set(expected))[:5]}"
    disorder = [key for key, steps in got.items() if steps != sorted(steps)]
    assert not disorder, f"a thread's events out of its order: {disorder[:5]}"


@pytest.mark.parametrize("threads", [4, 16, 32])
def test_threads_started_together_write_every_event_once_in_order(tmp_path, paths, threads):
    """N threads start logging at once on a fresh writer (the first-use race), flush and close concurrently."""
    calls = 120 if threads <= 16 else 60
    for trial in range(6):
        logdir = str(tmp_path / f"trial{trial}")
        writer = SummaryWriter(logdir, max_queue=3)
        barrier = threading.Barrier(threads + 2)
        logged: list[list[tuple[str, str]]] = [[] for _ in range(threads)]
        workers = [
            threading.Thread(target=_producer, args=(writer, t, calls, barrier, KINDS, logged[t]), daemon=True)
            for t in range(threads)
        ]

        flushing = threading.Thread(target=_flusher, args=(writer, barrier), daemon=True)
        for worker in [*workers, flushing]:
            worker.start()
        barrier.wait()
        for worker in [*workers, flushing]:
            no_hang(worker.join, WATCHDOG_S, "a logging thread")
            assert not worker.is_alive(), "a logging thread hung"
        closers = [threading.Thread(target=writer.close, daemon=True) for _ in range(4)]
        for closer in closers:
            closer.start()
        for closer in closers:
            no_hang(closer.join, WATCHDOG_S, "concurrent close()")
            assert not closer.is_alive(), "a concurrent close() did not return"
        try:
            _check_exactly_once_in_order(logdir, logged)
        except AssertionError as exc:
            raise AssertionError(f"trial {trial + 1} of 6 with {threads} threads: {exc}") from None


def test_one_writer_thread_however_many_first_calls(tmp_path):
    """However many threads make the first call at once, the writer starts exactly one thread."""
    for trial in range(20):
        writer = SummaryWriter(str(tmp_path / f"t{trial}"))
        writer.close()  # the constructor started a thread; the first calls after close() start the next
        before = {t.ident for t in threading.enumerate()}
        barrier = threading.Barrier(16)

        callers = [threading.Thread(target=_first_call, args=(writer, barrier, i)) for i in range(16)]
        for c in callers:
            c.start()
        for c in callers:
            c.join(WATCHDOG_S)
        started = [t for t in threading.enumerate() if t.ident not in before and t.name == "anyboard-writer"]
        assert len(started) == 1, f"trial {trial}: {len(started)} writer threads for one writer"
        no_hang(writer.close, WATCHDOG_S, "close()")


def test_flush_returns_while_another_thread_logs_flat_out(tmp_path, paths):
    """flush() is a barrier: it returns once what was queued before it is on disk, however busy others are."""
    logdir = str(tmp_path / "busy")
    writer = SummaryWriter(logdir)
    stop = threading.Event()

    def flat_out() -> None:
        i = 0
        while not stop.is_set():
            writer.add_scalar("busy", 1.0, i & 0x3FFFFFF)
            i += 1

    producer = threading.Thread(target=flat_out, daemon=True)
    producer.start()
    try:
        time.sleep(0.2)
        for k in range(3):
            marker = f"marker-{k}-{os.getpid()}"
            writer.add_text(marker, "before the flush", k)
            no_hang(writer.flush, 30, f"flush() #{k} while another thread logs")
            path = writer.event_file_paths()[""]
            assert path is not None
            assert marker.encode() in Path(path).read_bytes(), f"flush #{k} returned before its events were written"
    finally:
        stop.set()
        producer.join(WATCHDOG_S)
        no_hang(writer.close, WATCHDOG_S, "close()")


def test_close_racing_with_logging_threads_loses_nothing_accepted(tmp_path, paths):
    """close() while other threads still log: every call that returned is written exactly once.

    A call after close() logs to the reopened writer (as the peers do), so nothing is refused.
    """
    logdir = str(tmp_path / "race")
    writer = SummaryWriter(logdir, max_queue=2)
    logged: list[list[tuple[str, str]]] = [[] for _ in range(8)]
    barrier = threading.Barrier(9)
    workers = [
        threading.Thread(target=_producer, args=(writer, t, 200, barrier, ("scalar", "text", "image"), logged[t]))
        for t in range(8)
    ]
    for w in workers:
        w.start()
    barrier.wait()
    for _ in range(5):
        no_hang(writer.close, WATCHDOG_S, "close() racing with logging")
        time.sleep(0.002)
    for w in workers:
        no_hang(w.join, WATCHDOG_S, "a logging thread")
    no_hang(writer.close, WATCHDOG_S, "final close()")
    _check_exactly_once_in_order(logdir, logged)


def test_flush_close_reopen_from_many_threads(tmp_path):
    """close(), flush() and reopen() called from many threads at once never hang or raise."""
    writer = SummaryWriter(str(tmp_path / "life"))
    errors: list[BaseException] = []
    barrier = threading.Barrier(12)

    def churn(i: int) -> None:
        barrier.wait()
        try:
            for j in range(30):
                (writer.close, writer.flush, writer.reopen)[(i + j) % 3]()
                writer.add_scalar(f"c{i}", float(j), j)
        except BaseException as exc:  # collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=churn, args=(i,), daemon=True) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        no_hang(t.join, WATCHDOG_S, "a close/flush/reopen thread")
    assert not errors, errors[:3]
    no_hang(writer.close, WATCHDOG_S, "close()")
    got = _values(str(tmp_path / "life"))["."]
    assert sorted(got) == sorted({(f"c{i}", j) for i in range(12) for j in range(30)}), "events lost or duplicated"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX-only")
def test_fork_while_other_threads_log(tmp_path):
    """fork() while the parent's threads log: the child logs and closes without waiting on an inherited lock."""
    logdir = str(tmp_path / "fork")
    writer = SummaryWriter(logdir, max_queue=2)
    stop = threading.Event()
    counts = [0, 0, 0]

    def busy(i: int) -> None:
        while not stop.is_set():
            writer.add_scalar(f"parent{i}", 1.0, counts[i])
            counts[i] += 1
            if counts[i] % 50 == 0:
                writer.flush()

    threads = [threading.Thread(target=busy, args=(i,), daemon=True) for i in range(3)]
    for t in threads:
        t.start()
    children = []
    try:
        for k in range(8):
            time.sleep(0.01)
            pid = os.fork()
            if pid == 0:  # child: log, close, leave without running the parent's cleanup
                code = 1
                try:
                    signal.alarm(20)  # a hang in the child ends it (the parent then sees a failure)
                    for i in range(50):
                        writer.add_scalar(f"child{k}", float(i), i)
                    writer.close()
                    code = 0
                finally:
                    os._exit(code)
            children.append(pid)
        for pid in children:
            deadline = time.monotonic() + WATCHDOG_S
            while True:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    break
                if time.monotonic() > deadline:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    pytest.fail(f"forked child {pid} hung")
                time.sleep(0.01)
            assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"child {pid} failed: status {status}"
    finally:
        stop.set()
        for t in threads:
            t.join(WATCHDOG_S)
    no_hang(writer.close, WATCHDOG_S, "close()")
    got: dict[str, list[int]] = defaultdict(list)
    for tag, step in _values(logdir)["."]:
        got[tag].append(step)
    for k in range(8):
        assert got[f"child{k}"] == list(range(50)), f"child {k}'s events lost, duplicated or reordered"
    for i in range(3):
        assert sorted(got[f"parent{i}"]) == list(range(counts[i])), "parent's events lost or written twice"


# A Ctrl-C landing inside a garbage-collection callback is ignored by Python itself ("Exception
# ignored in ..."), which pytest reports as a warning: that interrupt simply does not count.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.skipif(sys.platform == "win32", reason="interrupt_main timing needs POSIX signals here")
@pytest.mark.parametrize("where", ["add", "flush", "close"])
def test_keyboard_interrupt_mid_call_keeps_the_writer_consistent(tmp_path, where):
    """Ctrl-C in the middle of add_*/flush()/close(): a later close() writes every accepted event."""
    logdir = str(tmp_path / where)
    writer = SummaryWriter(logdir, max_queue=4)
    done: list[int] = []
    interrupts = 0
    with ctrl_c_storm(0.003) as armed:
        i = 0
        deadline = time.monotonic() + 2.0
        running = True
        while running:
            running = time.monotonic() < deadline and interrupts < 40
            step, i = i, i + 1  # an interrupted call may or may not have been queued: never reuse its step
            try:
                armed[0] = True
                writer.add_image("img", IMAGE, step)
                done.append(step)
                if where == "flush":
                    writer.flush()
                elif where == "close" and step % 5 == 0:
                    writer.close()
                armed[0] = False
            except KeyboardInterrupt:
                interrupts += 1
    assert interrupts > 0, "the test delivered no interrupt"
    no_hang(writer.close, WATCHDOG_S, "close() after interrupts")
    steps = [step for tag, step in _values(logdir)["."] if tag == "img"]
    assert len(steps) == len(set(steps)), "an event was written twice"
    assert set(done) <= set(steps), f"accepted events lost: {sorted(set(done) - set(steps))[:10]}"
    assert len(set(steps) - set(done)) <= interrupts, "events appeared that were never logged"


def _start_join_then_close(threads: list[threading.Thread], writer: SummaryWriter, what: str) -> None:
    """Start ``threads``, wait for them, then close ``writer``; fail (not hang) past the watchdog."""
    for t in threads:
        t.start()

    def join_all() -> None:
        for t in threads:
            t.join()
        writer.close()

    no_hang(join_all, WATCHDOG_S, what)


def _writer_loops() -> int:
    """Writer threads inside their loop now (entered and not done)."""
    from anyboard.io.background import _WriterThread

    return sum(isinstance(t, _WriterThread) and t.entered and not t.done.is_set() for t in threading.enumerate())


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.skipif(sys.platform == "win32", reason="interrupt_main timing needs POSIX signals here")
def test_ctrl_c_storm_on_scalars_flush_and_close_writes_each_event_once(tmp_path):
    """Real SIGINTs while scalars are logged, flushed and the writer closed and reopened.

    A Ctrl-C inside close()'s wait for the writer thread used to leave that thread running
    unseen (CPython 3.11's Thread.join() marks a live thread stopped when interrupted), so
    the next call started a second writer loop: batches written twice, into one file or two.
    """
    logdir = str(tmp_path)
    writer = SummaryWriter(logdir, max_queue=7, flush_secs=0.01)
    done: list[int] = []
    interrupts = 0
    most_loops = 0
    with ctrl_c_storm(0.002) as armed:
        deadline = time.monotonic() + 3.0
        step = 0
        while time.monotonic() < deadline:
            try:
                armed[0] = True
                writer.add_scalar("a", float(step), step)
                done.append(step)
                if step % 10 >= 8:
                    writer.flush()
                    if step % 100 == 9:
                        writer.close()
                armed[0] = False
            except KeyboardInterrupt:
                interrupts += 1
            armed[0] = False
            step += 1
            most_loops = max(most_loops, _writer_loops())
    assert interrupts > 0, "the test delivered no interrupt"
    no_hang(writer.close, WATCHDOG_S, "close() after interrupts")
    steps = [s for tag, s in _values(logdir)["."] if tag == "a"]
    assert len(steps) == len(set(steps)), f"{len(steps) - len(set(steps))} events written twice"
    assert set(done) <= set(steps), f"accepted events lost: {sorted(set(done) - set(steps))[:10]}"
    assert most_loops <= 1, f"{most_loops} writer loops ran at once"


def test_a_writer_thread_whose_start_was_interrupted_never_runs_a_second_loop(tmp_path, monkeypatch):
    """Ctrl-C inside Thread.start(): start() raises, but the OS thread runs later. The next call
    starts another thread; the late one must leave without touching the streams."""
    from anyboard.io import background as bg

    real_start = threading.Thread.start
    late: list[threading.Thread] = []

    def interrupted_start(self: threading.Thread) -> None:
        starter = threading.Thread(target=lambda: (time.sleep(0.05), real_start(self)))
        late.append(starter)
        starter.start()
        raise KeyboardInterrupt

    w = SummaryWriter(str(tmp_path), max_queue=5, flush_secs=0.01)
    w.close()  # the constructor started a thread; a call after close() starts the next one
    for k in range(4):
        monkeypatch.setattr(bg._WriterThread, "start", interrupted_start)
        with pytest.raises(KeyboardInterrupt):
            w.add_scalar("x", float(k), 2 * k)  # the thread it starts runs only later
        monkeypatch.undo()
        w.add_scalar("x", float(k), 2 * k + 1)  # the writer has no running thread: starts another
        if k < 3:
            w.close()
    for t in late:
        t.join()

    def log(t: int) -> None:
        for i in range(500):
            w.add_scalar(f"t{t}", float(i), i)
            if i % 50 == 0:
                w.flush()

    _start_join_then_close(
        [threading.Thread(target=log, args=(t,)) for t in range(3)], w, "logging beside late threads"
    )
    values = _values(str(tmp_path))["."]
    for t in range(3):
        assert [s for tag, s in values if tag == f"t{t}"] == list(range(500)), "an event lost or written twice"
    xs = [s for tag, s in values if tag == "x"]
    assert len(xs) == len(set(xs)) and {1, 3, 5, 7} <= set(xs) <= set(range(8))  # an interrupted call may be lost
    assert _writer_loops() == 0


def test_a_new_sub_run_logged_from_many_threads_at_once_gets_one_file(tmp_path, monkeypatch):
    # add_scalars opens a sub-run's file on its first use; threads making that first call at
    # once (the file system slow meanwhile) must share one stream, not open one file each.
    import anyboard.writer as writer_module

    real = writer_module.remote.event_file_factory

    def slow_factory(*args, **kwargs):
        time.sleep(0.05)
        return real(*args, **kwargs)

    monkeypatch.setattr(writer_module.remote, "event_file_factory", slow_factory)
    w = SummaryWriter(str(tmp_path))
    start = threading.Barrier(8)

    def log(i: int) -> None:
        start.wait()
        w.add_scalars("m", {"k": float(i)}, i)

    _start_join_then_close([threading.Thread(target=log, args=(i,)) for i in range(8)], w, "first add_scalars calls")
    files = _event_files(str(tmp_path))
    assert len(files["m_k"]) == 1
    assert sorted(step for _, step in _values(str(tmp_path))["m_k"]) == list(range(8))


def test_drop_policy_from_many_threads_accounts_for_every_call(tmp_path, monkeypatch):
    # on_full="drop" with the writer thread held: every call is either written or counted in
    # dropped (the count is taken under the count lock), each thread's written values stay in
    # its order, and the backlog stays within the bound plus max_queue small items per thread.
    gate = threading.Event()
    drain = st.Stream.drain

    def held_drain(self, limit, reached):
        gate.wait(WATCHDOG_S)
        return drain(self, limit, reached)

    monkeypatch.setattr(st.Stream, "drain", held_drain)
    bound = 200 * st.EVENT_BYTES
    threads, calls = 8, 400
    w = SummaryWriter(str(tmp_path), max_pending_bytes=bound, on_full="drop", max_queue=5)
    start = threading.Barrier(threads)
    peaks: list[int] = []

    def log(t: int) -> None:
        start.wait()
        for i in range(calls):
            w.add_scalar(f"t{t}", float(i), i)
            peaks.append(w._core._pending_bytes())

    import warnings

    workers = [threading.Thread(target=log, args=(t,)) for t in range(threads)]
    with warnings.catch_warnings(), frequent_thread_switches(1e-5):  # many thread switches inside the calls
        warnings.simplefilter("ignore", RuntimeWarning)
        for worker in workers:
            worker.start()
        for worker in workers:
            no_hang(worker.join, WATCHDOG_S, "a logging thread")
    assert max(peaks) <= bound + (5 + 2) * threads * st.EVENT_BYTES
    gate.set()
    no_hang(w.close, WATCHDOG_S, "close()")
    values = _values(str(tmp_path))["."]
    assert w.dropped > 0 and len(values) + w.dropped == threads * calls
    for t in range(threads):
        steps = [step for tag, step in values if tag == f"t{t}"]
        assert steps == sorted(steps) and len(set(steps)) == len(steps)
