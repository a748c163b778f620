"""Many processes, one run directory: no clobbering under spawn and fork, and writers that cross a fork."""

from __future__ import annotations

import multiprocessing as mp
import os
import re

import pytest
from tbread import TensorBoardServer

import anyboard

N_PROCS = 4
N_SCALARS = 1000


def _scalars_by_file(run_dir: str) -> dict[str, list[tuple[str, int, float]]]:
    out = {}
    for name in sorted(os.listdir(run_dir)):
        path = os.path.join(run_dir, name)
        if "tfevents" in name and os.path.isfile(path):
            out[name] = [(v.tag, e.step, v.simple_value) for e in anyboard.iter_events(path) for v in e.summary.value]
    return out


def _run(ctx_name: str, target, args_list: list[tuple], timeout: float = 180, start=None) -> None:
    """Run one process per ``args_list`` item; all must exit 0. ``start`` (an Event) is set once all have started."""
    ctx = mp.get_context(ctx_name)
    procs = [ctx.Process(target=target, args=args) for args in args_list]
    for p in procs:
        p.start()
    if start is not None:
        start.set()
    try:
        for p in procs:
            p.join(timeout)
        assert [p.exitcode for p in procs] == [0] * len(procs)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join(10)


def _scalar_worker(logdir: str, k: int, start) -> None:
    start.wait(60)  # all processes create their files at about the same moment
    with anyboard.SummaryWriter(logdir, max_queue=100) as w:
        for step in range(N_SCALARS):
            w.add_scalar(f"proc{k}/value", float(k * 10_000 + step), step)
            w.add_scalar("shared", float(k), k * N_SCALARS + step)


def _check_shared_run(logdir: str) -> None:
    files = _scalars_by_file(logdir)
    assert len(files) == N_PROCS  # one file per process, none overwritten
    pids = {re.match(r"events\.out\.tfevents\.\d{10}\..+\.(\d+)\.\d{6}$", n).group(1) for n in files}
    assert len(pids) == N_PROCS
    values = sorted(x for rows in files.values() for x in rows)
    assert len(values) == 2 * N_PROCS * N_SCALARS
    for k in range(N_PROCS):
        assert [(s, v) for t, s, v in values if t == f"proc{k}/value"] == [
            (s, float(k * 10_000 + s)) for s in range(N_SCALARS)
        ]
    assert sorted(s for t, s, _ in values if t == "shared") == list(range(N_PROCS * N_SCALARS))


@pytest.mark.slow
def test_spawned_processes_share_one_run_and_tensorboard_reads_all(logdir):
    start = mp.get_context("spawn").Event()
    _run("spawn", _scalar_worker, [(logdir, k, start) for k in range(N_PROCS)], timeout=180, start=start)
    _check_shared_run(logdir)
    with TensorBoardServer(logdir, load_fast=True) as tb:
        for k in range(N_PROCS):
            tag = f"proc{k}/value"
            got = tb.wait_for(lambda tag=tag: len(tb.scalars(".", tag)) == N_SCALARS and tb.scalars(".", tag))
            assert [(s, v) for _, s, v in got] == [(s, float(k * 10_000 + s)) for s in range(N_SCALARS)]


def test_forked_processes_share_one_run(logdir):
    start = mp.get_context("fork").Event()
    _run("fork", _scalar_worker, [(logdir, k, start) for k in range(N_PROCS)], timeout=120, start=start)
    _check_shared_run(logdir)


# -- a writer that crosses a fork (dataloader workers) ---------------------------
_WRITER: anyboard.SummaryWriter | None = None


def _child_logs(k: int) -> None:
    w = _WRITER
    for step in range(5):
        w.add_scalar("child", float(k), 100 * k + step)
    w.add_scalars("pair", {"c": float(k)}, k)
    w.flush()  # the child's own file, in a child of its own
    w.close()


@pytest.mark.parametrize("pending_at_fork", [True, False])
def test_writer_crossing_fork(logdir, pending_at_fork):
    global _WRITER
    _WRITER = w = anyboard.SummaryWriter(logdir, max_queue=10_000, flush_secs=3600)
    try:
        for step in range(10):
            w.add_scalar("parent", float(step), step)
        w.add_scalars("pair", {"p": 1.0}, 0)
        if not pending_at_fork:
            w.flush()
        parent_file = w.event_file_paths()[""]
        _run("fork", _child_logs, [(1,), (2,)], timeout=60)
        for step in range(10, 20):
            w.add_scalar("parent", float(step), step)
        w.close()
    finally:
        _WRITER = None
        w.close()
    files = _scalars_by_file(logdir)
    assert len(files) == 3  # the parent's file and one new file per child
    parent_rows = files.pop(os.path.basename(parent_file))
    assert parent_rows == [("parent", s, float(s)) for s in range(20)]  # each pending event once, in the parent
    child_rows = sorted(files.values())
    assert child_rows == [[("child", 100 * k + s, float(k)) for s in range(5)] for k in (1, 2)]
    pair_files = _scalars_by_file(os.path.join(logdir, "pair_p"))
    assert list(pair_files.values()) == [[("pair", 0, 1.0)]]
    child_pair = _scalars_by_file(os.path.join(logdir, "pair_c"))
    assert sorted(child_pair.values()) == [[("pair", 1, 1.0)], [("pair", 2, 2.0)]]
