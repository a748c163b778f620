"""read_histograms, read_images, read_audio, read_text and read_hparams against TensorBoard's
Python loader (after its data_compat conversions), on files from anyboard (both summary formats),
torch.utils.tensorboard and tensorboardX."""

from __future__ import annotations

import io
import os
import wave

import numpy as np
import pytest
from readref import tb_values

import anyboard
from anyboard.read import read_audio, read_histograms, read_hparams, read_images, read_text

FORMATS = ["compat", "tensor"]


def _writer(impl: str, logdir: str, **kw):
    if impl == "torch":
        return pytest.importorskip("torch.utils.tensorboard").SummaryWriter(logdir, **kw)
    if impl == "tensorboardX":
        return pytest.importorskip("tensorboardX").SummaryWriter(logdir, **kw)
    return anyboard.SummaryWriter(logdir, summary_format=impl.split(":")[1], **kw)


IMPLS = ["anyboard:compat", "anyboard:tensor", "torch", "tensorboardX"]


def _supports_format(impl: str) -> None:
    if impl.startswith("anyboard:"):
        import inspect

        if "summary_format" not in inspect.signature(anyboard.SummaryWriter).parameters:
            pytest.skip("this anyboard writer has no summary_format yet")


@pytest.mark.parametrize("impl", IMPLS)
def test_histograms_match_tensorboard(tmp_path, impl):
    _supports_format(impl)
    logdir = str(tmp_path / impl.replace(":", "_"))
    rng = np.random.default_rng(0)
    w = _writer(impl, logdir)
    for i in range(4):
        w.add_histogram("weights", rng.normal(size=1000) * (i + 1), i)
        w.add_histogram("narrow", np.full(10, 3.0), i)
    w.close()
    got = read_histograms(logdir, output="numpy")
    want = tb_values(logdir, "histograms")
    assert len(got["tag"]) == len(want) == 8
    rows = sorted(
        zip(got["tag"], got["step"].tolist(), got["edges"], got["counts"], got["wall_time"].tolist()),
        key=lambda r: (r[0], r[1]),
    )
    for (run, tag, step, wall, buckets), (gtag, gstep, edges, counts, gwall) in zip(
        sorted(want, key=lambda r: (r[1], r[2])), rows
    ):
        assert (run, tag, step, wall) == (".", gtag, gstep, gwall)
        assert len(counts) == len(buckets) and len(edges) == len(buckets) + 1
        # TensorBoard rounds converted v1 histograms to float32; anyboard keeps the float64 values
        np.testing.assert_array_equal(np.float32(edges[:-1]), np.float32(buckets[:, 0]))
        np.testing.assert_array_equal(np.float32(edges[1:]), np.float32(buckets[:, 1]))
        np.testing.assert_array_equal(np.float32(counts), np.float32(buckets[:, 2]))
    assert sum(got["counts"][0]) == 1000


@pytest.mark.parametrize("impl", IMPLS)
def test_images_match_tensorboard(tmp_path, impl):
    _supports_format(impl)
    logdir = str(tmp_path / impl.replace(":", "_"))
    rng = np.random.default_rng(1)
    w = _writer(impl, logdir)
    for i in range(3):
        w.add_image("img", rng.random((3, 6, 5)).astype(np.float32), i)
    w.close()
    got = read_images(logdir, output="numpy")
    want = tb_values(logdir, "images")
    assert len(got["image"]) == len(want) == 3
    for k, (_run, tag, step, _wall, tensor) in enumerate(want):
        assert got["tag"][k] == tag and got["step"][k] == step
        assert (got["width"][k], got["height"][k]) == (int(tensor[0]), int(tensor[1])) == (5, 6)
        assert got["image"][k] == tensor[2]
        assert got["image"][k][:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("impl", ["anyboard:compat", "anyboard:tensor", "torch"])
def test_audio_matches_tensorboard(tmp_path, impl):
    _supports_format(impl)
    logdir = str(tmp_path / impl.replace(":", "_"))
    w = _writer(impl, logdir)
    for i in range(2):
        w.add_audio("clip", np.sin(np.linspace(0, 20, 800)).astype(np.float32) * 0.5, i, sample_rate=8000)
    w.close()
    got = read_audio(logdir, output="numpy")
    want = tb_values(logdir, "audio")
    assert len(got["audio"]) == len(want) == 2
    for k, (_run, tag, step, _wall, tensor) in enumerate(want):
        assert got["tag"][k] == tag and got["step"][k] == step
        assert got["audio"][k] == tensor.reshape(-1)[0]
        assert got["sample_rate"][k] == 8000.0
        with wave.open(io.BytesIO(got["audio"][k])) as clip:
            assert clip.getframerate() == 8000 and clip.getnframes() == 800


@pytest.mark.parametrize("impl", ["anyboard:compat", "torch", "tensorboardX"])
def test_text_matches_tensorboard(tmp_path, impl):
    _supports_format(impl)
    logdir = str(tmp_path / impl.replace(":", "_"))
    w = _writer(impl, logdir)
    for i in range(3):
        w.add_text("notes", f"step **{i}** é", i)
    w.close()
    got = read_text(logdir, output="numpy")
    want = tb_values(logdir, "text")
    assert len(got["text"]) == len(want) == 3
    for k, (_run, tag, step, _wall, tensor) in enumerate(want):
        assert got["tag"][k] == tag and got["step"][k] == step
        assert got["text"][k] == tensor.reshape(-1)[0].decode("utf-8") == f"step **{k}** é"


@pytest.mark.parametrize("impl", ["anyboard:compat", "torch", "tensorboardX"])
def test_hparams_one_row_per_session(tmp_path, impl):
    _supports_format(impl)
    logdir = str(tmp_path / impl.replace(":", "_"))
    w = _writer(impl, logdir)
    w.add_hparams({"lr": 0.1, "opt": "adam", "flag": True}, {"hp/acc": 0.5, "hp/loss": 2.0})
    w.add_hparams({"lr": 0.01, "opt": "sgd", "flag": False}, {"hp/acc": 0.75, "hp/loss": 1.0})
    w.close()
    table = read_hparams(logdir, output="numpy")
    assert set(table) >= {"run", "lr", "opt", "flag", "hp/acc", "hp/loss"}
    rows = sorted(zip(table["lr"], table["opt"], table["flag"], table["hp/acc"], table["hp/loss"]))
    assert rows == [(0.01, "sgd", False, 0.75, 1.0), (0.1, "adam", True, 0.5, 2.0)]
    # each session is a run TensorBoard knows, holding its start info
    sessions = {run for run, tag, *_ in tb_values(logdir, "hparams") if tag == "_hparams_/session_start_info"}
    assert sessions == set(table["run"])


def test_kinds_frames_and_filters(tmp_path):
    pd = pytest.importorskip("pandas")
    logdir = str(tmp_path / "logs")
    with anyboard.SummaryWriter(logdir) as w:
        w.add_histogram("h", np.arange(10.0), 0)
        w.add_histogram("other", np.arange(5.0), 0)
        w.add_text("t", "hello", 2)
        w.add_scalar("s", 1.0, 0)
    df = read_histograms(logdir, tags="h")
    assert isinstance(df, pd.DataFrame) and df.tag.tolist() == ["h"]
    assert list(df.columns) == ["run", "tag", "step", "wall_time", "edges", "counts"]
    assert read_text(logdir).text.tolist() == ["hello"]
    assert len(read_images(logdir)) == 0 and len(read_audio(logdir)) == 0
    assert list(read_hparams(logdir).columns) == ["run"]
    assert anyboard.read_histograms is read_histograms


def test_purge_applies_to_histograms(tmp_path):
    logdir = str(tmp_path / "logs")
    with anyboard.SummaryWriter(logdir) as w:
        for i in range(6):
            w.add_histogram("h", np.arange(float(i + 1)), i)
    with anyboard.SummaryWriter(logdir, purge_step=3) as w:
        w.add_histogram("h", np.arange(3.0), 3)
    got = read_histograms(logdir, output="numpy")
    assert got["step"].tolist() == [0, 1, 2, 3]
    assert [r[2] for r in tb_values(logdir, "histograms")] == [0, 1, 2, 3]
    assert os.path.isdir(logdir)


@pytest.mark.parametrize("parent", ["a", "-"])  # "-" sorts before the root session "."
def test_hparams_table_matches_the_hparams_dashboard(tmp_path, parent):
    """A run given hparams twice keeps its first ones; a nested session's scalars are its own,
    not its parent's (TensorBoard's longest-prefix rule); an hparam named "run" does not
    replace the run column. Compared with the HParams dashboard's session groups."""
    from tbread import TensorBoardServer

    logdir = str(tmp_path / "logs")
    with anyboard.SummaryWriter(logdir) as w:
        w.add_hparams({"lr": 0.5, "run": 7}, {"acc": 0.25}, into_run=True)
        with pytest.warns(UserWarning, match="keeps the first"):
            w.add_hparams({"lr": 0.75, "run": 8}, {"acc": 0.375}, into_run=True)
        w.add_hparams({"lr": 0.1, "run": 1}, {"acc": 0.5}, run_name=parent)
        w.add_hparams({"lr": 0.2, "run": 2}, {"acc": 0.75}, run_name=f"{parent}/b")
    table = read_hparams(logdir, output="numpy")
    assert list(table) == ["run", "lr", "hparam/run", "acc"]
    ours = {
        run: ({"lr": lr, "run": hp_run}, acc)
        for run, hp_run, lr, acc in zip(table["run"], table["hparam/run"], table["lr"], table["acc"], strict=True)
    }
    body = {
        "experimentName": "",
        "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
        "colParams": [{"hparam": h, "includeInResult": True} for h in ("lr", "run")]
        + [{"metric": {"group": "", "tag": "acc"}, "includeInResult": True}],
        "startIndex": 0,
        "sliceSize": 100,
    }
    with TensorBoardServer(logdir) as tb:
        exp = tb.wait_for(lambda: tb.post("/data/plugin/hparams/experiment", {"experimentName": ""}).get("metricInfos"))
        metric_groups = {m["name"]["group"] for m in exp}
        assert "b" not in metric_groups, "the nested session's metric was credited to its parent"
        groups = tb.post("/data/plugin/hparams/session_groups", body)["sessionGroups"]
    theirs = {g["name"]: (g["hparams"], g["metricValues"][0]["value"]) for g in groups}
    assert ours == theirs
    assert ours["."] == ({"lr": 0.5, "run": 7.0}, 0.375)
