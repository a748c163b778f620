"""Rank-aware writers: rank from the environment and from a real torch.distributed gloo group."""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import subprocess
import sys

import pytest
from tbread import free_port

import anyboard
from anyboard.distributed import RankedSummaryWriter, get_rank, get_world_size

_ENV = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "SLURM_PROCID", "SLURM_NTASKS", "OMPI_COMM_WORLD_RANK",
        "OMPI_COMM_WORLD_SIZE", "PMI_RANK", "PMI_SIZE")  # fmt: skip


@pytest.fixture
def clean_env(monkeypatch):
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _scalars(run_dir: str, tag: str) -> list[tuple[int, float]]:
    return [
        (e.step, v.simple_value) for e in anyboard.iter_run_events(run_dir) for v in e.summary.value if v.tag == tag
    ]


def test_rank_from_environment(clean_env):
    assert (get_rank(), get_world_size()) == (0, 1)
    clean_env.setenv("LOCAL_RANK", "1")
    clean_env.setenv("WORLD_SIZE", "4")
    assert (get_rank(), get_world_size()) == (1, 4)
    clean_env.setenv("RANK", "3")  # the global rank wins over the local one
    assert get_rank() == 3
    clean_env.setenv("RANK", "x")
    with pytest.raises(ValueError, match="RANK='x'"):
        get_rank()
    clean_env.setenv("RANK", "-1")
    with pytest.raises(ValueError, match="RANK"):
        get_rank()
    clean_env.delenv("RANK")
    clean_env.delenv("LOCAL_RANK")
    clean_env.delenv("WORLD_SIZE")
    clean_env.setenv("SLURM_PROCID", "2")
    clean_env.setenv("SLURM_NTASKS", "8")
    assert (get_rank(), get_world_size()) == (2, 8)


def test_only_rank_zero_writes_by_default(clean_env, logdir):
    writers = [RankedSummaryWriter(logdir, rank=r, world_size=3) for r in range(3)]
    for w in writers:
        w.add_scalar("loss", float(w.rank), 0)
        w.add_scalars("pair", {"a": 1.0}, 0)
        w.close()
    assert [w.is_writing for w in writers] == [True, False, False]
    names = sorted(os.listdir(logdir))
    assert len(names) == 2 and names[0].startswith("events.out.tfevents.") and names[1] == "pair_a"
    assert _scalars(logdir, "loss") == [(0, 0.0)]
    # The discarding ranks still check their arguments.
    with RankedSummaryWriter(logdir, rank=1, world_size=3) as w, pytest.raises(TypeError, match="tag"):
        w.add_scalar(3, 1.0)  # type: ignore[arg-type]


def test_per_rank_sub_runs(clean_env, logdir):
    clean_env.setenv("WORLD_SIZE", "2")
    for r in range(2):
        clean_env.setenv("RANK", str(r))
        with RankedSummaryWriter(logdir, per_rank=True) as w:
            assert (w.rank, w.world_size, w.is_writing) == (r, 2, True)
            assert w.logdir == os.path.join(logdir, f"rank_{r}")
            w.add_scalar("loss", float(r), 5)
    assert sorted(os.listdir(logdir)) == ["rank_0", "rank_1"]
    assert _scalars(os.path.join(logdir, "rank_1"), "loss") == [(5, 1.0)]


def test_bad_arguments(clean_env, logdir):
    with pytest.raises(ValueError, match="world_size"):
        RankedSummaryWriter(logdir, rank=2, world_size=2)
    with pytest.raises(ValueError, match="writer_rank"):
        RankedSummaryWriter(logdir, rank=0, world_size=2, writer_rank=5)
    with pytest.raises(ValueError, match="rank must be"):
        RankedSummaryWriter(logdir, rank=True, world_size=2)
    with pytest.raises(ValueError, match="explicit logdir"):
        RankedSummaryWriter(rank=0, world_size=2)
    assert not os.path.exists(logdir)


def test_does_not_import_torch(clean_env, logdir):
    code = (
        "import sys\nfrom anyboard.distributed import RankedSummaryWriter\n"
        f"w = RankedSummaryWriter({logdir!r}); w.add_scalar('x', 1.0); w.close()\n"
        "print('TORCH', 'torch' in sys.modules, w.rank, w.world_size)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "TORCH False 0 1" in out.stdout


def _gloo_worker(rank: int, world_size: int, port: int, logdir: str, per_rank: bool) -> None:
    import torch
    import torch.distributed as dist

    # The environment says otherwise: the initialized group must win.
    os.environ["RANK"] = str(world_size - 1 - rank)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    try:
        writer = RankedSummaryWriter(logdir, per_rank=per_rank, flush_secs=3600)
        if (writer.rank, writer.world_size) != (rank, world_size):
            raise RuntimeError(f"writer saw rank {writer.rank}/{writer.world_size}, expected {rank}/{world_size}")
        for step in range(20):
            value = torch.tensor([float(rank + step)])
            dist.all_reduce(value)  # the mean over ranks, logged as in a training loop
            writer.add_scalar("loss", value / world_size, step)
            writer.add_scalar("own", float(rank * 100 + step), step)
        writer.close()
        dist.barrier()
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("per_rank", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_torch_distributed_gloo_two_ranks(logdir, per_rank):
    ctx = mp.get_context("spawn")
    for _attempt in range(3):  # the free port can be taken before rank 0 binds it: try another one
        if os.path.isdir(logdir):
            shutil.rmtree(logdir)
        port = free_port()
        procs = [ctx.Process(target=_gloo_worker, args=(r, 2, port, logdir, per_rank)) for r in range(2)]
        for p in procs:
            p.start()
        try:
            for p in procs:
                p.join(180)
        finally:
            for p in procs:
                if p.is_alive():
                    p.kill()
                    p.join(10)
        if [p.exitcode for p in procs] == [0, 0]:
            break  # a real failure fails all three attempts
    assert [p.exitcode for p in procs] == [0, 0]
    mean = [(s, (0 + s + 1 + s) / 2) for s in range(20)]
    if per_rank:
        assert sorted(os.listdir(logdir)) == ["rank_0", "rank_1"]
        for r in range(2):
            run = os.path.join(logdir, f"rank_{r}")
            assert _scalars(run, "loss") == mean
            assert _scalars(run, "own") == [(s, float(r * 100 + s)) for s in range(20)]
    else:
        assert len(os.listdir(logdir)) == 1  # rank 0's one event file
        assert _scalars(logdir, "loss") == mean
        assert _scalars(logdir, "own") == [(s, float(s)) for s in range(20)]


@pytest.mark.parametrize("kwargs", [{"per_rank": True}, {"writer_rank": 1}], ids=["per_rank", "writer_rank"])
def test_a_pickled_writer_keeps_its_rank_and_its_choice_to_write(clean_env, logdir, monkeypatch, kwargs):
    """A DataLoader or spawn worker unpickles the writer: it used to decide its rank again from the
    worker's environment, so a per-rank writer of rank 1 silently discarded there."""
    import pickle

    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    writer = RankedSummaryWriter(logdir, **kwargs)
    monkeypatch.delenv("RANK")  # the worker's environment says nothing of the rank
    monkeypatch.delenv("WORLD_SIZE")
    copy = pickle.loads(pickle.dumps(writer))
    assert (copy.rank, copy.world_size, copy.is_writing, copy.logdir) == (1, 2, True, writer.logdir)
    copy.add_scalar("worker/item", 1.0, 0)
    copy.close()
    writer.close()
    steps = [e.step for e in anyboard.iter_run_events(writer.logdir) for v in e.summary.value if v.tag == "worker/item"]
    assert steps == [0]


def test_errors_name_where_the_rank_and_size_came_from(clean_env, logdir):
    clean_env.setenv("RANK", "3")
    clean_env.setenv("WORLD_SIZE", "2")
    with pytest.raises(
        ValueError, match=r"rank 3 \(environment variable RANK=3\).*world_size 2 \(environment variable WORLD_SIZE=2\)"
    ):
        RankedSummaryWriter(logdir)
    with pytest.raises(ValueError, match=r"rank 3 \(environment variable RANK=3\).*world_size 3 \(argument\)"):
        RankedSummaryWriter(logdir, world_size=3)
    assert not os.path.exists(logdir)


def test_a_world_size_without_a_rank_is_refused(clean_env, logdir):
    """Every process of a 4-process job would count itself rank 0 and write the same run."""
    clean_env.setenv("WORLD_SIZE", "4")
    with pytest.raises(ValueError, match=r"world_size 4 \(environment variable WORLD_SIZE=4\) but no rank.*RANK"):
        RankedSummaryWriter(logdir)
    with RankedSummaryWriter(logdir, rank=2) as w:  # the caller knows it
        assert (w.rank, w.world_size, w.is_writing) == (2, 4, False)


def test_a_writer_made_before_the_group_warns_that_it_is_rank_zero(clean_env, logdir):
    """mp.spawn workers set MASTER_ADDR and call init_process_group(rank=...) themselves: a writer
    made before that has no rank to read, and every worker would write as rank 0."""
    clean_env.setenv("MASTER_ADDR", "127.0.0.1")
    with pytest.warns(RuntimeWarning, match="MASTER_ADDR is set.*rank 0 of 1.*after init_process_group") as caught:
        w = RankedSummaryWriter(logdir)
    w.close()
    assert caught[0].filename == __file__
    assert (w.rank, w.world_size) == (0, 1)
    with RankedSummaryWriter(logdir, rank=0, world_size=1):  # told: no warning (warnings are errors here)
        pass
    clean_env.delenv("MASTER_ADDR")
    with RankedSummaryWriter(logdir):  # a single process: no warning
        pass
