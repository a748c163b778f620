"""GlobalSummaryWriter: one run shared by many processes (fork and spawn), steps unique per tag.

Everything is read back with TensorBoard's own EventAccumulator, which merges every event file
of the run directory.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import threading

import pytest

import anyboard
from anyboard import global_writer
from anyboard.errors import WriterClosedError
from anyboard.global_writer import GlobalSummaryWriter, StepCounter

METHODS = [m for m in ("fork", "spawn") if m in mp.get_all_start_methods()]


def _accumulator(logdir):
    from tensorboard.backend.event_processing import event_accumulator as ea

    acc = ea.EventAccumulator(logdir, size_guidance={ea.SCALARS: 0, ea.TENSORS: 0, ea.HISTOGRAMS: 0})
    acc.Reload()
    return acc


def _scalars(logdir, tag):
    """``[(step, value)]`` of ``tag`` as TensorBoard's legacy EventAccumulator reads it."""
    return [(e.step, e.value) for e in _accumulator(logdir).Scalars(tag)]


def _steps(logdir, tag):
    """Sorted steps of ``tag`` in TensorBoard's plugin loader, in whichever form it was written."""
    from tbread import python_accumulator

    return sorted(e.step for e in python_accumulator(logdir).Tensors(tag))


def _event_files(logdir):
    return [f for f in os.listdir(logdir) if "tfevents" in f]


# -- children (module level, so that spawn children can import them) ---------------------------------


def _child_logs(writer, child, n):
    for i in range(n):
        writer.add_scalar("shared/loss", child * 1000 + i)
    writer.add_text("notes", f"child {child}")
    writer.add_histogram("weights", [float(child), 1.0, 2.0])


def _pool_task(args):
    writer, x = args
    writer.add_scalar("pool/value", x)
    return os.getpid()


def _fork_pool_task(x):
    _INHERITED.add_scalar("pool/value", x)
    return os.getpid()


_INHERITED: GlobalSummaryWriter | None = None


def _exit_abruptly(writer, child):
    writer.add_scalar("abrupt", child)
    os._exit(0)  # no atexit, no multiprocessing exit hook


def _via_get_summary_writer(child, queue):
    writer = GlobalSummaryWriter.getSummaryWriter()  # a spawn child: rebuilt from the environment
    for i in range(5):
        writer.add_scalar("global/x", child * 100 + i)
    queue.put(writer.get_logdir())


# -- tests ----------------------------------------------------------------------------------------


def _creator_and_three_children_log(logdir, method) -> None:
    """The creator logs 10 ``shared/loss`` values, then three children 30 each (and a text and a histogram)."""
    ctx = mp.get_context(method)
    writer = GlobalSummaryWriter(logdir)
    for i in range(10):
        writer.add_scalar("shared/loss", -1 - i)  # the creator logs too
    children = [ctx.Process(target=_child_logs, args=(writer, c, 30)) for c in range(1, 4)]
    for p in children:
        p.start()
    for p in children:
        p.join(120)
        assert p.exitcode == 0
    writer.close()


@pytest.mark.parametrize("method", METHODS)
def test_processes_share_one_run_with_unique_steps(logdir, method):
    _creator_and_three_children_log(logdir, method)

    points = _scalars(logdir, "shared/loss")
    steps = [s for s, _ in points]
    assert sorted(steps) == list(range(100))  # 10 + 3 * 30 events, each step exactly once
    values = sorted(v for _, v in points)
    expected = sorted([-1.0 - i for i in range(10)] + [c * 1000.0 + i for c in range(1, 4) for i in range(30)])
    assert values == expected  # nothing lost, nothing written twice
    # each child's own events come in increasing steps (the counter is monotonic)
    for c in range(1, 4):
        mine = [s for s, v in sorted(points) if c * 1000 <= v < c * 1000 + 1000]
        assert len(mine) == 30
    assert _steps(logdir, "weights") == [0, 1, 2]
    assert _steps(logdir, "notes") == [0, 1, 2]
    (name,) = _event_files(logdir)  # one file that every process appends to
    in_file: dict[str, list[int]] = {}
    for event in anyboard.iter_events(os.path.join(logdir, name)):
        for value in event.summary.value:
            in_file.setdefault(value.tag, []).append(event.step)
    for tag, tag_steps in in_file.items():  # what TensorBoard's Rust loader needs to keep every point
        assert tag_steps == sorted(set(tag_steps)), f"{tag}: steps out of order in the file"


def test_the_rust_data_server_shows_every_point_of_a_run_many_processes_wrote(logdir):
    """TensorBoard's default loader keeps a tag's points only while their steps increase in its
    read order, file by file: with one file per process it showed 61 of 160 points."""
    from tbread import TensorBoardServer

    _creator_and_three_children_log(logdir, METHODS[0])
    with TensorBoardServer(logdir, load_fast=True) as tb:

        def served() -> list:
            return tb.get("/data/plugin/scalars/scalars", run=".", tag="shared/loss")

        tb.wait_for(served)  # loaded (a partial answer stays partial: the loader has read every file)
        try:
            points = tb.wait_for(lambda: (lambda got: got if len(got) >= 100 else None)(served()), timeout=20)
        except AssertionError:
            points = served()
    assert [p[1] for p in points] == list(range(100))
    assert sorted(p[2] for p in points) == sorted(v for _, v in _scalars(logdir, "shared/loss"))


@pytest.mark.parametrize("method", METHODS)
def test_pool_terminated_by_its_context_manager_loses_nothing(logdir, method):
    global _INHERITED
    ctx = mp.get_context(method)
    writer = GlobalSummaryWriter(logdir)
    try:
        if method == "fork":
            _INHERITED = writer  # tensorboardX's documented pattern: a module-level writer used by workers
            with ctx.Pool(3) as pool:  # __exit__ calls terminate(): workers get SIGTERM
                pids = pool.map(_fork_pool_task, range(60), chunksize=1)
        else:
            with ctx.Pool(3) as pool:
                pids = pool.map(_pool_task, [(writer, x) for x in range(60)], chunksize=1)
    finally:
        _INHERITED = None
    writer.close()
    assert os.getpid() not in pids
    points = _scalars(logdir, "pool/value")
    assert sorted(s for s, _ in points) == list(range(60))
    assert sorted(v for _, v in points) == [float(x) for x in range(60)]


def test_child_leaving_through_os_exit_loses_nothing(logdir):
    if "fork" not in METHODS:
        pytest.skip("needs the fork start method")
    ctx = mp.get_context("fork")
    writer = GlobalSummaryWriter(logdir)
    children = [ctx.Process(target=_exit_abruptly, args=(writer, c)) for c in range(4)]
    for p in children:
        p.start()
    for p in children:
        p.join(120)
    writer.close()
    points = _scalars(logdir, "abrupt")
    assert sorted(v for _, v in points) == [0.0, 1.0, 2.0, 3.0]
    assert sorted(s for s, _ in points) == [0, 1, 2, 3]


def test_get_summary_writer_in_spawn_children_joins_the_same_run(tmp_path, monkeypatch):
    if "spawn" not in METHODS:
        pytest.skip("needs the spawn start method")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(global_writer.ENV_VAR, raising=False)
    monkeypatch.setattr(global_writer, "_global", None)
    writer = GlobalSummaryWriter.getSummaryWriter()
    assert GlobalSummaryWriter.getSummaryWriter() is writer  # one per program
    try:
        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        children = [ctx.Process(target=_via_get_summary_writer, args=(c, queue)) for c in range(2)]
        for p in children:
            p.start()
        seen = [queue.get(timeout=120) for _ in children]
        for p in children:
            p.join(120)
            assert p.exitcode == 0
        writer.add_scalar("global/x", -1)
        logdir = writer.get_logdir()
    finally:
        writer.close()
    assert global_writer.ENV_VAR not in os.environ
    assert seen == [logdir, logdir]
    assert os.path.dirname(logdir) == "runs"  # the default run directory, relative to the working directory
    points = _scalars(str(tmp_path / logdir), "global/x")
    assert sorted(s for s, _ in points) == list(range(11))
    assert len(os.listdir(tmp_path / "runs")) == 1  # the children did not make runs of their own


def test_threads_get_unique_steps_and_kinds_count_separately(logdir):
    writer = GlobalSummaryWriter(logdir)

    def work(k):
        for i in range(25):
            writer.add_scalar("t", k * 100 + i)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.add_text("t_text", "a")
    writer.add_text("t_text", "b")
    writer.close()
    assert sorted(s for s, _ in _scalars(logdir, "t")) == list(range(100))
    assert _steps(logdir, "t_text") == [0, 1]


def test_close_removes_the_counters_and_later_calls_raise(logdir):
    writer = GlobalSummaryWriter(logdir)
    writer.add_scalar("x", 1.0)
    path = writer._counter.path
    assert os.path.exists(path)
    copy = pickle.loads(pickle.dumps(writer))  # what a spawn child receives
    assert copy.get_logdir() == writer.get_logdir()
    writer.close()
    writer.close()  # idempotent
    assert not os.path.exists(os.path.dirname(path))
    with pytest.raises(WriterClosedError):
        writer.add_scalar("x", 2.0)
    with pytest.raises(WriterClosedError, match="closed it or exited"), StepCounter(path).hold("x"):
        pass
    assert _scalars(logdir, "x") == [(0, 1.0)]


def test_bad_input_names_the_tag_and_is_not_logged(logdir):
    with GlobalSummaryWriter(logdir) as writer:
        with pytest.raises(TypeError):
            writer.add_scalar(3, 1.0)  # type: ignore[arg-type]
        with pytest.raises((TypeError, ValueError), match="loss"):
            writer.add_scalar("loss", "not a number")
        writer.add_scalar("loss", 0.5)
    points = _scalars(logdir, "loss")
    assert points == [(0, 0.5)]  # a refused call frees its step again


def test_an_interrupt_while_waiting_for_the_step_lock_leaves_no_transaction_open(logdir):
    """A Ctrl-C that lands while BEGIN waits for another process: the transaction began once BEGIN
    returned, outside the block that ended it, and every later call in every process failed."""
    import signal
    import subprocess
    import sys
    import time

    writer = GlobalSummaryWriter(logdir)
    writer.add_scalar("x", 0.0)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "c.execute('BEGIN IMMEDIATE'); print('held', flush=True)\n"
            "time.sleep(1.0); c.execute('COMMIT')\n",
            writer._counter.path,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        start = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            writer.add_scalar("x", 1.0)
            time.sleep(5)  # the interrupt arrives while BEGIN waits, or here at the latest
        assert time.monotonic() - start < 5
        timer.join()
    finally:
        holder.wait(30)
        holder.stdout.close()
    assert not writer._counter._conn.in_transaction
    writer.add_scalar("x", 2.0)
    writer.add_scalar("x", 3.0)
    writer.close()
    steps = [s for s, _ in _scalars(logdir, "x")]
    assert len(steps) == len(set(steps)) and steps == sorted(steps) and len(steps) >= 3


def test_an_interrupted_flush_keeps_the_step_of_the_queued_event(logdir, monkeypatch):
    """A Ctrl-C (or a write error) after the event was queued: its step must stay taken, or the
    next call reuses it and the run holds one step twice."""
    from anyboard import SummaryWriter

    writer = GlobalSummaryWriter(logdir)
    real_flush = SummaryWriter.flush
    calls = {"n": 0}

    def interrupted_once(self):
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt
        return real_flush(self)

    monkeypatch.setattr(SummaryWriter, "flush", interrupted_once)
    with pytest.raises(KeyboardInterrupt):
        writer.add_scalar("y", 1.0)
    writer.add_scalar("y", 2.0)
    writer.close()
    assert _scalars(logdir, "y") == [(0, 1.0), (1, 2.0)]


def test_the_shared_file_sorts_after_the_files_already_in_the_directory(logdir):
    """TensorBoard reads a run's files in name order: a file left by a process with a higher pid, or
    a clock that was ahead, must not be read after the new run's file."""
    os.makedirs(logdir, exist_ok=True)
    import time

    ahead = f"events.out.tfevents.{int(time.time()) + 100:010d}.otherhost.99999.000000"  # a clock ahead
    with anyboard.SummaryWriter(logdir) as old:  # a real file, renamed as if written in the future
        old.add_scalar("z", 1.0, 0)
    (written,) = _event_files(logdir)
    os.rename(os.path.join(logdir, written), os.path.join(logdir, ahead))
    with GlobalSummaryWriter(logdir) as writer:
        writer.add_scalar("z", 2.0)
    names = sorted(_event_files(logdir))
    assert names[0] == ahead and names[1].endswith(".global")


def test_exported_lazily_from_the_package():
    assert anyboard.GlobalSummaryWriter is GlobalSummaryWriter
