"""Golden files: the exact protos anyboard writes, proven against TensorBoard's own readers.

``tests/golden/<type>/<case>.pbtxt`` holds the text-format ``Summary`` (or
``Event``) that a PURE builder of :mod:`anyboard.summary` returns for a small
deterministic input, in the default ``summary_format="compat"`` (the peers'
fields); cases named ``*_tensor`` hold the ``"tensor"`` (v2) form. The comparison parses the file into the proto class and
compares PROTOS (never strings); a mismatch fails with a unified diff of the
two text forms. ``pytest --update-goldens`` rewrites the files.

Encoded media (PNG, GIF, WAV) depend on the Pillow/zlib versions, so their
bytes are not pinned: before comparing, each blob is replaced by a placeholder
naming the SHA-256 of its DECODED pixels or samples and their shape
(:func:`normalize`), so a different compressor passes and different pixels fail.

Beyond the files: every golden Summary is written to an event file and read
back through TensorBoard's Python loader and a real server (Rust data server),
and the full ``SummaryWriter.add_*`` methods are shown to write the golden
protos too.
"""

from __future__ import annotations

import difflib
import hashlib
import io
import pathlib
import wave
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from google.protobuf import text_format
from tbread import TensorBoardServer, python_accumulator

import anyboard
from anyboard.io.events import header_events
from anyboard.proto.event_pb2 import Event
from anyboard.proto.hparams_pb2 import HParamsPluginData
from anyboard.proto.summary_pb2 import Summary
from anyboard.summary import tensor_util
from anyboard.summary.audio import audio
from anyboard.summary.custom_scalars import custom_scalars, layout_proto
from anyboard.summary.custom_scalars import normalize as normalize_layout
from anyboard.summary.histogram import histogram, histogram_raw
from anyboard.summary.hparams import experiment, session, session_end_info, session_start_info
from anyboard.summary.image import image
from anyboard.summary.mesh import mesh
from anyboard.summary.pr_curve import pr_curve, pr_curve_raw
from anyboard.summary.scalar import scalar, simple_value_event
from anyboard.summary.tensor import tensor
from anyboard.summary.text import text
from anyboard.summary.video import video

GOLDEN = pathlib.Path(__file__).parent / "golden"

# -- deterministic inputs ------------------------------------------------------
_RGB = np.array(
    [[[0, 255, 10], [30, 40, 50]], [[255, 0, 0], [0, 0, 255]], [[7, 8, 9], [200, 100, 50]]], dtype=np.uint8
)  # HWC 3x2x3
_FRAMES = np.zeros((1, 3, 3, 4, 5), dtype=np.uint8)  # NTCHW: 3 frames of 4x5, few colours
_FRAMES[0, 0, 0] = 255
_FRAMES[0, 1, 1, 1:3, 2:4] = 200
_FRAMES[0, 2, 2] = 90
_LAYOUT = {
    "losses": {"both": ["Multiline", ["loss/.*"]], "band": ["Margin", ["acc", "acc_lo", "acc_hi"]]},
    "other": {"lr": ["multiline", ["lr"]]},
}
_HIST_VALUES = np.array([-1.5, 0.0, 0.0, 0.1, 2.0, 3e-5, 1e3, -7e-13])
_PR_LABELS = np.array([1, 0, 1, 1, 0, 0, 1, 0], dtype=bool)
_PR_PREDICTIONS = np.array([0.9, 0.1, 0.6, 0.4, 0.55, 0.2, 1.0, 0.0])
_PR_RAW = np.array([[4, 3, 1], [4, 1, 0], [0, 3, 4], [0, 1, 3], [0.5, 0.75, 1.0], [1.0, 0.75, 0.25]], dtype=np.float32)
_VERTS = np.array([[[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]], dtype=np.float32)
_FACES = np.array([[[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]]], dtype=np.int32)
_COLORS = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [9, 9, 9]]], dtype=np.uint8)
_HPARAMS = {"lr": 0.01, "layers": 3, "opt": "adam", "bn": True}


def _audio_mono() -> np.ndarray:
    return np.sin(np.linspace(0, 4 * np.pi, 16))[:, None] * np.array([1.0])


# (type, case) -> builder of the Summary (or Event) the golden holds
CASES: dict[tuple[str, str], Callable[[], Any]] = {
    ("scalar", "simple_value"): lambda: scalar("loss", 0.25),
    ("scalar", "new_style_tensor"): lambda: scalar("loss", 0.25, new_style=True),
    ("scalar", "display_name"): lambda: scalar("acc", -1.5, display_name="Accuracy", description="top-1 *accuracy*"),
    ("histogram", "tensorflow_bins"): lambda: histogram("weights", _HIST_VALUES),
    ("histogram", "int_bins"): lambda: histogram("weights", np.arange(10, dtype=np.int32), bins=4),
    ("histogram", "explicit_edges"): lambda: histogram("weights", np.arange(10.0), bins=np.array([0.0, 2.0, 5.0, 9.0])),
    ("histogram", "max_bins"): lambda: histogram("weights", _HIST_VALUES, max_bins=3),
    ("histogram", "nonfinite"): lambda: histogram("weights", np.array([np.nan, np.inf, -np.inf, 1.0, 2.0, 2.0])),
    ("histogram", "all_nan"): lambda: histogram("weights", np.full(3, np.nan, np.float32)),
    ("histogram", "tensorflow_bins_tensor"): lambda: histogram("weights", _HIST_VALUES, summary_format="tensor"),
    ("histogram", "nonfinite_tensor"): lambda: histogram(
        "weights", np.array([np.nan, np.inf, -np.inf, 1.0, 2.0, 2.0]), summary_format="tensor"
    ),
    ("histogram", "all_nan_tensor"): lambda: histogram("weights", np.full(3, np.nan, np.float32), summary_format="tensor"),
    ("histogram", "beyond_edges"): lambda: histogram("weights", np.array([-1e25, 0.5, 3e30, 3e30])),
    ("histogram_raw", "basic"): lambda: histogram_raw(
        "raw", 0.0, 3.0, 4.0, 6.0, 14.0, np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 2.0])
    ),
    ("histogram_raw", "basic_tensor"): lambda: histogram_raw(
        "raw", 0.0, 3.0, 4.0, 6.0, 14.0, np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 2.0]), summary_format="tensor"
    ),
    ("text", "str"): lambda: text("notes", "**bold** and `code`\nline 2 é", "compat"),
    ("text", "str_tensor"): lambda: text("notes", "**bold** and `code`\nline 2 é", "tensor"),
    ("text", "list_1d"): lambda: text("notes", ["a", "b", "c"], "compat"),
    ("text", "table_2d"): lambda: text("notes", [["x", "y"], ["1", "2"], ["3", "4"]], "compat"),
    ("tensor", "float32"): lambda: tensor("t", np.array([[1.5, -2.0, 0.0], [np.inf, 3.25, 1e-8]], np.float32)),
    ("tensor", "float64_scalar"): lambda: tensor("t", np.array(2.0**-30)),
    ("tensor", "float16"): lambda: tensor("t", np.array([1.0, -0.5, 65504.0], np.float16)),
    ("tensor", "int64"): lambda: tensor("t", np.array([-(2**62), 0, 7], np.int64)),
    ("tensor", "uint8_3d"): lambda: tensor("t", np.arange(24, dtype=np.uint8).reshape(2, 3, 4)),
    ("tensor", "bool"): lambda: tensor("t", np.array([True, False, True])),
    ("tensor", "complex64"): lambda: tensor("t", np.array([1 + 2j, -3j], np.complex64)),
    ("tensor", "strings"): lambda: tensor("t", np.array(["a", "βγ", ""], dtype=object)),
    ("image", "gray_uint8_chw"): lambda: image("img", _RGB[:, :, :1].transpose(2, 0, 1)),
    ("image", "rgb_uint8_hwc"): lambda: image("img", _RGB, "HWC"),
    ("image", "rgba_uint8_hwc"): lambda: image("img", np.dstack([_RGB, np.full((3, 2), 128, np.uint8)]), "HWC"),
    ("image", "rgb_float_chw"): lambda: image("img", np.linspace(0, 1, 18).reshape(3, 3, 2)),
    ("image", "batch_nchw"): lambda: image("img", np.stack([_RGB.transpose(2, 0, 1)] * 3), "NCHW"),
    ("image", "rgb_uint8_hwc_tensor"): lambda: image("img", _RGB, "HWC", summary_format="tensor"),
    ("video", "rgb_ntchw"): lambda: video("clip", _FRAMES, "NTCHW", fps=4),
    ("video", "rgb_ntchw_tensor"): lambda: video("clip", _FRAMES, "NTCHW", fps=4, summary_format="tensor"),
    ("audio", "mono_float"): lambda: audio("snd", _audio_mono(), 8000),
    ("audio", "mono_float_tensor"): lambda: audio("snd", _audio_mono(), 8000, "tensor"),
    ("audio", "stereo_int16"): lambda: audio("snd", np.array([[0, 1], [-32768, 32767], [100, -100]], np.int16), 22050),
    ("pr_curve", "basic"): lambda: pr_curve("pr", _PR_LABELS, _PR_PREDICTIONS, 5),
    ("pr_curve", "weighted"): lambda: pr_curve("pr", _PR_LABELS, _PR_PREDICTIONS, 3, np.arange(1.0, 9.0)),
    ("pr_curve_raw", "basic"): lambda: pr_curve_raw("pr", _PR_RAW),
    ("custom_scalars", "layout"): lambda: custom_scalars(layout_proto(normalize_layout(_LAYOUT))),
    ("mesh", "full"): lambda: mesh("m", _VERTS, _FACES, _COLORS, '{"camera": {"fov": 75}}'),
    ("mesh", "point_cloud"): lambda: mesh("m", _VERTS),
    ("hparams", "session_start"): lambda: Summary(value=[session_start_info(_HPARAMS, 1000.5)]),
    ("hparams", "session_end"): lambda: Summary(value=[session_end_info(1010.0)]),
    ("hparams", "session"): lambda: session({"lr": 0.1, "opt": "sgd"}, {"hparam/acc": 0.75}, 1000.0, 1001.0),
    ("hparams", "experiment"): lambda: Summary(value=[experiment(_HPARAMS, ["hparam/acc"], {"opt": ["adam", "sgd"]})]),
    ("events", "file_version"): lambda: Event.FromString(header_events(wall_time=1.5)[0]),
    ("events", "purge_start"): lambda: Event.FromString(header_events(wall_time=1.5, purge_step=42)[1]),
    ("events", "scalar_hand_encoded"): lambda: Event.FromString(simple_value_event(1.5e9, 7, "loss", 0.125)),
    ("events", "scalar_negative_step"): lambda: Event.FromString(simple_value_event(2.0, -3, "ünï", -4.5)),
}
SUMMARY_CASES = [k for k in CASES if k[0] != "events"]


def build(kind: str, case: str) -> Any:
    """The proto of case ``(kind, case)`` (a builder that returns serialized bytes gives them parsed)."""
    built = CASES[(kind, case)]()
    return Summary.FromString(built) if isinstance(built, bytes) else built


# -- media placeholders ------------------------------------------------------
def _decoded_image(blob: bytes) -> str:
    from PIL import Image, ImageSequence

    with Image.open(io.BytesIO(blob)) as img:
        fmt = img.format.lower()
        if fmt == "gif":
            frames = [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(img)]
            durations = [f.info.get("duration") for f in ImageSequence.Iterator(img)]
            pixels = np.stack(frames)
            extra = f" durations={durations} loop={img.info.get('loop')}"
        else:
            pixels = np.asarray(img)
            extra = f" mode={img.mode}"
    digest = hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest()
    return f"<{fmt} sha256={digest} shape={tuple(pixels.shape)}{extra}>"


def _decoded_wav(blob: bytes) -> str:
    with wave.open(io.BytesIO(blob)) as w:
        frames = w.readframes(w.getnframes())
        params = (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes())
    return f"<wav sha256={hashlib.sha256(frames).hexdigest()} channels={params[0]} sampwidth={params[1]} rate={params[2]} frames={params[3]}>"


def normalize(proto: Any) -> Any:
    """A copy of ``proto`` with each PNG/GIF/WAV blob replaced by its decoded content's placeholder."""
    out = type(proto).FromString(proto.SerializeToString())
    if not isinstance(out, Summary):
        return out
    for value in out.value:
        plugin = value.metadata.plugin_data.plugin_name
        if value.HasField("image"):
            value.image.encoded_image_string = _decoded_image(value.image.encoded_image_string).encode()
        elif value.HasField("audio"):
            value.audio.encoded_audio_string = _decoded_wav(value.audio.encoded_audio_string).encode()
        if plugin == "hparams":  # map fields: protobuf's serialization order is not fixed
            data = HParamsPluginData.FromString(value.metadata.plugin_data.content)
            value.metadata.plugin_data.content = data.SerializeToString(deterministic=True)
        if plugin == "images":
            blobs = value.tensor.string_val
            for i in range(2, len(blobs)):
                blobs[i] = _decoded_image(blobs[i]).encode()
        elif plugin == "audio":
            rows = value.tensor.string_val
            for i in range(0, len(rows), 2):
                rows[i] = _decoded_wav(rows[i]).encode()
    return out


def _decoded_comment(proto: Any) -> list[str]:
    """Human-readable decoded tensors and plugin contents (comments in the file; not compared)."""
    lines: list[str] = []
    for value in proto.value if isinstance(proto, Summary) else ():
        if value.WhichOneof("value") == "tensor" and value.tensor.tensor_content:
            array = tensor_util.make_ndarray(value.tensor)
            body = np.array2string(array, precision=17, separator=", ", threshold=10_000).replace("\n", " ")
            lines.append(f"{value.tag}: {array.dtype}{list(array.shape)} = {body}")
        if value.metadata.plugin_data.plugin_name == "hparams":
            data = HParamsPluginData.FromString(value.metadata.plugin_data.content)
            lines.append(f"{value.tag}: " + text_format.MessageToString(data, as_one_line=True, as_utf8=True))
    return lines


def _text(proto: Any) -> str:
    return text_format.MessageToString(proto, as_utf8=True)


def golden_path(kind: str, case: str) -> pathlib.Path:
    return GOLDEN / kind / f"{case}.pbtxt"


def compare_golden(path: pathlib.Path, actual: Any, *, update: bool = False) -> None:
    """Compare ``actual`` (normalized) with the proto stored at ``path``; ``update`` rewrites the file.

    Raises ``AssertionError`` with a unified diff of the text forms on mismatch.
    """
    actual = normalize(actual)
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        header = (
            f"# proto-file: {type(actual).DESCRIPTOR.file.name}\n# proto-message: {type(actual).DESCRIPTOR.full_name}\n"
        )
        header += "".join(f"# {line}\n" for line in _decoded_comment(actual))
        path.write_text(header + _text(actual), encoding="utf-8")
        return
    if not path.exists():
        raise AssertionError(f"golden file {path} is missing; run pytest --update-goldens to create it")
    expected = text_format.Parse(path.read_text(encoding="utf-8"), type(actual)())
    if expected != actual:
        diff = "\n".join(
            difflib.unified_diff(
                _text(expected).splitlines(), _text(actual).splitlines(), f"{path} (golden)", "actual", lineterm=""
            )
        )
        raise AssertionError(f"{path} does not match what anyboard produces:\n{diff}")


@pytest.fixture
def golden(request) -> Callable[[str, str, Any], None]:
    """``golden(kind, case, proto)``: compare with (or, under ``--update-goldens``, rewrite) the file."""
    update = bool(request.config.getoption("--update-goldens"))

    def check(kind: str, case: str, proto: Any) -> None:
        compare_golden(golden_path(kind, case), proto, update=update)

    return check


# -- 1. the builders produce the goldens --------------------------------------
@pytest.mark.parametrize(("kind", "case"), list(CASES), ids=[f"{k}/{c}" for k, c in CASES])
def test_builder_matches_golden(golden, kind, case):
    golden(kind, case, build(kind, case))


def test_every_golden_file_has_a_case():
    """No stale golden files: each file on disk belongs to a case (and is checked)."""
    on_disk = {(p.parent.name, p.stem) for p in GOLDEN.glob("*/*.pbtxt")}
    assert on_disk == set(CASES)


def test_purge_header_is_two_identical_start_events():
    records = header_events(wall_time=1.5, purge_step=42)
    assert len(records) == 3 and records[1] == records[2]


# -- 2. the comparison catches drift -------------------------------------------
def test_one_field_change_fails_with_a_diff(tmp_path):
    summary = build("histogram", "explicit_edges")
    path = tmp_path / "h.pbtxt"
    compare_golden(path, summary, update=True)
    compare_golden(path, summary)  # round trip passes
    changed = Summary.FromString(summary.SerializeToString())
    changed.value[0].tag = "weightz"
    with pytest.raises(AssertionError) as err:
        compare_golden(path, changed)
    assert '-  tag: "weights"' in str(err.value) and '+  tag: "weightz"' in str(err.value)
    changed = Summary.FromString(summary.SerializeToString())
    changed.value[0].histo.bucket[1] += 1  # one count
    with pytest.raises(AssertionError, match="does not match"):
        compare_golden(path, changed)


def test_changed_pixels_fail_but_png_bytes_do_not_matter(tmp_path):
    from PIL import Image

    summary = build("image", "rgb_uint8_hwc")
    path = tmp_path / "i.pbtxt"
    compare_golden(path, summary, update=True)
    # Same pixels, different PNG bytes (another compression level): still equal.
    buf = io.BytesIO()
    Image.fromarray(_RGB).save(buf, format="PNG", compress_level=0)
    recoded = Summary.FromString(summary.SerializeToString())
    assert recoded.value[0].image.encoded_image_string != buf.getvalue()
    recoded.value[0].image.encoded_image_string = buf.getvalue()
    compare_golden(path, recoded)
    # One pixel changed: fails.
    pixels = _RGB.copy()
    pixels[0, 0, 0] = 1
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    recoded.value[0].image.encoded_image_string = buf.getvalue()
    with pytest.raises(AssertionError, match="sha256"):
        compare_golden(path, recoded)


def test_changed_wav_samples_fail(tmp_path):
    summary = build("audio", "stereo_int16")
    path = tmp_path / "a.pbtxt"
    compare_golden(path, summary, update=True)
    other = audio("snd", np.array([[0, 1], [-32768, 32767], [100, -101]], np.int16), 22050)
    with pytest.raises(AssertionError, match="wav sha256"):
        compare_golden(path, other)


# -- 3. TensorBoard's readers read the goldens -------------------------------------
def _golden_summary(kind: str, case: str) -> Summary:
    """The summary the golden file describes, with real media bytes (from the builder, checked equal)."""
    built = build(kind, case)
    compare_golden(golden_path(kind, case), built)
    return built


def _run_name(kind: str, case: str) -> str:
    return f"{kind}__{case}"


_STEP, _WALL = 3, 1234.5
# plugin -> data class TensorBoard's compat layer assigns (summary_pb2.DataClass)
_DATA_CLASS = {
    "scalars": 1,
    "histograms": 2,
    "text": 2,
    "pr_curves": 2,
    "mesh": 2,
    "images": 3,
    "audio": 3,
}


@pytest.fixture(scope="module")
def golden_logdir(tmp_path_factory):
    """Every golden Summary written to its own run ``<type>__<case>`` at step 3."""
    logdir = tmp_path_factory.mktemp("golden") / "logs"
    for kind, case in SUMMARY_CASES:
        with anyboard.SummaryWriter(str(logdir / _run_name(kind, case))) as w:
            w.add_summary(_golden_summary(kind, case), global_step=_STEP, walltime=_WALL)
    return logdir


_V1_PLUGIN = {"simple_value": "scalars", "histo": "histograms", "image": "images", "audio": "audio"}


def _plugin(value: Summary.Value) -> str:
    """The plugin TensorBoard files ``value`` under: its metadata's, or the one of its v1 field."""
    return _V1_PLUGIN.get(value.WhichOneof("value") or "", "") or value.metadata.plugin_data.plugin_name


def _expected_array(value: Summary.Value) -> np.ndarray | None:
    """What TensorBoard's loaders give for ``value`` (v1 images as ``[w, h, png]``, v1 audio as ``[[wav, label]]``)."""
    kind = value.WhichOneof("value")
    if kind == "simple_value":
        return np.array(value.simple_value, np.float32)
    if kind == "tensor":
        return tensor_util.make_ndarray(value.tensor)
    if kind == "image":
        im = value.image
        return np.array([str(im.width).encode(), str(im.height).encode(), im.encoded_image_string], dtype=object)
    if kind == "audio":
        return np.array([[value.audio.encoded_audio_string, b""]], dtype=object)
    return None


def _media_blob(value: Summary.Value) -> bytes:
    """The encoded image (PNG/GIF) or audio (WAV) of ``value``, in either format."""
    if value.HasField("image"):
        return value.image.encoded_image_string
    if value.HasField("audio"):
        return value.audio.encoded_audio_string
    return value.tensor.string_val[2 if _plugin(value) == "images" else 0]


@pytest.mark.parametrize(("kind", "case"), SUMMARY_CASES, ids=[f"{k}/{c}" for k, c in SUMMARY_CASES])
def test_python_loader_reads_golden(golden_logdir, kind, case):
    from tensorboard.util import tensor_util as tb_tensor_util

    summary = _golden_summary(kind, case)
    acc = python_accumulator(golden_logdir / _run_name(kind, case))
    for value in summary.value:
        plugin = _plugin(value)
        meta = acc.SummaryMetadata(value.tag)
        assert meta.plugin_data.plugin_name == plugin
        if value.WhichOneof("value") not in _V1_PLUGIN:  # v1 values get the loader's own metadata
            assert meta.plugin_data.content == value.metadata.plugin_data.content
        if plugin in _DATA_CLASS:
            assert meta.data_class == _DATA_CLASS[plugin], (value.tag, meta)
        events = acc.Tensors(value.tag)
        assert [(e.step, e.wall_time) for e in events] == [(_STEP, _WALL)]
        got = tb_tensor_util.make_ndarray(events[0].tensor_proto)
        expected = _expected_array(value)
        if value.HasField("histo"):  # legacy histogram, converted to [k, 3] rows on read
            assert got.shape[1] == 3 and got[:, 2].sum() == value.histo.num
            if value.histo.num:  # the loader's outer edges are the data's min and max
                assert (got[0, 0], got[-1, 1]) == (np.float32(value.histo.min), np.float32(value.histo.max))
        elif expected is None:  # metadata-only (hparams): the content is the data
            HParamsPluginData.FromString(meta.plugin_data.content)
        elif plugin == "audio":  # TensorBoard drops the label column of [k, 2] audio on read
            assert got.tolist() == expected[:, 0].tolist()
        elif expected.dtype == object:
            assert got.shape == expected.shape and got.tolist() == expected.tolist()
        else:
            assert got.dtype == expected.dtype and got.shape == expected.shape
            np.testing.assert_array_equal(got, expected)


def _blob(server: TensorBoardServer, plugin: str, endpoint: str, blob_endpoint: str, run: str, tag: str) -> bytes:
    entries = server.get(f"/data/plugin/{plugin}/{endpoint}", run=run, tag=tag, sample=0)
    assert [e["step"] for e in entries] == [_STEP]
    return server.get_raw(f"/data/plugin/{plugin}/{blob_endpoint}?{entries[0]['query']}").content


def test_tensorboard_server_serves_every_golden(golden_logdir):
    """One Rust data server for all goldens: each plugin's tags list the tag, its data endpoint the values."""
    runs = {_run_name(k, c): (k, c) for k, c in SUMMARY_CASES}
    with TensorBoardServer(golden_logdir, load_fast=True) as server:
        server.wait_for(
            lambda: set(server.get("/data/runs")) >= set(runs) - {_run_name("tensor", c) for _, c in SUMMARY_CASES}
        )
        tags = {
            p: server.wait_for(lambda p=p: server.get(f"/data/plugin/{p}/tags"))
            for p in ("scalars", "histograms", "images", "audio", "text", "pr_curves", "mesh")
        }
        for run, (kind, case) in runs.items():
            summary = _golden_summary(kind, case)
            for value in summary.value:
                plugin = _plugin(value)
                where = f"{kind}/{case} tag {value.tag!r}"
                expected = _expected_array(value)
                if plugin == "scalars":
                    assert value.tag in tags["scalars"][run], where
                    assert server.scalars(run, value.tag) == [[_WALL, _STEP, float(expected)]], where
                elif plugin == "histograms":
                    assert value.tag in tags["histograms"][run], where
                    [(wall, step, rows)] = server.get("/data/plugin/histograms/histograms", run=run, tag=value.tag)
                    assert (wall, step) == (_WALL, _STEP), where
                    if value.HasField("histo"):
                        assert sum(r[2] for r in rows) == value.histo.num, where
                    else:
                        np.testing.assert_array_equal(
                            np.array(rows, np.float64).reshape(-1, 3), expected, err_msg=where
                        )
                elif plugin == "images":
                    assert value.tag in tags["images"][run], where
                    data = _blob(server, "images", "images", "individualImage", run, value.tag)
                    assert data == _media_blob(value), where
                elif plugin == "audio":
                    assert value.tag in tags["audio"][run], where
                    data = _blob(server, "audio", "audio", "individualAudio", run, value.tag)
                    assert data == _media_blob(value), where
                elif plugin == "text":
                    assert value.tag in tags["text"][run], where
                    [entry] = server.get("/data/plugin/text/text", run=run, tag=value.tag, markdown="false")
                    assert entry["step"] == _STEP, where
                    for cell in expected.flat:
                        assert (cell.decode() if isinstance(cell, bytes) else cell) in entry["text"] or not cell, where
                elif plugin == "pr_curves":
                    assert value.tag in tags["pr_curves"][run], where
                    [entry] = server.get("/data/plugin/pr_curves/pr_curves", run=run, tag=value.tag)[run]
                    assert entry["step"] == _STEP, where
                    names = [
                        "true_positives",
                        "false_positives",
                        "true_negatives",
                        "false_negatives",
                        "precision",
                        "recall",
                    ]
                    for row, name in zip(expected, names):
                        np.testing.assert_allclose(entry[name], row, rtol=1e-6, err_msg=f"{where} {name}")
                elif plugin == "mesh":
                    name = value.tag.rsplit("_", 1)[0]
                    assert name in tags["mesh"][run], where
                    component = value.tag.rsplit("_", 1)[1]
                    data = server.get_raw(
                        f"/data/plugin/mesh/data?run={run}&tag={name}&content_type={component}&step={_STEP}&sample=0"
                    ).content
                    assert data == expected.tobytes(), where
        # custom scalars: the merged layout of the one layout run
        layout = server.get("/data/plugin/custom_scalars/layout")
        titles = {c["title"]: [ch["title"] for ch in c["chart"]] for c in layout["category"]}
        assert titles == {"losses": ["both", "band"], "other": ["lr"]}
        # hparams: the session runs are sessions with the golden values
        groups = server.post(
            "/data/plugin/hparams/session_groups",
            {
                "experimentName": "",
                "startIndex": 0,
                "sliceSize": 100,
                "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
            },
        )
        by_name = {s["name"]: g["hparams"] for g in groups["sessionGroups"] for s in g["sessions"]}
        assert by_name[_run_name("hparams", "session_start")] == {"lr": 0.01, "layers": 3.0, "opt": "adam", "bn": True}
        assert by_name[_run_name("hparams", "session")] == {"lr": 0.1, "opt": "sgd"}


# -- 4. the full writer writes the goldens -----------------------------------------
def _writer_calls() -> dict[tuple[str, str], Callable[[Any], None]]:
    s, wt = _STEP, _WALL
    return {
        ("scalar", "simple_value"): lambda w: w.add_scalar("loss", 0.25, s, wt),
        ("scalar", "new_style_tensor"): lambda w: w.add_scalar("loss", 0.25, s, wt, new_style=True),
        ("scalar", "display_name"): lambda w: w.add_scalar(
            "acc", -1.5, s, wt, display_name="Accuracy", summary_description="top-1 *accuracy*"
        ),
        ("histogram", "tensorflow_bins"): lambda w: w.add_histogram("weights", _HIST_VALUES, s, walltime=wt),
        ("histogram", "int_bins"): lambda w: w.add_histogram("weights", np.arange(10, dtype=np.int32), s, 4, wt),
        ("histogram", "explicit_edges"): lambda w: w.add_histogram("weights", np.arange(10.0), s, [0, 2, 5, 9], wt),
        ("histogram", "max_bins"): lambda w: w.add_histogram("weights", _HIST_VALUES, s, walltime=wt, max_bins=3),
        ("histogram", "nonfinite"): lambda w: w.add_histogram(
            "weights", [np.nan, np.inf, -np.inf, 1.0, 2.0, 2.0], s, walltime=wt
        ),
        ("histogram", "beyond_edges"): lambda w: w.add_histogram("weights", [-1e25, 0.5, 3e30, 3e30], s, walltime=wt),
        ("histogram", "tensorflow_bins_tensor"): lambda w: w.add_histogram("weights", _HIST_VALUES, s, walltime=wt),
        ("histogram_raw", "basic"): lambda w: w.add_histogram_raw("raw", 0, 3, 4, 6, 14, [1, 2, 3], [1, 1, 2], s, wt),
        ("text", "str"): lambda w: w.add_text("notes", "**bold** and `code`\nline 2 é", s, wt),
        ("text", "str_tensor"): lambda w: w.add_text("notes", "**bold** and `code`\nline 2 é", s, wt),
        ("text", "list_1d"): lambda w: w.add_text("notes", ["a", "b", "c"], s, wt),
        ("text", "table_2d"): lambda w: w.add_text("notes", [["x", "y"], ["1", "2"], ["3", "4"]], s, wt),
        ("tensor", "int64"): lambda w: w.add_tensor("t", np.array([-(2**62), 0, 7], np.int64), s, wt),
        ("tensor", "uint8_3d"): lambda w: w.add_tensor("t", np.arange(24, dtype=np.uint8).reshape(2, 3, 4), s, wt),
        ("image", "gray_uint8_chw"): lambda w: w.add_image("img", _RGB[:, :, :1].transpose(2, 0, 1), s, wt),
        ("image", "rgb_uint8_hwc"): lambda w: w.add_image("img", _RGB, s, wt, dataformats="HWC"),
        ("image", "rgb_uint8_hwc_tensor"): lambda w: w.add_image("img", _RGB, s, wt, dataformats="HWC"),
        ("image", "rgb_float_chw"): lambda w: w.add_image("img", np.linspace(0, 1, 18).reshape(3, 3, 2), s, wt),
        ("image", "batch_nchw"): lambda w: w.add_images("img", np.stack([_RGB.transpose(2, 0, 1)] * 3), s, wt),
        ("video", "rgb_ntchw"): lambda w: w.add_video("clip", _FRAMES, s, fps=4, walltime=wt),
        ("video", "rgb_ntchw_tensor"): lambda w: w.add_video("clip", _FRAMES, s, fps=4, walltime=wt),
        ("audio", "mono_float"): lambda w: w.add_audio("snd", _audio_mono()[:, 0], s, 8000, wt),
        ("audio", "mono_float_tensor"): lambda w: w.add_audio("snd", _audio_mono()[:, 0], s, 8000, wt),
        ("audio", "stereo_int16"): lambda w: w.add_audio(
            "snd", np.array([[0, 1], [-32768, 32767], [100, -100]], np.int16), s, 22050, wt
        ),
        ("pr_curve", "basic"): lambda w: w.add_pr_curve("pr", _PR_LABELS, _PR_PREDICTIONS, s, 5, walltime=wt),
        ("pr_curve", "weighted"): lambda w: w.add_pr_curve(
            "pr", _PR_LABELS, _PR_PREDICTIONS, s, 3, np.arange(1.0, 9.0), wt
        ),
        ("pr_curve_raw", "basic"): lambda w: w.add_pr_curve_raw(
            "pr", *_PR_RAW, global_step=s, num_thresholds=3, walltime=wt
        ),
        ("custom_scalars", "layout"): lambda w: w.add_custom_scalars(_LAYOUT),
        ("mesh", "full"): lambda w: w.add_mesh(
            "m", _VERTS, colors=_COLORS, faces=_FACES, config_dict={"camera": {"fov": 75}}, global_step=s, walltime=wt
        ),
        ("mesh", "point_cloud"): lambda w: w.add_mesh("m", _VERTS[0], global_step=s, walltime=wt),
    }


@pytest.mark.parametrize(("kind", "case"), list(_writer_calls()), ids=[f"{k}/{c}" for k, c in _writer_calls()])
def test_writer_writes_the_golden(tmp_path, kind, case):
    run = tmp_path / "run"
    with anyboard.SummaryWriter(str(run), summary_format="tensor" if case.endswith("_tensor") else "compat") as w:
        _writer_calls()[(kind, case)](w)
    events = [e for e in anyboard.iter_run_events(run) if e.HasField("summary")]
    assert len(events) == 1
    if kind != "custom_scalars":  # the layout is written at step 0, now
        assert (events[0].step, events[0].wall_time) == (_STEP, _WALL)
    compare_golden(golden_path(kind, case), events[0].summary)


def test_writer_header_and_purge_events_match_the_goldens(tmp_path):
    run = tmp_path / "run"
    with anyboard.SummaryWriter(str(run), purge_step=42) as w:
        w.add_scalar("loss", 0.125, 7, 1.5e9)
    first, start1, start2, value = list(anyboard.iter_run_events(run))
    for event, case in ((first, "file_version"), (start1, "purge_start"), (start2, "purge_start")):
        event.wall_time = 1.5  # the header's wall time is "now"
        compare_golden(golden_path("events", case), event)
    compare_golden(golden_path("events", "scalar_hand_encoded"), value)


def test_writer_hparams_session_matches_the_golden(tmp_path):
    """``add_hparams`` stamps "now" as start and end time: the rest is the golden session."""
    with anyboard.SummaryWriter(str(tmp_path)) as w:
        w.add_hparams({"lr": 0.1, "opt": "sgd"}, {"hparam/acc": 0.75}, run_name="s")
    [event] = [e for e in anyboard.iter_run_events(tmp_path / "s") if e.HasField("summary")]
    summary = event.summary
    start = HParamsPluginData.FromString(summary.value[0].metadata.plugin_data.content)
    end = HParamsPluginData.FromString(summary.value[-1].metadata.plugin_data.content)
    assert start.session_start_info.start_time_secs == event.wall_time == end.session_end_info.end_time_secs
    start.session_start_info.start_time_secs = 1000.0
    end.session_end_info.end_time_secs = 1001.0
    summary.value[0].metadata.plugin_data.content = start.SerializeToString()
    summary.value[-1].metadata.plugin_data.content = end.SerializeToString()
    compare_golden(golden_path("hparams", "session"), summary)


def test_golden_files_are_readable_text():
    """The files are reviewable: text-format protos, UTF-8, with the proto-message header."""
    for path in sorted(GOLDEN.glob("*/*.pbtxt")):
        content = path.read_text(encoding="utf-8")
        assert content.startswith("# proto-file: "), path
        assert "# proto-message: anyboard." in content.splitlines()[1], path
    # Media goldens hold placeholders, never encoded bytes.
    for kind in ("image", "video", "audio"):
        for path in (GOLDEN / kind).glob("*.pbtxt"):
            content = path.read_text(encoding="utf-8")
            assert "sha256=" in content and "PNG" not in content and "GIF8" not in content and "RIFF" not in content, (
                path
            )
