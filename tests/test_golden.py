"""Golden files: what anyboard writes, as :mod:`anyboard.testing` dumps it, proven against TensorBoard's readers.

anyboard's own goldens use the kit it ships for users (one mechanism): ``tests/golden/<type>/<case>.txt``
is the :func:`anyboard.testing.dump_events` text of the event that a PURE builder of
:mod:`anyboard.summary` returns for a small deterministic input (wrapped in an event at step 3,
wall time 1234.5), in the default ``summary_format="compat"`` (the peers' fields); cases named
``*_tensor`` hold the ``"tensor"`` (v2) form. The dump is taken with every detail kept
(:data:`DUMP_OPTIONS`): exact numbers, every histogram bucket TensorBoard shows (empty ones too),
the stored bucket limits and counts and the stats, the field and dtype each value is stored in
(``show_encoding``), its metadata, wall times and ``file_version`` records. Encoded media (PNG, GIF, WAV) depend on the Pillow/zlib versions, so
they are shown as their shape plus the SHA-256 of the DECODED pixels or samples: a different
compressor passes, a different pixel fails. :func:`test_every_field_of_every_golden_shows_in_its_dump`
proves that no stored field escapes the text.

A mismatch fails with the kit's unified diff naming the run, tag and step;
``pytest --anyboard-update-goldens`` (or ``ANYBOARD_UPDATE_GOLDENS=1``) rewrites the files.

Beyond the files: every golden Summary is written to an event file and read back through
TensorBoard's Python loader and a real server (Rust data server), and the full
``SummaryWriter.add_*`` methods are shown to write the goldens too (their log directories are
checked with :func:`anyboard.testing.assert_logdir_matches`). One small event file is also pinned
byte for byte (``tests/golden/bytes/*.hex``, hex text kept by the same kit): the byte layout is part
of the format.
"""

from __future__ import annotations

import io
import math
import os
import pathlib
import shutil
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from google.protobuf.descriptor import FieldDescriptor
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
from anyboard.testing import assert_logdir_matches, assert_text_matches, dump, dump_events

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
    ("scalar", "display_name_tensor"): lambda: scalar(
        "acc", -1.5, display_name="Accuracy", description="top-1 *accuracy*", summary_format="tensor"
    ),
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
    ("histogram", "all_nan_tensor"): lambda: histogram(
        "weights", np.full(3, np.nan, np.float32), summary_format="tensor"
    ),
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


# Everything the dump can show: the goldens are as strict as the protos themselves.
DUMP_OPTIONS: dict[str, Any] = {
    "show_encoding": True,
    "histogram_stats": True,
    "keep_wall_time": True,
    "keep_file_version": True,
}
_STEP, _WALL = 3, 1234.5


def _options(kind: str) -> dict[str, Any]:
    """The dump options of a case: the custom-scalars layout is written "now" by the writer."""
    return {**DUMP_OPTIONS, "keep_wall_time": kind != "custom_scalars"}


def _step(kind: str) -> int:
    """The step a case is logged at: the writer writes the custom-scalars layout at step 0."""
    return 0 if kind == "custom_scalars" else _STEP


def golden_events(kind: str, case: str) -> list[Event]:
    """The events case ``(kind, case)`` stands for: an event case as built, a summary at its step."""
    built = build(kind, case)
    if isinstance(built, Event):
        return [built]
    return [Event(step=_step(kind), wall_time=_WALL, summary=built)]


def golden_path(kind: str, case: str) -> pathlib.Path:
    return GOLDEN / kind / f"{case}.txt"


def check_golden(kind: str, case: str, events: list[Any], golden: pathlib.Path | None = None) -> None:
    """The kit's comparison of ``events`` with the case's golden file (rewritten under the kit's update flag)."""
    assert_text_matches(dump_events(events, **_options(kind)), golden or golden_path(kind, case))


# -- 1. the builders produce the goldens --------------------------------------
@pytest.mark.parametrize(("kind", "case"), list(CASES), ids=[f"{k}/{c}" for k, c in CASES])
def test_builder_matches_golden(kind, case):
    check_golden(kind, case, golden_events(kind, case))


def test_every_golden_file_has_a_case():
    """No stale golden files: each file on disk belongs to a case (and is checked)."""
    on_disk = {(p.parent.name, p.stem) for p in GOLDEN.glob("*/*") if p.is_file() and p.parent.name != "bytes"}
    assert on_disk == set(CASES)
    assert [p.name for p in (GOLDEN / "bytes").iterdir()] == [BYTES_GOLDEN.name]


def test_purge_header_is_two_identical_start_events():
    records = header_events(wall_time=1.5, purge_step=42)
    assert len(records) == 3 and records[1] == records[2]


# -- 2. the comparison catches drift -------------------------------------------
def _leaf_fields(message: Any, path: tuple[tuple[str, int | None], ...] = ()) -> Iterator[tuple[Any, int | None]]:
    """``(path to the message, field, index)`` of every scalar field set in ``message``, recursively."""
    for field, value in message.ListFields():
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            items = list(enumerate(value)) if field.is_repeated else [(None, value)]
            for i, sub in items:
                yield from _leaf_fields(sub, (*path, (field.name, i)))
        else:
            for i in range(len(value)) if field.is_repeated else [None]:
                yield (path, field, i)


def _changed(value: Any, field: Any) -> Any:
    """Another value of ``field``'s type."""
    if field.type == FieldDescriptor.TYPE_BOOL:
        return not value
    if field.type == FieldDescriptor.TYPE_STRING:
        return value + "x"
    if field.type == FieldDescriptor.TYPE_BYTES:
        return b"x" + value  # prepended: a decoder ignores bytes after a PNG or WAV
    if field.type == FieldDescriptor.TYPE_ENUM:
        return next(v.number for v in field.enum_type.values if v.number != value)
    if field.type in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
        return 0.5 if not math.isfinite(value) else value * 2 + 1 if value != -1 else 3.0
    return value + 1


def _with_one_field_changed(event: Event, path: Any, field: Any, index: int | None) -> Event:
    out = Event.FromString(event.SerializeToString())
    holder: Any = out
    for name, i in path:
        holder = getattr(holder, name) if i is None else getattr(holder, name)[i]
    if index is None:
        setattr(holder, field.name, _changed(getattr(holder, field.name), field))
    else:
        getattr(holder, field.name)[index] = _changed(getattr(holder, field.name)[index], field)
    return out


@pytest.mark.parametrize(("kind", "case"), list(CASES), ids=[f"{k}/{c}" for k, c in CASES])
def test_every_field_of_every_golden_shows_in_its_dump(kind: str, case: str) -> None:
    """Change any one stored field of a golden event (every bucket limit and count, every tensor
    element, metadata, plugin content, media bytes, step, wall time): its dump changes, so the
    golden file would fail. The text loses nothing the proto holds."""
    [event] = golden_events(kind, case)
    options = _options(kind)
    original = dump_events([event], **options)
    changed = 0
    for path, field, index in _leaf_fields(event):
        if kind == "custom_scalars" and field.name == "wall_time":
            continue  # left out of this case's dump (the writer writes the layout "now")
        other = _with_one_field_changed(event, path, field, index)
        if other.SerializeToString() == event.SerializeToString():
            continue  # a map entry's key or a value the type cannot change (never the case so far)
        where = ".".join(f"{n}[{i}]" if i is not None else n for n, i in path) + f".{field.name}[{index}]"
        assert dump_events([other], **options) != original, where
        changed += 1
    assert changed >= 3


def test_a_changed_golden_file_fails_naming_run_tag_and_step(tmp_path, kit_compares):
    """One count of one bucket changed in a real golden file: the check fails with a diff naming the value."""
    golden = tmp_path / "int_bins.txt"
    shutil.copy(golden_path("histogram", "int_bins"), golden)
    lines = golden.read_text(encoding="utf-8").splitlines(keepends=True)
    i = next(n for n, line in enumerate(lines) if line == "      2.25 4.5 2.0\n")
    lines[i] = "      2.25 4.5 3.0\n"
    golden.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(AssertionError) as err:
        check_golden("histogram", "int_bins", golden_events("histogram", "int_bins"), golden)
    message = str(err.value)
    assert 'differences in: run ".", tag "weights", step 3' in message
    assert "-      2.25 4.5 3.0" in message and "+      2.25 4.5 2.0" in message


def test_changed_pixels_fail_but_png_bytes_do_not_matter(kit_compares):
    from PIL import Image

    [event] = golden_events("image", "rgb_uint8_hwc")
    # Same pixels, different PNG bytes (another compression level): still equal.
    buf = io.BytesIO()
    Image.fromarray(_RGB).save(buf, format="PNG", compress_level=0)
    recoded = Event.FromString(event.SerializeToString())
    assert recoded.summary.value[0].image.encoded_image_string != buf.getvalue()
    recoded.summary.value[0].image.encoded_image_string = buf.getvalue()
    check_golden("image", "rgb_uint8_hwc", [recoded])
    # One pixel changed: fails.
    pixels = _RGB.copy()
    pixels[0, 0, 0] = 1
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    recoded.summary.value[0].image.encoded_image_string = buf.getvalue()
    with pytest.raises(AssertionError, match=r'tag "img", step 3[\s\S]*rgba_sha256'):
        check_golden("image", "rgb_uint8_hwc", [recoded])


def test_changed_wav_samples_fail(kit_compares):
    other = audio("snd", np.array([[0, 1], [-32768, 32767], [100, -101]], np.int16), 22050)
    with pytest.raises(AssertionError, match=r'tag "snd", step 3[\s\S]*wav rate=22050'):
        check_golden("audio", "stereo_int16", [Event(step=_STEP, wall_time=_WALL, summary=other)])


# -- 3. TensorBoard's readers read the goldens -------------------------------------
def _golden_summary(kind: str, case: str) -> Summary:
    """The summary the golden file describes, with real media bytes (from the builder, checked equal)."""
    built = build(kind, case)
    check_golden(kind, case, golden_events(kind, case))
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
        ("scalar", "display_name_tensor"): lambda w: w.add_scalar(
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
    # The whole log directory (file_version records aside): one event, at the case's step and wall time.
    assert_logdir_matches(run, golden_path(kind, case), **{**_options(kind), "keep_file_version": False})


def test_writer_header_and_purge_events_match_the_goldens(tmp_path):
    run = tmp_path / "run"
    with anyboard.SummaryWriter(str(run), purge_step=42) as w:
        w.add_scalar("loss", 0.125, 7, 1.5e9)
    first, start1, start2, value = list(anyboard.iter_run_events(run))
    for event, case in ((first, "file_version"), (start1, "purge_start"), (start2, "purge_start")):
        event.wall_time = 1.5  # the header's wall time is "now"
        check_golden("events", case, [event])
    check_golden("events", "scalar_hand_encoded", [value])


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
    check_golden("hparams", "session", [Event(step=_STEP, wall_time=_WALL, summary=summary)])


def test_golden_files_are_readable_text():
    """The files are reviewable: the kit's text dumps, UTF-8, one event's values each."""
    for path in sorted(p for p in GOLDEN.glob("*/*") if p.is_file() and p != BYTES_GOLDEN):
        lines = path.read_text(encoding="utf-8").splitlines()
        assert path.suffix == ".txt" and lines[:2] == ["# anyboard.testing.dump v1", 'run "."'], path
    lines = BYTES_GOLDEN.read_text(encoding="ascii").splitlines()
    assert lines[0].startswith("# ") and all(len(bytes.fromhex(line)) == 32 for line in lines[1:-1])
    # Media goldens hold decoded-content hashes, never encoded bytes.
    for kind in ("image", "video", "audio"):
        for path in (GOLDEN / kind).glob("*.txt"):
            content = path.read_text(encoding="utf-8")
            assert "sha256=" in content and "PNG" not in content and "GIF8" not in content and "RIFF" not in content, (
                path
            )


# -- 5. the bytes on disk -------------------------------------------------------------
BYTES_GOLDEN = GOLDEN / "bytes" / "purge_and_scalars.tfevents.hex"
_BYTES_CASES = ("file_version", "purge_start", "purge_start", "scalar_hand_encoded", "scalar_negative_step")


def _hex_text(data: bytes) -> str:
    """Bytes as reviewable text: a comment line, then 32 bytes a line in hex."""
    head = "# one event file, hex; decodes to tests/golden/events/: " + ", ".join(_BYTES_CASES) + "\n"
    return head + "".join(data[i : i + 32].hex() + "\n" for i in range(0, len(data), 32))


def test_event_file_bytes_match_the_golden(tmp_path, monkeypatch):
    """The byte layout is part of the format: a small event file with a fixed header time, byte for byte
    (record framing, both CRCs, the hand-encoded scalar events), kept as hex text by the same kit."""
    import anyboard.io.events as events_module

    monkeypatch.setattr(events_module, "time", SimpleNamespace(time=lambda: 1.5))  # the header's "now"
    run = tmp_path / "run"
    with anyboard.SummaryWriter(str(run), purge_step=42) as w:
        w.add_scalar("loss", 0.125, 7, 1.5e9)
        w.add_scalar("ünï", -4.5, -3, 2.0)
    [name] = [n for n in os.listdir(run) if "tfevents" in n]
    assert_text_matches(_hex_text((run / name).read_bytes()), BYTES_GOLDEN)
    # What the bytes hold: the reviewed text goldens, in order.
    expected = [golden_events("events", case)[0] for case in _BYTES_CASES]
    assert dump(run / name, **DUMP_OPTIONS) == dump_events(expected, **DUMP_OPTIONS)
    # And TensorBoard's own record reader (framing and CRCs) reads the same records.
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader

    records = list(RawEventFileLoader(str(run / name)).Load())
    assert [Event.FromString(r) for r in records] == expected
