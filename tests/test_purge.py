"""``purge_step``: a restarted run drops the values at steps >= purge_step.

Session 1 writes steps 0..9 of tags ``a`` and ``b`` (main run), of the
``add_scalars`` sub-runs ``m_x``/``m_y``, and of ``stale`` (written only in
session 1). Session 2 reopens the same directory with ``purge_step=5`` and
writes steps 5..7 of ``a``, ``b``, ``m_x`` and ``m_y``.

Expected for rewritten tags, in both TensorBoard loaders: steps 0..4 from
session 1, then 5..7 from session 2.

Known limit of the Rust loader (``load_fast=True``), which no writer can fix:
it ignores ``SessionLog.START`` and only drops a tag's values at steps >= s
when a new value at step s arrives for *that tag*. So ``stale`` (never
rewritten) keeps its old steps 5..9 there, while the Python loader purges it
to 0..4 (it purges every tag of the run on the second START).
"""

from __future__ import annotations

import os

import pytest

import anyboard

WALL = 1_600_000_000.0
OLD = list(range(10))
NEW = [5, 6, 7]
EXPECTED = [(s, float(s)) for s in range(5)] + [(s, 100.0 + s) for s in NEW]
EXPECTED_SUB = {"x": EXPECTED, "y": [(s, -v) for s, v in EXPECTED]}


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("purge") / "logs")
    with anyboard.SummaryWriter(path) as w:
        for s in OLD:
            w.add_scalar("a", float(s), s, walltime=WALL + s)
            w.add_scalar("b", float(s), s, walltime=WALL + s)
            w.add_scalar("stale", float(s), s, walltime=WALL + s)
            w.add_scalars("m", {"x": float(s), "y": -float(s)}, s, walltime=WALL + s)
    with anyboard.SummaryWriter(path, purge_step=5) as w:
        for s in NEW:
            w.add_scalar("a", 100.0 + s, s, walltime=WALL + 100 + s)
            w.add_scalar("b", 100.0 + s, s, walltime=WALL + 100 + s)
            w.add_scalars("m", {"x": 100.0 + s, "y": -(100.0 + s)}, s, walltime=WALL + 100 + s)
    return path


def test_files_on_disk(logdir):
    # each run has two files: session 1 and session 2 (with the START records)
    for run in (logdir, os.path.join(logdir, "m_x"), os.path.join(logdir, "m_y")):
        files = anyboard.io.reader.event_files(run)
        assert len(files) == 2
        starts = [e.step for e in anyboard.iter_events(files[1]) if e.HasField("session_log")]
        assert starts == [5, 5]


def test_python_loader_purges(logdir):
    from tbread import python_scalars

    for tag in ("a", "b"):
        assert [(s, v) for _, s, v in python_scalars(logdir, tag)] == EXPECTED, tag
    for key, expected in EXPECTED_SUB.items():
        assert [(s, v) for _, s, v in python_scalars(os.path.join(logdir, f"m_{key}"), "m")] == expected, key
    # The Python loader purges every tag of the run, rewritten or not.
    assert [s for _, s, _ in python_scalars(logdir, "stale")] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("load_fast", [True, False])
def test_server_purges(logdir, load_fast):
    from tbread import TensorBoardServer

    with TensorBoardServer(logdir, load_fast=load_fast) as tb:
        tb.wait_for(lambda: tb.get("/data/plugin/scalars/tags").get("m_y"))
        for tag in ("a", "b"):
            assert [(s, v) for _, s, v in tb.scalars(".", tag)] == EXPECTED, (tag, load_fast)
        for key, expected in EXPECTED_SUB.items():
            assert [(s, v) for _, s, v in tb.scalars(f"m_{key}", "m")] == expected, (key, load_fast)
        stale = [s for _, s, _ in tb.scalars(".", "stale")]
        if load_fast:
            assert stale == OLD  # the Rust loader's documented limit (see module doc)
        else:
            assert stale == [0, 1, 2, 3, 4]


def test_reopening_does_not_purge_what_the_writer_wrote_itself(tmp_path):
    """purge_step applies to the first files only: a writer reopened after close() keeps its own steps."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logdir = str(tmp_path)
    with anyboard.SummaryWriter(logdir) as w:
        w.add_scalar("loss", 9.0, 7)  # an earlier run up to step 7
    w = anyboard.SummaryWriter(logdir, purge_step=5)
    w.add_scalar("loss", 1.0, 5)
    w.add_scalar("loss", 1.0, 6)
    w.close()
    w.add_scalar("loss", 1.0, 7)  # reopened: steps 5 and 6 of this writer must stay
    w.close()
    acc = EventAccumulator(logdir, size_guidance={"scalars": 0})
    acc.Reload()
    assert [(e.step, e.value) for e in acc.Scalars("loss")] == [(5, 1.0), (6, 1.0), (7, 1.0)]
