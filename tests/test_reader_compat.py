"""The same ``add_*`` calls written by anyboard and by ``torch.utils.tensorboard``, read back by every
reader users point at the peers' files: TensorBoard's legacy ``EventAccumulator``, its plugin
``EventAccumulator`` (the Python loader), a real TensorBoard with the Rust data server, and tbparse.

anyboard writes twice: with the default ``summary_format="compat"`` (the peers' fields) every
reader must see the same tags under the same kinds, the same values (wall times aside) and the same
tbparse row counts as in torch's files; with ``summary_format="tensor"`` (TensorBoard's v2 tensors)
the plugin loaders and the Rust server see the same, and the legacy accumulator and tbparse see
histograms, images and audio as tensors (the documented difference of that format).

What differs on purpose, and is asserted as such (see ``DIFFERENCES``): ``add_text`` keeps its tag
(torch appends ``/text_summary``); anyboard excludes nothing here that torch keeps (the inputs are
finite and inside the default bucket edges); audio is rounded where torch truncates (at most 1 LSB);
the box-drawing and figure pixels are each library's own drawing (sizes compared).

Two stand-ins, because neither optional package is installed: torch's ``add_video`` needs moviepy
only to encode the GIF, so its encoder is replaced by Pillow's (torch's own code still builds the
``Summary.Image``); tbparse decodes images and audio with TensorFlow, so ``tf.image.decode_image``
and ``tf.audio.decode_wav`` are replaced by Pillow and ``wave`` decoders.
"""

from __future__ import annotations

import io
import os
import types
import wave
from typing import Any

import numpy as np
import pytest
from PIL import Image
from tbread import TensorBoardServer

import anyboard

torch = pytest.importorskip("torch")
tb_writer = pytest.importorskip("torch.utils.tensorboard")

WALL = 1_700_000_000.0
RNG = np.random.default_rng(2024)
WEIGHTS = [RNG.standard_normal(3000).astype(np.float32) * (s + 1) for s in range(3)]
IMAGE = RNG.integers(0, 256, (3, 12, 10), dtype=np.uint8)  # CHW
BATCH = RNG.integers(0, 256, (5, 3, 6, 4), dtype=np.uint8)  # NCHW: a 5x1 grid
VIDEO = RNG.integers(0, 256, (1, 4, 3, 8, 6), dtype=np.uint8)  # NTCHW
SOUND = (0.5 * np.sin(np.linspace(0, 20 * np.pi, 800))).astype(np.float32)
LABELS = RNG.integers(0, 2, 200).astype(bool)
PREDICTIONS = RNG.uniform(0, 1, 200)
VERTS = np.array([[[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]], dtype=np.float32)
FACES = np.array([[[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]]], dtype=np.int32)
COLORS = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [9, 9, 9]]], dtype=np.uint8)
LAYOUT = {"losses": {"both": ["Multiline", ["loss", "multi"]], "band": ["Margin", ["loss", "lo", "hi"]]}}
EMBEDDING = RNG.standard_normal((6, 4))  # float64: torch writes float64 text, anyboard float32's
EMBEDDING_LABELS = ["a", "b", "c", "d", "e", "f"]
THUMBS = RNG.uniform(0, 1, (6, 3, 5, 5))  # float thumbnails (non-square ones: see test_embedding.py)
TEXT_TAG = {"note": "note/text_summary"}  # anyboard's tag -> torch's
# torch writes an hparams experiment summary with every add_hparams call; anyboard writes none
# (TensorBoard then builds the experiment from all sessions instead of the first one it finds).
TORCH_ONLY = {"_hparams_/experiment"}


def _figure() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 1.5), dpi=40)
    fig.add_subplot().plot([0, 1, 2], [1, 0, 2])
    return fig


class _Net(torch.nn.Module):  # type: ignore[misc,name-defined]
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(3, 2)

    def forward(self, x: Any) -> Any:
        return torch.relu(self.lin(x))


def log_step(w: Any, s: int, *, audio: bool = True) -> None:
    """The calls made at every step ``s`` (positional order of the peers)."""
    wall = WALL + s
    w.add_scalar("loss", 1.0 / (s + 1), s, wall)
    w.add_scalars("multi", {"a": float(s), "b": -2.0 * s}, s, wall)
    w.add_histogram("weights", WEIGHTS[s], s, walltime=wall)
    w.add_text("note", f"step **{s}**", s, wall)
    w.add_image("img", IMAGE // (s + 1), s, wall)
    if audio:
        w.add_audio("snd", SOUND / (s + 1), s, 8000, wall)


def write_all(w: Any) -> None:
    """The sequence of calls, the same for every writer."""
    for s in range(3):
        log_step(w, s)
    w.add_scalar("styled", 0.5, 0, WALL, new_style=True)
    w.add_histogram("ints", np.arange(-7, 30), 0, bins=6, walltime=WALL)
    w.add_histogram_raw("raw", 0.0, 3.0, 4.0, 6.0, 14.0, [1.0, 2.0, 3.0], [1.0, 1.0, 2.0], 0, WALL)
    w.add_histogram_raw("raw_empty", 0.0, 0.0, 0.0, 0.0, 0.0, [], [], 0, WALL)  # the peers write it; it raised
    w.add_images("batch", BATCH, 0, WALL)
    w.add_image_with_boxes("boxes", IMAGE, np.array([[1, 1, 6, 8]]), 0, WALL)
    w.add_figure("fig", _figure(), 0, walltime=WALL)
    w.add_video("vid", VIDEO, 0, fps=5, walltime=WALL)
    w.add_tensor("tens", torch.arange(6, dtype=torch.float32).reshape(2, 3), 0, WALL)
    w.add_pr_curve("pr", LABELS, PREDICTIONS, 0, num_thresholds=11, walltime=WALL)
    w.add_pr_curve_raw(
        "pr_raw", [4, 3, 1], [4, 1, 0], [0, 3, 4], [0, 1, 3], [0.5, 0.75, 1.0], [1.0, 0.75, 0.25], 0, 3, walltime=WALL
    )
    w.add_mesh("mesh", VERTS, colors=COLORS, faces=FACES, global_step=0, walltime=WALL)
    w.add_custom_scalars(LAYOUT)
    w.add_embedding(EMBEDDING, metadata=EMBEDDING_LABELS, label_img=torch.from_numpy(THUMBS), global_step=2, tag="emb")
    w.add_graph(_Net(), torch.zeros(1, 3))
    w.add_hparams({"lr": 0.1, "opt": "adam"}, {"hparam/acc": 0.75}, run_name="hp")


def _pillow_video(tensor: np.ndarray, fps: float) -> Any:
    """torch's ``make_video`` without moviepy: the same ``Summary.Image``, the GIF from Pillow."""
    from torch.utils.tensorboard.summary import Summary

    _, h, w, c = tensor.shape
    frames = [Image.fromarray(f) for f in tensor]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=round(1000 / fps), loop=0)
    return Summary.Image(height=h, width=w, colorspace=c, encoded_image_string=buf.getvalue())


@pytest.fixture(scope="module")
def logs(tmp_path_factory, request) -> dict[str, str]:
    """``{"torch": dir, "compat": dir, "tensor": dir}``, each written by :func:`write_all`."""
    import torch.utils.tensorboard.summary as torch_summary

    root = tmp_path_factory.mktemp("compat")
    out = {name: str(root / name) for name in ("torch", "compat", "tensor")}
    patch = pytest.MonkeyPatch()
    patch.setattr(torch_summary, "make_video", _pillow_video)
    try:
        w = tb_writer.SummaryWriter(out["torch"])
        write_all(w)
        w.close()
    finally:
        patch.undo()
    for fmt in ("compat", "tensor"):
        with anyboard.SummaryWriter(out[fmt], summary_format=fmt) as w:
            write_all(w)
    out["root"] = str(root)
    return out


# -- helpers --------------------------------------------------------------------------------


def run_dirs(logdir: str) -> dict[str, str]:
    """``{run name: directory}`` of every directory holding an event file ("." for the root)."""
    out = {}
    for path, _, files in os.walk(logdir):
        if any("tfevents" in f for f in files):
            out[os.path.relpath(path, logdir)] = path
    return out


def torch_tag(tag: str) -> str:
    """The tag torch writes for anyboard's ``tag`` (the text rename is the one difference in tags)."""
    return TEXT_TAG.get(tag, tag)


def legacy(run_dir: str) -> Any:
    from tensorboard.backend.event_processing import event_accumulator as ea

    keep_all = {k: 0 for k in (ea.SCALARS, ea.HISTOGRAMS, ea.COMPRESSED_HISTOGRAMS, ea.IMAGES, ea.AUDIO, ea.TENSORS)}
    acc = ea.EventAccumulator(run_dir, size_guidance=keep_all)
    acc.Reload()
    return acc


def plugin_loader(run_dir: str) -> Any:
    from tbread import python_accumulator

    return python_accumulator(run_dir)


def tags_by_kind(acc: Any, rename: bool) -> dict[str, list[str]]:
    return {
        kind: sorted(torch_tag(t) if rename else t for t in tags if t not in TORCH_ONLY)
        if isinstance(tags, list)
        else tags
        for kind, tags in acc.Tags().items()
    }


def pixels(blob: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(blob)) as img:
        return np.asarray(img.convert("RGB"))


def samples(blob: bytes) -> np.ndarray:
    with wave.open(io.BytesIO(blob)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.int32)


SAME_PIXELS = {"img", "batch", "vid"}  # boxes and figures are each library's own drawing
SAME_COLORSPACE = {"img", "batch", "vid"}  # torch drops a figure's alpha; anyboard keeps it (RGBA)


# -- 1. the legacy EventAccumulator ---------------------------------------------------------------


def test_legacy_accumulator_sees_the_same_tags_under_the_same_kinds(logs):
    torch_runs, ours = run_dirs(logs["torch"]), run_dirs(logs["compat"])
    assert set(torch_runs) == set(ours) == {".", "multi_a", "multi_b", "hp"}
    for run in torch_runs:
        assert tags_by_kind(legacy(ours[run]), True) == tags_by_kind(legacy(torch_runs[run]), False), run


def test_legacy_accumulator_reads_the_same_values(logs):
    theirs, ours = legacy(logs["torch"]), legacy(logs["compat"])
    for tag in ("loss",):
        assert [(e.step, e.value) for e in ours.Scalars(tag)] == [(e.step, e.value) for e in theirs.Scalars(tag)]
    for key in ("a", "b"):
        sub_theirs, sub_ours = (
            legacy(os.path.join(logs["torch"], f"multi_{key}")),
            legacy(os.path.join(logs["compat"], f"multi_{key}")),
        )
        assert [(e.step, e.value) for e in sub_ours.Scalars("multi")] == [
            (e.step, e.value) for e in sub_theirs.Scalars("multi")
        ]
    for tag in ("weights", "ints", "raw"):
        got, want = ours.Histograms(tag), theirs.Histograms(tag)
        assert [e.step for e in got] == [e.step for e in want], tag
        for g, w in zip(got, want):
            g, w = g.histogram_value, w.histogram_value
            assert (g.bucket_limit, g.bucket) == (w.bucket_limit, w.bucket), tag
            assert (g.min, g.max, g.num) == (w.min, w.max, w.num), tag
            assert g.sum == pytest.approx(w.sum, rel=1e-9, abs=1e-9) and g.sum_squares == pytest.approx(
                w.sum_squares, rel=1e-9
            ), tag
        compressed = [[tuple(c) for c in e.compressed_histogram_values] for e in ours.CompressedHistograms(tag)]
        expected = [[tuple(c) for c in e.compressed_histogram_values] for e in theirs.CompressedHistograms(tag)]
        np.testing.assert_allclose(
            np.array(compressed, np.float64), np.array(expected, np.float64), rtol=1e-12, err_msg=tag
        )
    for tag in ("img", "batch", "boxes", "fig", "vid"):
        got, want = ours.Images(tag), theirs.Images(tag)
        assert [(e.step, e.width, e.height) for e in got] == [(e.step, e.width, e.height) for e in want], tag
        if tag in SAME_PIXELS:
            for g, w in zip(got, want):
                np.testing.assert_array_equal(
                    pixels(g.encoded_image_string), pixels(w.encoded_image_string), err_msg=tag
                )
    got, want = ours.Audio("snd"), theirs.Audio("snd")
    fields = [(e.step, e.content_type, e.sample_rate, e.length_frames) for e in want]
    assert [(e.step, e.content_type, e.sample_rate, e.length_frames) for e in got] == fields
    for g, w in zip(got, want):  # anyboard rounds to the nearest sample, torch truncates
        assert np.abs(samples(g.encoded_audio_string) - samples(w.encoded_audio_string)).max() <= 1
    _same_tensors(ours, theirs)


def _same_tensors(ours: Any, theirs: Any) -> None:
    """The ``Tensors`` of each tag (text, PR curves, mesh, custom scalars, add_tensor) hold the same values."""
    from tensorboard.plugins.custom_scalar import layout_pb2
    from tensorboard.util import tensor_util

    for tag in ours.Tags()["tensors"]:
        got, want = ours.Tensors(tag), theirs.Tensors(torch_tag(tag))
        assert [e.step for e in got] == [e.step for e in want], tag
        for g, w in zip(got, want):
            a, b = tensor_util.make_ndarray(g.tensor_proto), tensor_util.make_ndarray(w.tensor_proto)
            assert a.shape == b.shape, tag
            if tag == "custom_scalars__config__":
                assert layout_pb2.Layout.FromString(a.item()) == layout_pb2.Layout.FromString(b.item())
            elif a.dtype == object:
                assert a.tolist() == b.tolist(), tag
            else:  # mesh faces and colors: int32/uint8 here, float32 in torch's files
                np.testing.assert_allclose(a.astype(np.float64), b.astype(np.float64), rtol=1e-6, err_msg=tag)


def test_tensor_format_is_seen_as_tensors_by_the_legacy_accumulator(logs):
    """The documented difference of ``summary_format="tensor"``: v2 histograms, images, audio are tensors there."""
    tags = legacy(logs["tensor"]).Tags()
    assert tags["histograms"] == ["raw", "raw_empty"] and tags["images"] == [] and tags["audio"] == []
    assert {"weights", "ints", "img", "batch", "boxes", "fig", "vid", "snd"} <= set(tags["tensors"])


# -- 2. TensorBoard's plugin loader (--load_fast=false) --------------------------------------------


@pytest.mark.parametrize("fmt", ["compat", "tensor"])
def test_plugin_loader_sees_the_same_tags_plugins_and_values(logs, fmt):
    from tensorboard.util import tensor_util

    torch_runs, ours = run_dirs(logs["torch"]), run_dirs(logs[fmt])
    assert set(torch_runs) == set(ours)
    for run in torch_runs:
        mine, theirs = plugin_loader(ours[run]), plugin_loader(torch_runs[run])
        assert tags_by_kind(mine, True) == tags_by_kind(theirs, False), run
        for tag in mine.Tags()["tensors"]:
            a, b = mine.SummaryMetadata(tag), theirs.SummaryMetadata(torch_tag(tag))
            assert (a.plugin_data.plugin_name, a.data_class) == (b.plugin_data.plugin_name, b.data_class), (run, tag)
            got, want = mine.Tensors(tag), theirs.Tensors(torch_tag(tag))
            assert [e.step for e in got] == [e.step for e in want], (run, tag)
            for g, w in zip(got, want):
                x, y = tensor_util.make_ndarray(g.tensor_proto), tensor_util.make_ndarray(w.tensor_proto)
                plugin = a.plugin_data.plugin_name
                if plugin == "histograms":
                    assert x[:, 2].sum() == y[:, 2].sum(), tag
                    if fmt == "compat":  # the same HistogramProto, converted by the same code
                        np.testing.assert_array_equal(x, y, err_msg=tag)
                elif plugin == "images":
                    assert x[:2].tolist() == y[:2].tolist(), tag  # width, height
                    if tag in SAME_PIXELS:
                        np.testing.assert_array_equal(pixels(x[2]), pixels(y[2]), err_msg=tag)
                elif plugin == "audio":
                    assert x.shape == y.shape and np.abs(samples(x[0]) - samples(y[0])).max() <= 1
                elif plugin in ("scalars", "pr_curves", "mesh", "tensor"):
                    np.testing.assert_allclose(x.astype(np.float64), y.astype(np.float64), rtol=1e-6, err_msg=tag)
                elif plugin == "hparams":
                    assert tag.startswith("_hparams_/")
                elif plugin == "graphs":  # the run's GraphDef: each library names its nodes its own way
                    from tensorboard.compat.proto.graph_pb2 import GraphDef

                    assert x.shape == y.shape == (1,), tag
                    assert _structure(GraphDef.FromString(x[0])) == _structure(GraphDef.FromString(y[0])), tag
                elif plugin == "text" and fmt == "tensor":  # one string as rank 0 (torch: shape [1])
                    assert x.shape == () and x.reshape(1).tolist() == y.tolist(), tag
                else:  # text, custom scalars: strings
                    assert x.shape == y.shape and (plugin == "custom_scalars" or x.tolist() == y.tolist()), tag


# -- 3. a real TensorBoard with the Rust data server ---------------------------------------------


def _server_view(tb: TensorBoardServer, prefix: str) -> dict[str, Any]:
    """Everything the dashboards get for the runs under ``prefix`` (tags per plugin, then the data)."""
    view: dict[str, Any] = {}
    for plugin in ("scalars", "histograms", "images", "audio", "text", "pr_curves", "mesh"):
        tags = tb.get(f"/data/plugin/{plugin}/tags")
        for run, by_tag in tags.items():
            if run == prefix or run.startswith(prefix + "/"):
                names = by_tag if isinstance(by_tag, list) else list(by_tag)
                view[f"{plugin} tags {run[len(prefix) :]}"] = sorted(torch_tag(t) for t in names)
    run = prefix
    view["loss"] = [(s, v) for _, s, v in tb.scalars(run, "loss")]
    view["multi_b"] = [(s, v) for _, s, v in tb.scalars(run + "/multi_b", "multi")]
    for tag in ("weights", "ints", "raw"):
        view[f"histogram {tag}"] = [
            (s, rows) for _, s, rows in tb.get("/data/plugin/histograms/histograms", run=run, tag=tag)
        ]
    for tag in ("img", "batch", "boxes", "fig", "vid"):
        entries = tb.get("/data/plugin/images/images", run=run, tag=tag, sample=0)
        view[f"image {tag}"] = [e["step"] for e in entries]
        if tag in SAME_PIXELS:
            blobs = [tb.get_raw("/data/plugin/images/individualImage?" + e["query"]).content for e in entries]
            view[f"pixels {tag}"] = [pixels(b).tolist() for b in blobs]
    entries = tb.get("/data/plugin/audio/audio", run=run, tag="snd", sample=0)
    view["audio"] = [(e["step"], e["contentType"]) for e in entries]
    notes = tb.get("/data/plugin/text/text", run=run, tag="note" if prefix != "torch" else "note/text_summary")
    view["text"] = [(n["step"], n["text"]) for n in notes]
    graphs = tb.get("/data/plugin/graphs/info")[run]
    view["graph"] = (graphs["run_graph"], sorted(graphs["tags"]))
    view["run metadata"] = graphs["tags"]["step1"]
    projector = tb.get("/data/plugin/projector/info", run=run)
    view["projector"] = [
        {k: e.get(k) for k in ("tensorName", "tensorPath", "metadataPath", "sprite")} for e in projector["embeddings"]
    ]
    view["projector tensor"] = np.frombuffer(
        tb.get("/data/plugin/projector/tensor", run=run, name="emb:00002"), "<f4"
    ).tolist()
    curves = tb.get("/data/plugin/pr_curves/pr_curves", run=run, tag="pr")[run]
    view["pr"] = [(c["step"], np.round(c["precision"], 6).tolist(), c["true_positives"]) for c in curves]
    return view


def test_rust_data_server_serves_the_same(logs):
    with TensorBoardServer(logs["root"], load_fast=True) as tb:
        tb.wait_for(lambda: {"torch/hp", "compat/hp", "tensor/hp"} <= set(tb.get("/data/runs")))
        tb.wait_for(lambda: all(r in tb.get("/data/plugin/pr_curves/tags") for r in ("torch", "compat", "tensor")))
        theirs = _server_view(tb, "torch")
        compat = _server_view(tb, "compat")
        tensor = _server_view(tb, "tensor")
    assert theirs["graph"] == (True, ["step1"]) and len(theirs["projector"]) == 1
    np.testing.assert_array_equal(theirs["projector tensor"], EMBEDDING.astype(np.float32).ravel())
    assert compat == theirs
    # The v2 encodings: the same tags and data, but exact histogram rows (not converted from
    # HistogramProto), and audio served as audio/wav (v1 audio has no content type there).
    for key in theirs:
        if key.startswith("histogram "):
            assert [s for s, _ in tensor[key]] == [s for s, _ in theirs[key]]
            assert [sum(r[2] for r in rows) for _, rows in tensor[key]] == [
                sum(r[2] for r in rows) for _, rows in theirs[key]
            ]
        elif key == "text":  # one string at rank 0: one Markdown block instead of a one-cell table
            assert [
                (s, f"<table>\n<tbody>\n<tr>\n<td>{html}</td>\n</tr>\n</tbody>\n</table>") for s, html in tensor[key]
            ] == theirs[key]
        elif key == "audio":
            assert tensor[key] == [(s, "audio/wav") for s, _ in theirs[key]]
            assert {t for _, t in theirs[key]} == {"application/octet-stream"}
        else:
            assert tensor[key] == theirs[key], key


# -- 4. tbparse --------------------------------------------------------------------------------


def _decode_image(blob: bytes) -> Any:
    return types.SimpleNamespace(numpy=lambda: np.asarray(Image.open(io.BytesIO(bytes(blob)))))


def _decode_wav(blob: bytes) -> Any:
    with wave.open(io.BytesIO(bytes(blob))) as w:
        data = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, w.getnchannels()) / 32768.0
        rate = w.getframerate()
    return types.SimpleNamespace(numpy=lambda: data.astype(np.float32)), rate


@pytest.fixture
def tbparse_reader(monkeypatch):
    """tbparse's ``SummaryReader`` with Pillow/``wave`` standing in for TensorFlow's two decoders."""
    tbparse = pytest.importorskip("tbparse")
    import tbparse.summary_reader as reader_module

    stand_in = types.SimpleNamespace(
        image=types.SimpleNamespace(decode_image=_decode_image), audio=types.SimpleNamespace(decode_wav=_decode_wav)
    )
    monkeypatch.setattr(reader_module, "tensorflow", stand_in)
    return tbparse.SummaryReader


FRAMES = ("scalars", "tensors", "histograms", "images", "audio", "text", "hparams")
EXTRA = {
    "dir_name",
    "min",
    "max",
    "num",
    "sum",
    "sum_squares",
    "width",
    "height",
    "content_type",
    "length_frames",
    "sample_rate",
}


def _frames(reader: Any, logdir: str) -> dict[str, Any]:
    r = reader(logdir, extra_columns=EXTRA)
    out = {}
    for name in FRAMES:
        frame = getattr(r, name)
        if "tag" in frame:
            frame = frame.assign(
                tag=[
                    torch_tag(t.removesuffix("/text_summary")) if name == "text" else torch_tag(t) for t in frame["tag"]
                ]
            )
            frame = frame[~frame["tag"].isin(TORCH_ONLY)]
            frame = frame.sort_values([c for c in ("dir_name", "tag", "step") if c in frame]).reset_index(drop=True)
        out[name] = frame
    return out


def test_tbparse_gives_the_same_frames(logs, tbparse_reader):
    theirs, ours = _frames(tbparse_reader, logs["torch"]), _frames(tbparse_reader, logs["compat"])
    for name in FRAMES:
        assert len(ours[name]) == len(theirs[name]) > 0, name
        assert list(ours[name].columns) == list(theirs[name].columns), name
    for name in ("scalars", "text", "hparams"):
        assert ours[name].to_dict("list") == theirs[name].to_dict("list"), name
    h, t = ours["histograms"], theirs["histograms"]
    assert h[["dir_name", "tag", "step", "min", "max", "num"]].equals(
        t[["dir_name", "tag", "step", "min", "max", "num"]]
    )
    for a, b in zip(h["limits"], t["limits"]):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(h["counts"], t["counts"]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(h["sum_squares"], t["sum_squares"], rtol=1e-9)
    i, t = ours["images"], theirs["images"]
    assert i[["tag", "step", "width", "height"]].equals(t[["tag", "step", "width", "height"]])
    a, t = ours["audio"], theirs["audio"]
    assert a[["tag", "step", "content_type", "length_frames", "sample_rate"]].equals(
        t[["tag", "step", "content_type", "length_frames", "sample_rate"]]
    )
    tensors, t = ours["tensors"], theirs["tensors"]
    assert tensors[["dir_name", "tag", "step"]].equals(t[["dir_name", "tag", "step"]])


def test_tbparse_sees_the_tensor_format_as_tensors(logs, tbparse_reader):
    """``summary_format="tensor"``: tbparse files v2 histograms, images and audio under ``tensors``."""
    theirs, ours = _frames(tbparse_reader, logs["torch"]), _frames(tbparse_reader, logs["tensor"])
    assert (
        sorted(set(ours["histograms"]["tag"])) == ["raw", "raw_empty"] and ours["images"].empty and ours["audio"].empty
    )
    moved = len(theirs["histograms"]) - 2 + len(theirs["images"]) + len(theirs["audio"])  # the raw ones stay
    assert len(ours["tensors"]) == len(theirs["tensors"]) + moved
    for name in ("scalars", "text", "hparams"):
        assert len(ours[name]) == len(theirs[name]), name


# -- 5. what the four readers above do not cover: graph, projector files, tbparse's options ---------


def _structure(graph: Any) -> tuple[list[tuple[str, tuple[str, ...], str]], int]:
    """A graph's structure without its node names: ``(op, ops of its inputs, output shapes)`` of each
    node that is not a parameter, sorted, and the number of parameter (``prim::GetAttr``) nodes.

    Node names are each library's own (torch numbers its nodes, ``Net/Linear[lin]/19``; anyboard
    names them after the op, ``Net/Linear[lin]/linear``), so the structure is compared by ops."""
    op_of = {n.name: n.op for n in graph.node}
    rows = []
    for n in graph.node:
        if n.op == "prim::GetAttr":
            continue
        shapes = str(n.attr["_output_shapes"]) if "_output_shapes" in n.attr else ""
        rows.append((n.op, tuple(op_of.get(i, "?") for i in n.input), shapes))
    return sorted(rows), sum(n.op == "prim::GetAttr" for n in graph.node)


def test_graph_reads_back_with_the_same_structure_and_run_metadata(logs):
    for reader in (legacy, plugin_loader):
        ours, theirs = reader(logs["compat"]), reader(logs["torch"])
        assert ours.Tags()["graph"] and theirs.Tags()["graph"]
        assert ours.Tags()["run_metadata"] == theirs.Tags()["run_metadata"]
        if reader is legacy:  # the plugin loader files run metadata under the graphs plugin instead
            assert ours.Tags()["run_metadata"] == ["step1"]
            assert ours.RunMetadata("step1").step_stats.dev_stats[0].device == "/device:CPU:0"
        mine = _structure(ours.Graph())
        assert mine == _structure(theirs.Graph())
        assert mine[1] == 2  # the weight and the bias
        assert [(op, inputs) for op, inputs, _ in mine[0]] == [
            ("IO Node", ()),
            ("IO Node", ("aten::relu",)),
            ("aten::linear", ("IO Node", "prim::GetAttr", "prim::GetAttr")),
            ("aten::relu", ("aten::linear",)),
        ]


def test_projector_files_match_torch(logs):
    """add_embedding's files, read as the projector reads them: config, float32 tensor, labels, sprite."""
    from google.protobuf import text_format
    from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

    def config(logdir: str) -> Any:
        with open(os.path.join(logdir, "projector_config.pbtxt")) as f:
            return text_format.Parse(f.read(), ProjectorConfig())

    ours, theirs = config(logs["compat"]), config(logs["torch"])
    assert len(ours.embeddings) == len(theirs.embeddings) == 1
    a, b = ours.embeddings[0], theirs.embeddings[0]
    fields = ("tensor_name", "tensor_path", "metadata_path")
    assert (
        [getattr(a, f) for f in fields]
        == [getattr(b, f) for f in fields]
        == ["emb:00002", "00002/emb/tensors.tsv", "00002/emb/metadata.tsv"]
    )
    assert (a.sprite.image_path, list(a.sprite.single_image_dim)) == (
        b.sprite.image_path,
        list(b.sprite.single_image_dim),
    )
    assert list(a.tensor_shape) == [6, 4]  # anyboard also says the shape (torch leaves it to the TSV)

    def read(logdir: str, path: str) -> bytes:
        with open(os.path.join(logdir, path), "rb") as f:
            return f.read()

    # The projector parses the TSV into float32: anyboard writes float32's shortest text, torch float64's.
    mine = np.loadtxt(io.BytesIO(read(logs["compat"], a.tensor_path)), delimiter="\t", dtype=np.float64)
    want = np.loadtxt(io.BytesIO(read(logs["torch"], b.tensor_path)), delimiter="\t", dtype=np.float64)
    np.testing.assert_array_equal(mine.astype(np.float32), want.astype(np.float32))
    np.testing.assert_array_equal(mine.astype(np.float32), EMBEDDING.astype(np.float32))
    assert read(logs["compat"], a.metadata_path) == read(logs["torch"], b.metadata_path) == b"a\nb\nc\nd\ne\nf\n"
    sprite_ours, sprite_theirs = (
        pixels(read(logs["compat"], a.sprite.image_path)),
        pixels(read(logs["torch"], b.sprite.image_path)),
    )
    # 6 thumbnails of 5x5 in a 3x3 grid of cells, the third row black in both; the projector places
    # thumbnail k at row k // 3, column k % 3.
    assert sprite_ours.shape == sprite_theirs.shape == (15, 15, 3)
    assert not sprite_ours[10:].any() and not sprite_theirs[10:].any()
    # anyboard rounds float thumbnails to the nearest 8-bit value, torch truncates: at most 1 apart
    assert np.abs(sprite_ours.astype(int) - sprite_theirs.astype(int)).max() <= 1


TBPARSE_OPTIONS = [{}, {"pivot": True, "extra_columns": {"dir_name"}}, {"extra_columns": {"dir_name", "wall_time"}}]


def _renamed(frame: Any, name: str) -> Any:
    """tbparse's frame with torch's text tags (rows, or columns when pivoted) and torch-only tags dropped."""
    if "tag" in frame:
        frame = frame.assign(
            tag=[torch_tag(t) if name != "text" else t.removesuffix("/text_summary") for t in frame["tag"]]
        )
        frame = frame[~frame["tag"].isin(TORCH_ONLY)]
        return frame.sort_values([c for c in ("dir_name", "tag", "step") if c in frame]).reset_index(drop=True)
    frame = frame.rename(columns=lambda c: c.removesuffix("/text_summary"))
    frame = frame.drop(columns=[c for c in frame.columns if c in TORCH_ONLY])
    return frame.sort_values([c for c in ("dir_name", "step") if c in frame]).reset_index(drop=True)


@pytest.mark.parametrize("options", TBPARSE_OPTIONS, ids=["default", "pivot", "wall_time"])
def test_tbparse_options_give_the_same_frames(logs, tbparse_reader, options):
    """tbparse's default frames, ``pivot=True`` and ``extra_columns``: the same columns and rows. With
    ``wall_time`` the same times too where both writers were given ``walltime=WALL + s``; the calls
    without one (add_hparams' metric) must be "now" in both."""
    import pandas as pd

    ours_reader, theirs_reader = tbparse_reader(logs["compat"], **options), tbparse_reader(logs["torch"], **options)
    for name in FRAMES:
        ours, theirs = _renamed(getattr(ours_reader, name), name), _renamed(getattr(theirs_reader, name), name)
        assert len(ours) == len(theirs) > 0, name
        assert sorted(ours.columns) == sorted(theirs.columns), name
        theirs = theirs[list(ours.columns)]
        if "wall_time" in ours:
            given = theirs["wall_time"] < WALL + 1000
            assert ((ours["wall_time"] < WALL + 1000) == given).all(), name
            assert ours["wall_time"][given].tolist() == theirs["wall_time"][given].tolist(), name
            ours, theirs = ours.drop(columns="wall_time"), theirs.drop(columns="wall_time")
        if name in ("scalars", "text", "hparams"):
            pd.testing.assert_frame_equal(ours, theirs, check_exact=True, obj=name)
        elif name == "histograms" and not options.get("pivot"):
            for column in ("limits", "counts"):
                for a, b in zip(ours[column], theirs[column]):
                    np.testing.assert_array_equal(a, b)


def test_hparams_sessions_are_the_same_but_for_the_experiment_summary(logs):
    """The documented difference: torch writes an ``_hparams_/experiment`` summary with each
    ``add_hparams``, anyboard none. The session (hparams, metric, status) is the same, tbparse's
    ``.hparams`` (built from the session alone) is the same (above), and the legacy accumulator
    does not list hparams summaries at all; only a script asking TensorBoard's plugin loader for
    ``_hparams_/experiment`` by name finds nothing in anyboard's run."""
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    ours, theirs = plugin_loader(os.path.join(logs["compat"], "hp")), plugin_loader(os.path.join(logs["torch"], "hp"))
    mine, want = ours.PluginTagToContent("hparams"), theirs.PluginTagToContent("hparams")
    assert set(want) - set(mine) == TORCH_ONLY and set(mine) <= set(want)
    for tag in mine:
        a, b = HParamsPluginData.FromString(mine[tag]), HParamsPluginData.FromString(want[tag])
        if a.HasField("session_start_info"):
            assert dict(a.session_start_info.hparams) == dict(b.session_start_info.hparams)
            assert a.session_start_info.group_name == b.session_start_info.group_name
        else:
            assert a.session_end_info.status == b.session_end_info.status
    assert legacy(os.path.join(logs["compat"], "hp")).Tags() == legacy(os.path.join(logs["torch"], "hp")).Tags()


# -- 6. tensorboardX's files: file_layout="tensorboardX" reads back with no spelling map; the default ---
# -- ("torch") keeps torch's spellings where the two peers differ ----------------------------------

# The spelling map the default (torch) layout needs for tensorboardX's files, and only it:
TBX_RUN = {"multi/a": "multi_a", "multi/b": "multi_b"}  # tensorboardX's add_scalars sub-run -> torch's
TBX_TAG = {"mesh_1": "mesh_VERTEX", "mesh_2": "mesh_FACE", "mesh_3": "mesh_COLOR", "profiler": "step1"}
NO_MAP: dict[str, str] = {}


def write_tbx_subset(w: Any, tensorboardx: bool) -> None:
    """The calls both writers take with the same arguments (audio and video need packages
    tensorboardX imports and this environment lacks; torch's files cover them above)."""
    for s in range(2):
        log_step(w, s, audio=False)
    w.add_pr_curve("pr", LABELS, PREDICTIONS, 0, num_thresholds=11, walltime=WALL)
    w.add_mesh("mesh", VERTS, colors=COLORS, faces=FACES, global_step=0, walltime=WALL)
    w.add_custom_scalars(LAYOUT)
    w.add_graph(_Net(), torch.zeros(1, 3))
    hparams, metrics = {"lr": 0.1, "opt": "adam", "bn": True}, {"hparam/acc": 0.75}
    if tensorboardx:
        w.add_hparams(hparams, metrics, name="hp")
    else:
        w.add_hparams(hparams, metrics, run_name="hp")


@pytest.fixture(scope="module")
def tbx_logs(tmp_path_factory) -> dict[str, str]:
    """tensorboardX's files (``"tbx"``) and anyboard's with each file layout (``"tensorboardX"``,
    ``"torch"``), each with its ``export_scalars_to_json`` file (``<name>.json``) taken before closing."""
    tensorboardx = pytest.importorskip("tensorboardX")
    root = tmp_path_factory.mktemp("tbx")
    out = {name: str(root / name) for name in ("tbx", "tensorboardX", "torch")}
    w = tensorboardx.SummaryWriter(out["tbx"])
    write_tbx_subset(w, True)
    w.export_scalars_to_json(out["tbx"] + ".json")
    w.close()
    for layout in ("tensorboardX", "torch"):
        with anyboard.SummaryWriter(out[layout], file_layout=layout) as ours:
            write_tbx_subset(ours, False)
            ours.export_scalars_to_json(out[layout] + ".json")
    return out


def _same_as_tensorboardx(
    tbx_logs: dict[str, str], layout: str, runs: dict[str, str], tags: dict[str, str], reader: Any
) -> None:
    """anyboard's files written with ``layout`` read back as tensorboardX's do, once tensorboardX's run
    directories and tags are renamed by ``runs``/``tags`` (and the text tag, anyboard's own difference
    from both peers, by :func:`torch_tag`): the legacy accumulator's tags by kind, scalars, histogram
    buckets, image pixels and tensors, and tbparse's scalars, text and hparams frames."""
    from tensorboard.util import tensor_util

    theirs_runs = {runs.get(run, run): path for run, path in run_dirs(tbx_logs["tbx"]).items()}
    ours_runs = run_dirs(tbx_logs[layout])
    assert set(theirs_runs) == set(ours_runs)
    for run in ours_runs:
        mine, theirs = legacy(ours_runs[run]), legacy(theirs_runs[run])
        want = {k: sorted(tags.get(t, t) for t in v) if isinstance(v, list) else v for k, v in theirs.Tags().items()}
        assert tags_by_kind(mine, True) == want, run
        for tag in mine.Tags()["scalars"]:
            assert [(e.step, e.value) for e in mine.Scalars(tag)] == [(e.step, e.value) for e in theirs.Scalars(tag)]
        for tag in mine.Tags()["histograms"]:
            for g, w in zip(mine.Histograms(tag), theirs.Histograms(tag), strict=True):
                assert (g.step, g.histogram_value.bucket, g.histogram_value.bucket_limit) == (
                    w.step,
                    w.histogram_value.bucket,
                    w.histogram_value.bucket_limit,
                )
        for tag in mine.Tags()["images"]:
            for g, w in zip(mine.Images(tag), theirs.Images(tag), strict=True):
                np.testing.assert_array_equal(pixels(g.encoded_image_string), pixels(w.encoded_image_string))
        spelled = {tags.get(t, torch_tag(t)): t for t in theirs.Tags()["tensors"]}
        for tag in mine.Tags()["tensors"]:
            for g, w in zip(mine.Tensors(tag), theirs.Tensors(spelled[torch_tag(tag)]), strict=True):
                a, b = tensor_util.make_ndarray(g.tensor_proto), tensor_util.make_ndarray(w.tensor_proto)
                if a.dtype == object:
                    assert tag == "custom_scalars__config__" or a.tolist() == b.tolist(), tag
                else:
                    np.testing.assert_allclose(a.astype(np.float64), b.astype(np.float64), rtol=1e-6, err_msg=tag)
    for name in ("scalars", "text", "hparams"):
        frames = []
        for logdir, names in ((tbx_logs[layout], NO_MAP), (tbx_logs["tbx"], runs)):
            frame = getattr(reader(logdir, extra_columns={"dir_name"}), name)
            frame = frame.assign(dir_name=[names.get(d, d) for d in frame["dir_name"]])
            frames.append(
                frame.sort_values(["dir_name", "tag", "step"][: 3 if "step" in frame else 2]).reset_index(drop=True)
            )
        assert frames[0].to_dict("list") == frames[1].to_dict("list"), name


def test_tensorboardx_layout_reads_back_as_tensorboardx_files_with_no_spelling_map(tbx_logs, tbparse_reader):
    """``file_layout="tensorboardX"``: the same run directories (``multi/a`` nested), mesh tags
    (``mesh_1``...) and graph run metadata tag (``profiler``) as tensorboardX's own files."""
    _same_as_tensorboardx(tbx_logs, "tensorboardX", NO_MAP, NO_MAP, tbparse_reader)
    assert set(run_dirs(tbx_logs["tensorboardX"])) == {
        ".",
        os.path.join("multi", "a"),
        os.path.join("multi", "b"),
        "hp",
    }
    acc = legacy(tbx_logs["tensorboardX"])
    assert acc.Tags()["run_metadata"] == ["profiler"]
    assert {"mesh_1", "mesh_2", "mesh_3"} <= set(acc.Tags()["tensors"])


def test_torch_layout_keeps_torch_spellings_for_tensorboardx_users(tbx_logs, tbparse_reader):
    """The default layout: tensorboardX's files read the same only once its spellings are mapped to torch's."""
    _same_as_tensorboardx(tbx_logs, "torch", TBX_RUN, TBX_TAG, tbparse_reader)
    assert set(run_dirs(tbx_logs["torch"])) == {".", "multi_a", "multi_b", "hp"}
    acc = legacy(tbx_logs["torch"])
    assert acc.Tags()["run_metadata"] == ["step1"]
    assert {"mesh_VERTEX", "mesh_FACE", "mesh_COLOR"} <= set(acc.Tags()["tensors"])


def _exported(logdir: str) -> dict[str, list[list[float]]]:
    """``export_scalars_to_json``'s file with its keys relative to the writer's logdir."""
    import json

    with open(logdir + ".json") as f:
        return {os.path.relpath(key, logdir): rows for key, rows in json.load(f).items()}


def test_export_scalars_to_json_keys_follow_the_layout(tbx_logs):
    """tensorboardX keys an add_scalars series by its sub-run directory; the tensorboardX layout gives
    the same keys and rows, the torch layout torch's sub-run directory and the tag."""
    theirs = _exported(tbx_logs["tbx"])
    multi_a, multi_b = os.path.join("multi", "a"), os.path.join("multi", "b")
    assert set(theirs) == {multi_a, multi_b}
    assert (
        _exported(tbx_logs["tensorboardX"])
        == theirs
        == {
            multi_a: [[WALL, 0, 0.0], [WALL + 1, 1, 1.0]],
            multi_b: [[WALL, 0, -0.0], [WALL + 1, 1, -2.0]],
        }
    )
    assert _exported(tbx_logs["torch"]) == {
        os.path.join("multi_a", "multi"): theirs[multi_a],
        os.path.join("multi_b", "multi"): theirs[multi_b],
    }


def test_export_keys_stay_one_per_series_when_two_main_tags_share_a_tensorboardx_sub_run(tmp_path):
    """``add_scalars("a", {"b/c": ..})`` and ``add_scalars("a/b", {"c": ..})`` both write to ``a/b/c``
    in tensorboardX's layout: that directory holds two tags, so its keys name the tag too (tensorboardX
    mixes both series in one list); a sub-run of one tag keeps tensorboardX's directory key."""
    import json

    logdir = str(tmp_path / "logs")
    with anyboard.SummaryWriter(logdir, file_layout="tensorboardX") as w:
        w.add_scalars("a", {"b/c": 1.0}, 0, WALL)
        w.add_scalars("a/b", {"c": 2.0}, 1, WALL)
        w.add_scalars("x", {"y": 3.0}, 2, WALL)
        w.export_scalars_to_json(str(tmp_path / "out.json"))
    with open(tmp_path / "out.json") as f:
        exported = {os.path.relpath(k, logdir): v for k, v in json.load(f).items()}
    shared = os.path.join("a", "b", "c")
    assert exported == {
        os.path.join(shared, "a"): [[WALL, 0, 1.0]],
        os.path.join(shared, "a", "b"): [[WALL, 1, 2.0]],
        os.path.join("x", "y"): [[WALL, 2, 3.0]],
    }


def test_export_keys_of_a_shared_sub_run_do_not_change_between_exports(tmp_path):
    """Each export reads what was written since the previous one; the key of a series must not
    depend on which of the sub-run's main tags happened to write in between."""
    import json

    logdir = str(tmp_path / "logs")
    keys = []
    with anyboard.SummaryWriter(logdir, file_layout="tensorboardX") as w:
        w.add_scalars("a", {"b/c": 1.0}, 0, WALL)
        w.add_scalars("a/b", {"c": 2.0}, 1, WALL)
        w.export_scalars_to_json(str(tmp_path / "1.json"))
        w.add_scalars("a", {"b/c": 3.0}, 2, WALL)  # only one of the two main tags this time
        w.export_scalars_to_json(str(tmp_path / "2.json"))
    for name in ("1.json", "2.json"):
        with open(tmp_path / name) as f:
            keys.append({os.path.relpath(k, logdir) for k in json.load(f)})
    shared = os.path.join("a", "b", "c")
    assert keys[0] == {os.path.join(shared, "a"), os.path.join(shared, "a", "b")}
    assert os.path.join(shared, "a") in keys[1]


def _odd_tag_calls(w: Any) -> None:
    """Tags tensorboardX's summaries rewrite (characters outside ``[-/\\w.]``, a leading ``/``)."""
    img = np.zeros((3, 4, 4), np.float32)
    for step in range(3):  # the second and third add_scalar calls may take the fast path
        w.add_scalar("train loss", 0.5 * step, step)
        w.add_scalar("/lead", 1.0, step)
    w.add_scalars("q r", {"k": 1.0, "k2": 2.0}, 0)
    w.add_histogram("w@b", np.arange(10.0), 0)
    w.add_image("img:0", img, 0)
    w.add_images("imgs 1", img[None], 0)
    w.add_text("note one", "hello", 0)  # text: both peers keep the characters


def test_tensorboardx_layout_spells_tags_as_tensorboardx_summaries_do(tmp_path):
    """tensorboardX's scalar/histogram/image/video summaries turn characters outside ``[-/\\w.]``
    into ``_`` and drop a leading ``/``; the tensorboardX layout writes the same tags in the same runs,
    the torch layout keeps them as given (as torch does)."""
    tensorboardx = pytest.importorskip("tensorboardX")
    from anyboard.tensorboardX import SummaryWriter as TbxLayoutWriter

    layouts = {"tbx": tensorboardx.SummaryWriter, "ours": TbxLayoutWriter}
    tags: dict[str, dict[str, dict[str, list[str]]]] = {}
    for name, cls in layouts.items():
        logdir = str(tmp_path / name)
        with cls(logdir) as w:
            _odd_tag_calls(w)
        found = {}
        for run, path in run_dirs(logdir).items():
            acc = legacy(path)
            found[run] = {kind: sorted(acc.Tags()[kind]) for kind in ("scalars", "histograms", "images")}
        tags[name] = found
    assert tags["ours"] == tags["tbx"]
    assert tags["ours"]["."]["scalars"] == ["lead", "train_loss"]
    assert tags["ours"][os.path.join("q r", "k")]["scalars"] == ["q_r"]
    assert tags["ours"]["."]["histograms"] == ["w_b"]
    assert tags["ours"]["."]["images"] == ["img_0", "imgs_1"]
    values = [(e.step, e.value) for e in legacy(str(tmp_path / "ours")).Scalars("train_loss")]
    assert values == [(0, 0.0), (1, 0.5), (2, 1.0)]
    with anyboard.SummaryWriter(str(tmp_path / "torch")) as w:  # torch's layout: as given
        _odd_tag_calls(w)
    assert sorted(legacy(str(tmp_path / "torch")).Tags()["scalars"]) == ["/lead", "train loss"]
    with TbxLayoutWriter(str(tmp_path / "slash")) as w, pytest.raises(ValueError, match="tensorboardX's spelling"):
        w.add_scalar("/", 1.0, 0)
