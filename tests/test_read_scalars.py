"""anyboard.read_scalars against TensorBoard's own Python loader, row for row.

Files come from anyboard, torch.utils.tensorboard and tensorboardX, and hand-built events
for the cases no writer here produces (v2 tensor scalars, several values per event, files
without a file_version). The reference is TensorBoard's ``EventMultiplexer`` (run names,
file order, restart purge), and the legacy ``event_accumulator`` where both agree.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import numpy as np
import pytest
from readref import frame_scalars, legacy_scalars, tb_scalars

import anyboard
from anyboard.io.records import frame_many
from anyboard.proto.event_pb2 import Event, SessionLog
from anyboard.proto.summary_pb2 import Summary, SummaryMetadata
from anyboard.proto.tensor_pb2 import TensorProto
from anyboard.read import read_scalars


def _check_against_tensorboard(logdir: str) -> dict:
    got = frame_scalars(read_scalars(logdir, output="numpy"))
    want = tb_scalars(logdir)
    assert got.keys() == want.keys()
    for key in want:
        assert got[key] == want[key], key
    return got


def _write(path: str, events: list[Event]) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(frame_many([e.SerializeToString() for e in events]))
    return path


def _scalar(step: int, tag: str, value: float, wall: float | None = None) -> Event:
    return Event(
        wall_time=1000.0 + step if wall is None else wall,
        step=step,
        summary=Summary(value=[Summary.Value(tag=tag, simple_value=value)]),
    )


def _version(wall: float = 999.0) -> Event:
    return Event(wall_time=wall, file_version="brain.Event:2")


def _start(step: int) -> Event:
    return Event(wall_time=1.0, step=step, session_log=SessionLog(status=SessionLog.START))


# -- writers ----------------------------------------------------------------------------------


def test_anyboard_file_with_subruns_matches_tensorboard_and_the_legacy_loader(logdir):
    with anyboard.SummaryWriter(logdir) as w:
        for i in range(300):  # steps past 127 and 16383 widths are covered below
            w.add_scalar("loss", 1.0 / (i + 1), i)
            w.add_scalar("accuracy/train", i * 0.001, i)
            if i % 7 == 0:
                w.add_scalars("lr", {"a": 0.1 * i, "b": -i}, i)
        w.add_scalar("big", 3.5, 2**40)
        w.add_scalar("neg", 1.5, -3)
    got = _check_against_tensorboard(logdir)
    assert {run for run, _ in got} == {".", "lr_a", "lr_b"}
    assert got[(".", "big")] == [(2**40, got[(".", "big")][0][1], 3.5)]
    legacy = legacy_scalars(logdir)
    for tag, rows in legacy.items():
        assert got[(".", tag)] == rows


def test_dataframe_columns_and_dtypes(logdir):
    pd = pytest.importorskip("pandas")
    with anyboard.SummaryWriter(logdir) as w:
        w.add_scalar("a", 1.25, 3)
        w.add_scalar("b", 2.5, 4)
    df = read_scalars(logdir)
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == ["run", "tag", "step", "wall_time", "value"]
    assert df.step.dtype == np.int64 and df.value.dtype == np.float64 and df.wall_time.dtype == np.float64
    assert df.tag.tolist() == ["a", "b"] and df.run.tolist() == [".", "."]
    assert df.value.tolist() == [1.25, 2.5] and df.step.tolist() == [3, 4]
    assert anyboard.read_scalars is read_scalars


@pytest.mark.parametrize("impl", ["torch", "tensorboardX"])
def test_peer_writers_including_purge_step_resume(tmp_path, impl):
    module = pytest.importorskip("torch.utils.tensorboard" if impl == "torch" else "tensorboardX")
    logdir = str(tmp_path / impl)
    w = module.SummaryWriter(logdir)
    for i in range(10):
        w.add_scalar("loss", float(i), i)
        w.add_scalar("other", float(-i), i)
        w.add_scalars("multi", {"x": i, "y": 2 * i}, i)
    w.close()
    # a suffix: tensorboardX's file names collide within one second (the resumed file would replace the first)
    w = module.SummaryWriter(logdir, purge_step=5, filename_suffix=".resumed")
    for i in range(5, 8):
        w.add_scalar("loss", 100.0 + i, i)
        w.add_scalars("multi", {"x": 100 + i}, i)
    w.close()
    got = _check_against_tensorboard(logdir)
    # TensorBoard's Python loader takes the peers' single START as the session start: nothing purged
    assert [s for s, _, _ in got[(".", "loss")]] == [*range(10), 5, 6, 7]


def test_tensorboardx_writer_with_metadata_on_values(tmp_path):
    tbx = pytest.importorskip("tensorboardX")
    logdir = str(tmp_path / "tbx")
    with tbx.SummaryWriter(logdir) as w:
        for i in range(20):
            w.add_scalar("described", i * 0.5, i, display_name="Described", summary_description="a description")
            w.add_scalar("plain", float(i), i)
        w.add_scalars("grp", {"u": 1.0, "v": 2.0}, 0)
    got = _check_against_tensorboard(logdir)
    assert len(got[(".", "described")]) == 20


def test_anyboard_purge_step_restart_drops_what_tensorboard_drops(logdir):
    with anyboard.SummaryWriter(logdir) as w:
        for i in range(10):
            w.add_scalar("a", float(i), i)
            w.add_scalar("b", float(i), i)
            w.add_scalars("s", {"k": float(i)}, i)
    with anyboard.SummaryWriter(logdir, purge_step=5) as w:
        w.add_scalar("a", 55.0, 5)
        w.add_scalars("s", {"k": 55.0}, 5)
    got = _check_against_tensorboard(logdir)
    assert [v for _, _, v in got[(".", "a")]] == [0, 1, 2, 3, 4, 55]
    assert [v for _, _, v in got[(".", "b")]] == [0, 1, 2, 3, 4]
    assert [v for _, _, v in got[("s_k", "s")]] == [0, 1, 2, 3, 4, 55]


# -- hand-built events ------------------------------------------------------------------------


def test_v2_tensor_scalars_float_double_and_metadata_only_on_the_first_value(logdir):
    meta = SummaryMetadata()
    meta.plugin_data.plugin_name = "scalars"
    events = [_version()]
    for i in range(40):
        f32 = TensorProto(dtype=1, float_val=[i * 0.25])
        f32.tensor_shape.SetInParent()
        content = TensorProto(dtype=1, tensor_content=np.float32(i).tobytes())
        f64 = TensorProto(dtype=2, double_val=[i / 3])
        values = [
            Summary.Value(tag="v2/float", tensor=f32, metadata=meta if i == 0 else None),
            Summary.Value(tag="v2/content", tensor=content, metadata=meta if i == 0 else None),
            Summary.Value(tag="v2/double", tensor=f64, metadata=meta if i == 0 else None),
        ]
        for v in values:
            events.append(Event(wall_time=10.0 + i, step=i, summary=Summary(value=[v])))
    # a tensor with no scalars metadata is not a scalar (TensorBoard does not show it)
    events.append(
        Event(step=1, summary=Summary(value=[Summary.Value(tag="bare", tensor=TensorProto(dtype=1, float_val=[1]))]))
    )
    _write(os.path.join(logdir, "events.out.tfevents.1"), events)
    got = _check_against_tensorboard(logdir)
    assert set(got) == {(".", "v2/float"), (".", "v2/content"), (".", "v2/double")}
    assert got[(".", "v2/double")][3][2] == 1.0


def test_several_values_per_event_and_a_zero_step_and_wall_time(logdir):
    events = [_version()]
    for i in range(5):
        values = [Summary.Value(tag=t, simple_value=float(i * k)) for k, t in enumerate(("x", "y", "z"))]
        events.append(Event(wall_time=0.0 if i == 0 else 5.0 + i, step=i, summary=Summary(value=values)))
    _write(os.path.join(logdir, "run1", "events.out.tfevents.1"), events)
    got = _check_against_tensorboard(logdir)
    assert got[("run1", "x")][0] == (0, 0.0, 0.0)
    assert len(got[("run1", "z")]) == 5


def test_restarts_second_start_purges_all_tags(logdir):
    first = [_version(), _start(0)] + [_scalar(i, t, float(i)) for i in range(10) for t in ("a", "b")]
    second = [_version(), _start(4)] + [_scalar(i, "a", 100.0 + i) for i in range(4, 6)]
    _write(os.path.join(logdir, "events.out.tfevents.100.h"), first)
    _write(os.path.join(logdir, "events.out.tfevents.200.h"), second)
    got = _check_against_tensorboard(logdir)
    assert [s for s, _, _ in got[(".", "a")]] == [0, 1, 2, 3, 4, 5]
    assert [s for s, _, _ in got[(".", "b")]] == [0, 1, 2, 3]
    # without the purge, every value
    plain = frame_scalars(read_scalars(logdir, output="numpy", purge_orphaned_data=False))
    assert len(plain[(".", "b")]) == 10


def test_out_of_order_steps_without_file_version_purge_only_their_tags(logdir):
    events = [_scalar(i, t, float(i)) for i in range(8) for t in ("a", "b")]
    events += [_scalar(3, "a", 33.0), _scalar(9, "b", 9.0), _scalar(2, "b", 22.0)]
    _write(os.path.join(logdir, "events.out.tfevents.1"), events)
    got = _check_against_tensorboard(logdir)
    assert [v for _, _, v in got[(".", "a")]] == [0, 1, 2, 33]
    assert [v for _, _, v in got[(".", "b")]] == [0, 1, 22]


def test_files_are_read_in_name_order_not_time_order(logdir):
    _write(
        os.path.join(logdir, "events.out.tfevents.200.b"), [_version()] + [_scalar(i, "t", float(i)) for i in range(3)]
    )
    _write(
        os.path.join(logdir, "events.out.tfevents.100.a"),
        [_version()] + [_scalar(i, "t", float(i)) for i in range(3, 6)],
    )
    _write(os.path.join(logdir, "x.tfevents.profile-empty"), [_version(), _scalar(0, "ignored", 1.0)])
    got = _check_against_tensorboard(logdir)
    assert [s for s, _, _ in got[(".", "t")]] == [3, 4, 5, 0, 1, 2]


def test_tags_and_runs_filters(logdir):
    with anyboard.SummaryWriter(logdir) as w:
        for i in range(3):
            w.add_scalar("keep", 1.0, i)
            w.add_scalar("drop", 2.0, i)
            w.add_scalars("g", {"p": 1.0, "q": 2.0}, i)
    cols = read_scalars(logdir, tags="keep", output="numpy")
    assert set(cols["tag"]) == {"keep"} and len(cols["tag"]) == 3
    cols = read_scalars(logdir, runs=["g_p"], output="numpy")
    assert set(cols["run"]) == {"g_p"} and len(cols["run"]) == 3
    with pytest.raises(TypeError, match="runs"):
        read_scalars(logdir, runs=[1])
    with pytest.raises(ValueError, match="output"):
        read_scalars(logdir, output="arrow")


def test_single_event_file_is_the_run_dot(logdir):
    path = _write(os.path.join(logdir, "events.out.tfevents.5"), [_version(), _scalar(1, "t", 2.0)])
    cols = read_scalars(path, output="numpy")
    assert list(cols["run"]) == ["."] and cols["value"].tolist() == [2.0]


def test_missing_path_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_scalars(str(tmp_path / "nope"))


def test_memory_url_reads_like_a_local_path(tmp_path):
    pytest.importorskip("fsspec")
    url = f"memory://read-{uuid.uuid4().hex[:8]}/logs"
    local = str(tmp_path / "logs")
    for target in (url, local):
        with anyboard.SummaryWriter(target) as w:
            for i in range(50):
                w.add_scalar("loss", float(i), i, walltime=100.0 + i)
            w.add_scalars("sub", {"a": 1.0}, 0, walltime=1.0)
    got = frame_scalars(read_scalars(url, output="numpy"))
    want = frame_scalars(read_scalars(local, output="numpy"))
    assert got == want and len(got[(".", "loss")]) == 50 and ("sub_a", "sub") in got


# -- optional pandas ----------------------------------------------------------------------------


def test_without_pandas_the_frame_raises_and_numpy_columns_work(logdir, monkeypatch):
    with anyboard.SummaryWriter(logdir) as w:
        w.add_scalar("t", 1.0, 0)
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"anyboard\[pandas\].*output='numpy'"):
        read_scalars(logdir)
    cols = read_scalars(logdir, output="numpy")
    assert cols["value"].tolist() == [1.0] and cols["tag"].tolist() == ["t"]


def test_import_anyboard_does_not_import_pandas():
    code = "import sys, anyboard; anyboard.read_scalars; print('pandas' in sys.modules, 'pyarrow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


@pytest.mark.parametrize("seed", range(25))
def test_random_event_streams_match_tensorboard(tmp_path, seed):
    """Random runs: several files, STARTs, file_version present or not (and < 2), steps going
    back, several values per event, v2 tensors, non-scalar events in between."""
    import random

    rnd = random.Random(seed)
    logdir = str(tmp_path / "logs")
    meta = SummaryMetadata()
    meta.plugin_data.plugin_name = "scalars"
    for run in ("r1", "r2/sub"):
        step = 0
        for file_index in range(rnd.randint(1, 3)):
            events: list[Event] = []
            version = rnd.choice(["brain.Event:2", "brain.Event:2", "brain.Event:1", None])
            if version:
                events.append(Event(wall_time=1.0, file_version=version))
            for _ in range(rnd.randint(5, 60)):
                r = rnd.random()
                if r < 0.08:
                    events.append(_start(max(0, step - rnd.randint(0, 10))))
                    continue
                if r < 0.15:
                    step = max(0, step - rnd.randint(1, 8))
                else:
                    step += rnd.choice((0, 1, 1, 2))
                if r < 0.25:
                    values = [
                        Summary.Value(tag=rnd.choice("abc"), simple_value=rnd.random())
                        for _ in range(rnd.randint(0, 3))
                    ]
                elif r < 0.32:
                    t = TensorProto(dtype=1, float_val=[rnd.random()])
                    values = [Summary.Value(tag="v2", tensor=t, metadata=meta if rnd.random() < 0.3 else None)]
                elif r < 0.36:
                    h = Summary.Value(tag="hist")
                    h.histo.bucket_limit.extend([1.0, 2.0])
                    h.histo.bucket.extend([1.0, 0.0])
                    values = [h]
                else:
                    values = [Summary.Value(tag=rnd.choice("abcd"), simple_value=rnd.random())]
                events.append(Event(wall_time=float(rnd.randint(1, 5)), step=step, summary=Summary(value=values)))
            _write(os.path.join(logdir, run, f"events.out.tfevents.{file_index}"), events)
    _check_against_tensorboard(logdir)
