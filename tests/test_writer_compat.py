"""tensorboardX's use_metadata and MXBoard's reopen."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

import anyboard


def _scalars(logdir: str) -> list[tuple[str, int, float, float]]:
    return [
        (v.tag, e.step, e.wall_time, v.simple_value)
        for e in anyboard.iter_run_events(logdir)
        for v in e.summary.value
        if v.HasField("simple_value")
    ]


def test_use_metadata_sets_default_step_and_walltime(logdir):
    with anyboard.SummaryWriter(logdir) as w:
        with w.use_metadata(global_step=7, walltime=1234.5):
            w.add_scalar("a", 1.0)
            w.add_scalar("b", 2.0, 3)  # an explicit step wins
            w.add_scalar("c", 3.0, walltime=99.0)
            w.add_scalars("d", {"x": 4.0})
            w.add_text("t", "hello")
        w.add_scalar("e", 5.0)  # outside: step 0, wall time now
    rows = {tag: (step, wall) for tag, step, wall, _ in _scalars(logdir)}
    assert rows["a"] == (7, 1234.5)
    assert rows["b"] == (3, 1234.5)
    assert rows["c"] == (7, 99.0)
    assert rows["e"][0] == 0 and abs(rows["e"][1] - time.time()) < 60
    sub = _scalars(f"{logdir}/d_x")
    assert [(s, wt) for _, s, wt, _ in sub] == [(7, 1234.5)]
    text = [(e.step, e.wall_time) for e in anyboard.iter_run_events(logdir) for v in e.summary.value if v.tag == "t"]
    assert text == [(7, 1234.5)]


def test_use_metadata_applies_to_tags_already_on_the_fast_path(logdir):
    """A tag logged before (add_scalar's fast path knows it) still gets the defaults; nesting restores them."""
    with anyboard.SummaryWriter(logdir) as w:
        w.add_scalar("a", 0.0, 1)
        with w.use_metadata(walltime=1000.0):
            w.add_scalar("a", 1.0, 2)
            with w.use_metadata(walltime=2000.0):
                w.add_scalar("a", 2.0, 3)
            w.add_scalar("a", 3.0, 4)
        w.add_scalar("a", 4.0, 5)
    walls = {step: wall for _, step, wall, _ in _scalars(logdir)}
    assert walls[2] == 1000.0 and walls[3] == 2000.0 and walls[4] == 1000.0
    assert abs(walls[1] - time.time()) < 60 and abs(walls[5] - time.time()) < 60


def test_use_metadata_with_only_a_step_keeps_real_wall_times(logdir):
    """tensorboardX writes wall_time 0.0 here; TensorBoard then shows 1970."""
    before = time.time()
    with anyboard.SummaryWriter(logdir) as w, w.use_metadata(global_step=4):
        w.add_scalar("a", 1.0)
    ((_, step, wall, _),) = _scalars(logdir)
    assert step == 4 and wall >= before - 1


def test_use_metadata_rejects_bad_defaults(logdir):
    with anyboard.SummaryWriter(logdir) as w:
        with pytest.raises(TypeError, match="global_step"), w.use_metadata(global_step=1.5):
            pass
        with pytest.raises(ValueError, match="walltime"), w.use_metadata(walltime=float("nan")):
            pass


def test_reopen_after_close_writes_new_files(logdir):
    w = anyboard.SummaryWriter(logdir)
    w.add_scalar("loss", 1.0, 0)
    w.add_scalars("pair", {"a": 1.0}, 0)
    w.close()
    (first,) = [n for n in os.listdir(logdir) if "tfevents" in n]
    w.reopen()
    w.reopen()  # no-op on an open writer
    w.add_scalar("loss", 2.0, 1)
    w.add_scalars("pair", {"a": 2.0}, 1)
    w.close()
    assert [(s, v) for _, s, _, v in _scalars(logdir)] == [(0, 1.0), (1, 2.0)]
    assert [(s, v) for _, s, _, v in _scalars(f"{logdir}/pair_a")] == [(0, 1.0), (1, 2.0)]
    files = sorted(n for n in os.listdir(logdir) if "tfevents" in n)
    assert len(files) == 2 and files[0] == first  # the reopened file sorts after the first one


def test_written_files_lists_every_file_also_after_close_and_reopen(logdir):
    w = anyboard.SummaryWriter(logdir)
    w.add_scalars("pair", {"a": 1.0}, 0)
    first = w.written_files()
    w.close()
    assert w.written_files() == first  # still known after close
    w.reopen()
    w.add_scalar("loss", 1.0, 1)
    w.close()
    files = w.written_files()
    assert len(files[""]) == 2 and files[""][0] == first[""][0]
    assert files["pair_a"] == first["pair_a"]
    on_disk = sorted(os.path.join(logdir, n) for n in os.listdir(logdir) if "tfevents" in n)
    assert sorted(files[""]) == on_disk


def _lifecycle(writer_class, logdir: str, *, next_second: bool) -> object:
    """What Lightning does with a writer: log, close, flush, then log again (fit() then test()).

    ``next_second``: reopen in the next second. tensorboardX names its files by the second alone,
    so a file reopened within the same second overwrites the first (anyboard's names never collide).
    """
    w = writer_class(logdir)
    w.add_scalar("loss", 1.0, 0)
    w.add_histogram("weights", np.array([0.5, 1.5, 2.5]), 0)
    w.close()
    w.flush()
    w.close()
    closed_file_writer = w.file_writer
    if next_second:
        time.sleep(1.05 - time.time() % 1.0)
    w.add_scalar("loss", 2.0, 1)
    w.add_scalar("test_loss", 3.0, 1)
    w.flush()
    w.close()
    return closed_file_writer


@pytest.mark.parametrize("peer", ["torch", "tensorboardX"])
def test_the_peers_lifecycle_gives_what_the_peer_gives(tmp_path, peer):
    """flush() after close() is quiet, file_writer is None, logging after close() reopens: as the peer."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    if peer == "torch":
        from torch.utils.tensorboard import SummaryWriter as Peer
    else:
        from tensorboardX import SummaryWriter as Peer
    seen = {}
    for name, cls in (("peer", Peer), ("anyboard", anyboard.SummaryWriter)):
        logdir = str(tmp_path / name)
        file_writer = _lifecycle(cls, logdir, next_second=name == "peer" and peer == "tensorboardX")
        acc = EventAccumulator(logdir, size_guidance={"scalars": 0, "histograms": 0})
        acc.Reload()
        seen[name] = (
            file_writer is None,
            {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]},
            {tag: [(e.step, e.histogram_value.num) for e in acc.Histograms(tag)] for tag in acc.Tags()["histograms"]},
            len([n for n in os.listdir(logdir) if "tfevents" in n]),
        )
    assert seen["anyboard"] == seen["peer"]
