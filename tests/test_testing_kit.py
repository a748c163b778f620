"""anyboard.testing: dump() and the golden-file assertions.

The references are the other writers (torch.utils.tensorboard, tensorboardX: the same calls
must dump the same text), TensorBoard's own Python loader (order of runs, tags, steps and
values), and expectations computed here from the inputs (pixel and sample hashes).
"""

from __future__ import annotations

import hashlib
import io
import os
import re

import numpy as np
import pytest

import anyboard
from anyboard.proto.event_pb2 import Event
from anyboard.proto.summary_pb2 import Summary
from anyboard.summary import tensor_util
from anyboard.summary.image import image as image_summary
from anyboard.testing import assert_logdir_matches, assert_text_matches, dump, dump_events

_RGB = np.array(  # CHW 3x2x3
    [[[0, 255, 10], [30, 40, 50]], [[255, 0, 0], [0, 0, 255]], [[7, 8, 9], [200, 100, 50]]], dtype=np.uint8
)
_GRAY = np.array([[[0, 50, 100, 255], [1, 2, 3, 4]]], dtype=np.uint8)  # 1x2x4
_WEIGHTS = np.array([-1.5, 0.0, 0.0, 0.1, 2.0, 3e-5, 1e3, -7e-13, 4.25], dtype=np.float32)
_AUDIO = np.array([0.0, 1.0, -1.0, 0.0, 1.0], dtype=np.float32)  # exact in every writer's int16 scaling


def _writer(kind: str, path: str):
    if kind == "anyboard":
        return anyboard.SummaryWriter(path)
    if kind == "anyboard-tensor":
        return anyboard.SummaryWriter(path, summary_format="tensor")
    if kind == "torch":
        pytest.importorskip("torch")
        from torch.utils.tensorboard import SummaryWriter

        return SummaryWriter(path)
    tbx = pytest.importorskip("tensorboardX")
    return tbx.SummaryWriter(path)


def _log_the_same_calls(w, kind: str) -> None:
    """Calls whose semantics agree across the writers (their documented differences avoided)."""
    ours = kind.startswith("anyboard")
    for step in range(3):
        w.add_scalar("loss", 0.1 * step + 0.25, step)
    w.add_scalar("lr", 3, 7)  # an int value
    w.add_histogram("weights", _WEIGHTS, 1)
    w.add_histogram("steps", np.arange(10), 2)
    w.add_histogram("wide", np.linspace(-3, 3, 101), 3)
    w.add_image("rgb", _RGB, 4)
    w.add_image("gray", _GRAY, 4)  # one channel: 'L' from anyboard, 'RGB' from the peers: same pixels shown
    w.add_image("hwc", _RGB.transpose(1, 2, 0), 5, dataformats="HWC")
    w.add_images("batch", np.stack([_RGB, _RGB[::-1]]), 6)
    # The peers append "/text_summary" and store a 1-element array; anyboard keeps the tag and a
    # plain string is a scalar string: give anyboard the peers' form.
    if ours:
        w.add_text("notes/text_summary", ["**bold** and é\nline 2"], 8)
    else:
        w.add_text("notes", "**bold** and é\nline 2", 8)
    if kind != "tensorboardX":  # tensorboardX's add_audio needs the soundfile package
        w.add_audio("sound", _AUDIO, 9, sample_rate=8000)


WRITERS = ["anyboard", "anyboard-tensor", "torch", "tensorboardX"]


@pytest.fixture(scope="module")
def logged(tmp_path_factory) -> dict[str, str]:
    """The log directory each writer wrote the same calls to."""
    out = {}
    for kind in WRITERS:
        path = str(tmp_path_factory.mktemp(kind) / "run")
        w = _writer(kind, path)
        _log_the_same_calls(w, kind)
        w.close()
        out[kind] = path
    return out


@pytest.fixture(scope="module")
def dumps(logged) -> dict[str, str]:
    return {kind: dump(path) for kind, path in logged.items()}


def _without_audio(text: str) -> str:
    return re.sub(r'  step 9 tag "sound".*\n(      .*\n)*', "", text)


def _histogram_rows(text: str) -> dict[str, list[tuple[float, float, float]]]:
    """Each histogram tag's ``left right count`` rows in a dump (one value per tag)."""
    out: dict[str, list[tuple[float, float, float]]] = {}
    for m in re.finditer(r'^  step \d+ tag "(.*)" histograms histogram .*\n((?:      .*\n)*)', text, re.MULTILINE):
        rows = [line.split() for line in m.group(2).splitlines()]
        out[m.group(1)] = [(float(a), float(b), float(c)) for a, b, c in (r for r in rows if len(r) == 3)]
    return out


def _without_histogram_edges(text: str) -> str:
    """The dump with each histogram row's edges left out (counts kept)."""
    return re.sub(r"^      \S+ \S+ (\S+)$", r"      <edges> \1", text, flags=re.MULTILINE)


@pytest.mark.parametrize("kind", ["anyboard-tensor", "torch", "tensorboardX"])
def test_same_calls_give_the_same_dump(dumps, kind):
    expected, actual = dumps["anyboard"], dumps[kind]
    if kind == "tensorboardX":
        expected = _without_audio(expected)
    if kind == "anyboard-tensor":
        # TensorBoard shows a legacy histogram's outer edges as its min and max, a [k, 3]
        # tensor's as stored: the dumps differ there, and only there.
        assert _without_histogram_edges(actual) == _without_histogram_edges(expected)
        assert actual != expected
        return
    assert actual == expected


@pytest.mark.parametrize("kind", WRITERS)
@pytest.mark.parametrize("show_encoding", [False, True])
def test_histograms_dump_as_tensorboard_shows_them(logged, kind, show_encoding):
    """Every writer, legacy HistogramProto or [k, 3] tensor: the rows are those of TensorBoard's
    loader (data_compat's conversion of a HistogramProto: empty end buckets dropped, min and max
    as the outer edges; float32 there, float64 in the dump); the empty ones only with show_encoding."""
    from tbread import python_tensors

    text = dump(logged[kind], show_encoding=show_encoding)
    rows = _histogram_rows(text)
    assert set(rows) == {"weights", "steps", "wide"}
    for tag, ours in rows.items():
        [(_, _, shown)] = python_tensors(logged[kind], tag)
        expected = [tuple(r) for r in shown.astype(np.float32).tolist() if show_encoding or r[2] != 0]
        assert [tuple(np.float32(x).item() for x in r) for r in ours] == expected, (kind, tag)


def test_histograms_tensorboard_shows_apart_dump_apart(tmp_path):
    """[0.95, 1.0] and [0.95, 1.005] fall in the same stored bucket, but TensorBoard draws that
    bucket up to each one's max: the dumps differ, and show the min and max as the edges."""
    texts = []
    for i, values in enumerate(([0.95, 1.0], [0.95, 1.005])):
        with anyboard.SummaryWriter(str(tmp_path / str(i))) as w:
            w.add_histogram("h", np.array(values), 0)
        texts.append(dump(tmp_path / str(i)))
    assert texts[0].splitlines()[-1] == "      0.95 1.0 2.0"
    assert texts[1].splitlines()[-1] == "      0.95 1.005 2.0"


def _sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _rgba(hwc: np.ndarray) -> np.ndarray:
    if hwc.shape[2] == 1:
        hwc = np.repeat(hwc, 3, axis=2)
    return np.dstack([hwc, np.full(hwc.shape[:2], 255, np.uint8)])


def test_dump_shows_the_values_decoded(dumps):
    text = dumps["torch"]
    lines = text.splitlines()
    assert lines[:2] == ["# anyboard.testing.dump v1", 'run "."']
    assert f'  step 1 tag "loss" scalars scalar {float(np.float32(0.35))!r}' in lines
    assert '  step 7 tag "lr" scalars scalar 3.0' in lines
    # The histogram's non-empty buckets as TensorBoard shows them (from the min to the max,
    # both included): 9 values, 0.0 twice.
    i = lines.index('  step 1 tag "weights" histograms histogram num=9.0 buckets=8')
    rows = [tuple(float(x) for x in line.split()) for line in lines[i + 1 : i + 9]]
    assert [r[2] for r in rows] == [1.0, 1.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    assert (rows[0][0], rows[-1][1]) == (-1.5, 1000.0)
    for value in _WEIGHTS.astype(np.float64):
        inside = sum(c for a, b, c in rows if a <= value < b or value == b == rows[-1][1])
        assert inside == (2.0 if value == 0 else 1.0), value
    # Images: hash of the displayed pixels, computed here from the input.
    i = lines.index('  step 4 tag "rgb" images image count=1')
    assert lines[i + 1] == f"      [0] png shape=(2, 3) rgba_sha256={_sha256(_rgba(_RGB.transpose(1, 2, 0)))}"
    i = lines.index('  step 4 tag "gray" images image count=1')
    assert lines[i + 1] == f"      [0] png shape=(2, 4) rgba_sha256={_sha256(_rgba(_GRAY.transpose(1, 2, 0)))}"
    # Text: every string, JSON-quoted on one line.
    i = lines.index('  step 8 tag "notes/text_summary" text text shape=[1]')
    assert lines[i + 1] == '      "**bold** and é\\nline 2"'
    # Audio: hash of the int16 PCM samples.
    samples = (_AUDIO * 32767).astype("<i2")
    i = lines.index('  step 9 tag "sound" audio audio count=1')
    assert lines[i + 1] == f"      [0] wav rate=8000 channels=1 sampwidth=2 frames=5 sha256={_sha256(samples)}"
    # Nothing of the file, the host, the pid or the clock.
    assert "tfevents" not in text and "wall_time" not in text and os.uname().nodename not in text


def test_order_and_values_are_tensorboards(tmp_path):
    """Runs sorted; within a run, files by name and events in file order, as TensorBoard's Python loader."""
    from tbread import python_accumulator

    logdir = tmp_path / "logs"
    for run, base in (("b", 10), (".", 0), ("a/sub", 20), ("a", 30)):
        with anyboard.SummaryWriter(str(logdir / run)) as w:
            for step in range(3):
                w.add_scalar("x", base + step, step)
                w.add_scalar("y", -base - step, step)
    # A second file in run "b" whose name sorts first but holds later steps: name order wins.
    with anyboard.SummaryWriter(str(logdir / "b"), filename_suffix="") as w:
        w.add_scalar("x", 99.0, 5)
    files = sorted(p for p in os.listdir(logdir / "b") if "tfevents" in p)
    os.rename(logdir / "b" / files[1], logdir / "b" / ("events.out.tfevents.0000000001.early"))
    text = dump(logdir)
    runs = re.findall(r'^run "(.*)"$', text, flags=re.MULTILINE)
    assert runs == [".", "a", "a/sub", "b"]
    for run in runs:
        acc = python_accumulator(logdir / run)
        section = text.split(f'run "{run}"\n', 1)[1].split("\nrun ", 1)[0]
        dumped = [
            (tag, int(step), float(value))
            for step, tag, value in re.findall(r'step (-?\d+) tag "(\w+)" scalars scalar (\S+)', section)
        ]
        from tensorboard.util import tensor_util

        for tag in ("x", "y"):
            expected = [(e.step, float(tensor_util.make_ndarray(e.tensor_proto))) for e in acc.Tensors(tag)]
            assert [(s, v) for t, s, v in dumped if t == tag] == expected, (run, tag)
    assert re.findall(r'step (\d+) tag "x"', text.split('run "b"\n')[1]) == ["5", "0", "1", "2"]


def test_an_fsspec_url_dumps_like_the_local_directory(tmp_path):
    """Runs are found by anyboard.read's discovery, so a URL (memory:// here) dumps like a local folder."""
    pytest.importorskip("fsspec")
    url = f"memory://kit-{os.getpid()}-{id(tmp_path)}"
    for base in (str(tmp_path / "logs"), url):
        for run in (".", "eval"):
            with anyboard.SummaryWriter(base if run == "." else f"{base}/{run}") as w:
                w.add_scalar("loss", 0.5, 1)
                w.add_histogram("weights", _WEIGHTS, 2)
    local = dump(tmp_path / "logs")
    assert local.count("\nrun ") == 2 and 'run "eval"' in local
    assert dump(url) == local
    with pytest.raises(FileNotFoundError, match="no log directory"):
        dump(url + "-nowhere")


def test_show_encoding_tells_legacy_and_tensor_apart(tmp_path):
    paths = []
    for i, new_style in enumerate((False, True)):
        path = str(tmp_path / str(i))
        with anyboard.SummaryWriter(path) as w:
            w.add_scalar("loss", 0.5, 1, new_style=new_style)
        paths.append(path)
    assert dump(paths[0]) == dump(paths[1])
    legacy, tensor = (dump(p, show_encoding=True) for p in paths)
    assert "encoding: simple_value" in legacy and "encoding: tensor DT_FLOAT []" in tensor
    assert 'plugin_name: "scalars"' in tensor


def test_options_keep_wall_time_and_file_names(tmp_path):
    path = tmp_path / "run"
    with anyboard.SummaryWriter(str(path)) as w:
        w.add_scalar("loss", 1.0, 1, walltime=1234.5)
    [name] = [n for n in os.listdir(path) if "tfevents" in n]
    text = dump(path, keep_wall_time=True, keep_file_names=True)
    assert f'  file "{name}"' in text and '  file_version "brain.Event:2"' in text
    assert '  step 1 tag "loss" scalars scalar 1.0 wall_time=1234.5' in text
    assert 'file_version "brain.Event:2"' in dump(path, keep_file_version=True) and "file " not in dump(path)
    events = list(anyboard.iter_run_events(path))
    header = dump_events(events[:1], keep_file_version=True, show_encoding=True).splitlines()[2]
    assert header == '  file_version "brain.Event:2" source_metadata writer="anyboard"'
    # One file: the same lines without the file header.
    single = dump(path / name)
    assert single == dump(path) and single.splitlines()[1] == 'run "."'
    assert dump(path, rename_tag=str.upper).count('tag "LOSS"') == 1


def _image_event(png: bytes, tag: str = "img") -> Event:
    summary = Summary()
    value = summary.value.add(tag=tag)
    value.image.height, value.image.width, value.image.colorspace = 2, 3, 3
    value.image.encoded_image_string = png
    return Event(step=1, summary=summary)


def test_image_hash_is_of_pixels_not_png_bytes():
    from PIL import Image

    hwc = _RGB.transpose(1, 2, 0)
    blobs = []
    for level in (0, 9):
        buf = io.BytesIO()
        Image.fromarray(hwc).save(buf, format="PNG", compress_level=level)
        blobs.append(buf.getvalue())
    assert blobs[0] != blobs[1]
    assert dump_events([_image_event(blobs[0])]) == dump_events([_image_event(blobs[1])])
    changed = hwc.copy()
    changed[0, 0, 0] = 1
    buf = io.BytesIO()
    Image.fromarray(changed).save(buf, format="PNG")
    assert dump_events([_image_event(buf.getvalue())]) != dump_events([_image_event(blobs[0])])
    # The tensor (v2) encoding of the same image dumps alike.
    assert dump_events([Event(step=1, summary=image_summary("img", hwc, "HWC"))]) == dump_events(
        [_image_event(blobs[1])]
    )
    assert "undecodable" in dump_events([_image_event(b"not a png")])


def test_dump_events_reads_tensorboards_protos_and_summaries():
    from tensorboard.compat.proto import event_pb2, summary_pb2

    ours = Summary(value=[Summary.Value(tag="a", simple_value=2.5)])
    theirs = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="a", simple_value=2.5)])
    text = dump_events([ours])
    assert '  step 0 tag "a" scalars scalar 2.5' in text
    assert dump_events([theirs]) == text == dump_events([event_pb2.Event(summary=theirs)])
    with pytest.raises(TypeError, match="Event or Summary"):
        dump_events(["not a proto"])


def test_tensors_and_plugin_content(tmp_path):
    path = tmp_path / "run"
    with anyboard.SummaryWriter(str(path)) as w:
        w.add_tensor("t", np.array([[1.5, -2.0], [np.inf, 1e-8]], np.float32), 1)
        w.add_tensor("big", np.arange(2000, dtype=np.int64), 1)
        w.add_pr_curve("pr", np.array([1, 0, 1]), np.array([0.9, 0.2, 0.4]), 2, num_thresholds=3)
        w.add_custom_scalars({"a": {"b": ["Multiline", ["loss"]]}})
        w.add_hparams({"lr": 0.1, "opt": "sgd"}, {"hparam/acc": 0.75}, run_name="hp")
    text = dump(path)
    lines = text.splitlines()
    i = lines.index('  step 1 tag "t" tensor tensor dtype=float32 shape=[2, 2]')
    assert lines[i + 1] == f"      values=[1.5, -2.0, inf, {float(np.float32(1e-8))!r}]"
    digest = hashlib.sha256(np.arange(2000, dtype="<i8").tobytes()).hexdigest()
    assert f"      values=2000 sha256={digest} (of the little-endian bytes)" in lines
    assert "      values=[" + ", ".join(str(i) for i in range(2000)) + "]" in dump(path, max_values=5000).splitlines()
    i = lines.index('  step 2 tag "pr" pr_curves tensor dtype=float32 shape=[6, 3]')
    assert lines[i + 1] == "      metadata content {num_thresholds: 3}"
    assert '      category { title: "a" chart { title: "b" multiline { tag: "loss" } } }' in lines
    # hparams: decoded, and the wall-clock start/end times left out unless asked for.
    start = 'session_start_info { hparams { key: "lr" value { number_value: 0.1 } } '
    start += 'hparams { key: "opt" value { string_value: "sgd" } } }'
    assert f"      metadata content {{{start}}}" in lines
    assert "      metadata content {session_end_info { status: STATUS_SUCCESS }}" in lines
    assert "start_time_secs" in dump(path, keep_wall_time=True) and "start_time_secs" not in text
    with pytest.raises(ValueError, match="max_values"):
        dump(path, max_values=-1)


def test_missing_and_corrupt_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="no log directory"):
        dump(tmp_path / "nowhere")
    path = tmp_path / "run"
    with anyboard.SummaryWriter(str(path)) as w:
        w.add_scalar("loss", 1.0, 1)
    [name] = [n for n in os.listdir(path) if "tfevents" in n]
    data = bytearray((path / name).read_bytes())
    data[-6] ^= 0xFF  # inside the last record's payload: its data CRC fails
    (path / name).write_bytes(bytes(data))
    with pytest.raises(anyboard.RecordError, match="CRC"):
        dump(path)


# -- golden files ---------------------------------------------------------------------------


def _small_logdir(path, loss: float = 0.25) -> str:
    with anyboard.SummaryWriter(str(path)) as w:
        w.add_scalar("loss", loss, 1)
        w.add_scalar("loss", 0.125, 2)
        w.add_histogram("weights", _WEIGHTS, 2)
    with anyboard.SummaryWriter(str(path / "eval")) as w:
        w.add_scalar("acc", 0.5, 2)
    return str(path)


def test_missing_golden_says_how_to_create_it(tmp_path, kit_compares):
    logdir = _small_logdir(tmp_path / "logs")
    golden = tmp_path / "golden" / "train.txt"
    with pytest.raises(AssertionError) as err:
        assert_logdir_matches(logdir, golden)
    message = str(err.value)
    assert "does not exist" in message and "--anyboard-update-goldens" in message
    assert "ANYBOARD_UPDATE_GOLDENS=1" in message and not golden.exists()


def test_update_writes_and_a_changed_value_fails_naming_it(tmp_path, kit_compares):
    golden = tmp_path / "golden" / "train.txt"
    assert_logdir_matches(_small_logdir(tmp_path / "a"), golden, update=True)
    assert golden.read_text(encoding="utf-8") == dump(tmp_path / "a")
    assert_logdir_matches(_small_logdir(tmp_path / "b"), golden)  # a second writer, other files and times
    with pytest.raises(AssertionError) as err:
        assert_logdir_matches(_small_logdir(tmp_path / "c", loss=0.75), golden)
    message = str(err.value)
    assert 'differences in: run ".", tag "loss", step 1' in message
    assert '-  step 1 tag "loss" scalars scalar 0.25' in message
    assert '+  step 1 tag "loss" scalars scalar 0.75' in message
    assert "step 2" not in message.split("\n")[1]  # only the changed value is named


def test_a_missing_run_or_extra_value_is_named(tmp_path, kit_compares):
    golden = tmp_path / "g.txt"
    logdir = _small_logdir(tmp_path / "a")
    assert_logdir_matches(logdir, golden, update=True)
    with anyboard.SummaryWriter(str(tmp_path / "a" / "eval")) as w:
        w.add_scalar("acc", 0.625, 3)
    with pytest.raises(AssertionError, match=r'differences in: run "eval", tag "acc", step 3'):
        assert_logdir_matches(logdir, golden)


def test_environment_variable_updates_unless_update_false(tmp_path, monkeypatch, kit_compares):
    from anyboard.testing import _golden

    monkeypatch.setattr(_golden, "written", [])  # this session's list of goldens written stays as it was
    golden = tmp_path / "g.txt"
    logdir = _small_logdir(tmp_path / "a")
    monkeypatch.setenv("ANYBOARD_UPDATE_GOLDENS", "1")
    with pytest.raises(AssertionError, match="does not exist"):
        assert_logdir_matches(logdir, golden, update=False)
    assert_logdir_matches(logdir, golden)
    assert golden.exists()
    monkeypatch.delenv("ANYBOARD_UPDATE_GOLDENS")
    assert_logdir_matches(logdir, golden)
    golden.write_text(golden.read_text().replace("0.125", "0.126"))
    with pytest.raises(AssertionError, match=r'tag "loss", step 2'):
        assert_text_matches(dump(logdir), golden)
    assert _golden.written == [str(golden)]  # listed by the pytest plugin at the end of the session


def test_dump_options_pass_through_and_bad_options_fail(tmp_path):
    logdir = _small_logdir(tmp_path / "a")
    golden = tmp_path / "g.txt"
    assert_logdir_matches(logdir, golden, update=True, keep_wall_time=True)
    assert golden.read_text(encoding="utf-8") == dump(logdir, keep_wall_time=True) != dump(logdir)
    with pytest.raises(TypeError):
        assert_logdir_matches(logdir, golden, no_such_option=True)


def test_histogram_proto_buckets_and_stats():
    """A HistogramProto as TensorBoard converts it: the empty buckets at both ends dropped, the
    first kept one from ``min``, the last one to ``max``, the others [limit[i-1], limit[i])."""
    summary = Summary()
    h = summary.value.add(tag="h").histo
    h.min, h.max, h.num, h.sum, h.sum_squares = -1.0, 5.0, 4.0, 7.0, 31.0
    h.bucket_limit.extend([-2.0, 0.0, 1.0, 2.0, 6.0, 9.0])
    h.bucket.extend([0.0, 1.0, 0.0, 2.0, 1.0, 0.0])
    lines = dump_events([summary]).splitlines()
    assert lines[2:] == [
        '  step 0 tag "h" histograms histogram num=4.0 buckets=3',
        "      -1.0 0.0 1.0",
        "      1.0 2.0 2.0",
        "      2.0 5.0 1.0",
    ]
    stats = dump_events([summary], histogram_stats=True).splitlines()[3]
    assert stats == "      min=-1.0 max=5.0 num=4.0 sum=7.0 sum_squares=31.0"
    # show_encoding: the empty bucket TensorBoard shows too, and the stored layout.
    assert dump_events([summary], show_encoding=True).splitlines()[2:] == [
        '  step 0 tag "h" histograms histogram num=4.0 buckets=4',
        "      encoding: histo",
        "      bucket_limit=[-2.0, 0.0, 1.0, 2.0, 6.0, 9.0]",
        "      bucket=[0.0, 1.0, 0.0, 2.0, 1.0, 0.0]",
        "      -1.0 0.0 1.0",
        "      0.0 1.0 0.0",
        "      1.0 2.0 2.0",
        "      2.0 5.0 1.0",
    ]
    # No non-empty bucket: no bucket, as in TensorBoard.
    h.ClearField("bucket")
    h.bucket.extend([0.0] * 6)
    assert dump_events([summary]).splitlines()[2:] == ['  step 0 tag "h" histograms histogram num=0 buckets=0']


def test_show_encoding_names_the_tensor_field_and_image_header():
    """The same values in ``tensor_content`` or in ``float_val`` dump alike; show_encoding tells them apart."""
    packed = Summary(value=[Summary.Value(tag="t", tensor=tensor_util.make_tensor(np.array([1.5, -2.0], np.float32)))])
    listed = Summary()
    value = listed.value.add(tag="t")
    value.tensor.dtype = packed.value[0].tensor.dtype
    value.tensor.tensor_shape.CopyFrom(packed.value[0].tensor.tensor_shape)
    value.tensor.float_val.extend([1.5, -2.0])
    assert packed.value[0].tensor.tensor_content and not packed.value[0].tensor.float_val
    assert dump_events([packed]) == dump_events([listed])
    assert "encoding: tensor DT_FLOAT [2] in tensor_content" in dump_events([packed], show_encoding=True)
    assert "encoding: tensor DT_FLOAT [2] in float_val" in dump_events([listed], show_encoding=True)
    # An image tensor's width and height strings (the peers' header) are shown with its encoding.
    hwc = _RGB.transpose(1, 2, 0)
    encoded = dump_events([image_summary("img", hwc, "HWC", summary_format="tensor")], show_encoding=True)
    assert 'in string_val width="3" height="2"' in encoded


def test_any_text_differences_are_named_by_golden_line(tmp_path, kit_compares):
    """Text that is not a dump (hex bytes, say): the differences are named by their line in the golden."""
    golden = tmp_path / "g.hex"
    golden.write_text("# bytes\n00ff\n0102\n", encoding="utf-8")
    assert_text_matches("# bytes\n00ff\n0102\n", golden)
    with pytest.raises(AssertionError, match=r"differences in: line 3 of the golden file\n"):
        assert_text_matches("# bytes\n00ff\n0103\n", golden)


def test_a_missing_or_extra_final_newline_in_the_golden_matches(tmp_path, kit_compares):
    """An editor that strips (or adds) the newline at the end of a golden: not a difference."""
    logdir = _small_logdir(tmp_path / "a")
    golden = tmp_path / "g.txt"
    text = dump(logdir)
    for content in (text.rstrip("\n"), text + "\n", text.replace("\n", "\r\n")):
        golden.write_bytes(content.encode("utf-8"))
        assert_logdir_matches(logdir, golden)
    golden.write_text(text + "\n\n", encoding="utf-8")  # two: a difference, shown
    with pytest.raises(AssertionError, match=r"differences in: line \d+ of the golden file"):
        assert_logdir_matches(logdir, golden)


@pytest.mark.parametrize("update", ["0", "", 1, 0, np.bool_(True)])
def test_update_must_be_a_bool_or_none(tmp_path, update, kit_compares):
    logdir = _small_logdir(tmp_path / "a")
    golden = tmp_path / "g.txt"
    golden.write_text("old\n", encoding="utf-8")
    with pytest.raises(TypeError, match=r"update must be True, False or None, got"):
        assert_logdir_matches(logdir, golden, update=update)
    with pytest.raises(TypeError, match=r"update must be True, False or None"):
        assert_text_matches("new\n", golden, update=update)
    assert golden.read_text(encoding="utf-8") == "old\n"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_values": None}, r"max_values must be an int, got None"),
        ({"max_values": 1.5}, r"max_values must be an int, got 1.5"),
        ({"max_values": True}, r"max_values must be an int, got True"),
        ({"rename_tag": "x"}, r"rename_tag must be a function taking and returning a str \(or None\), got 'x'"),
        ({"rename_run": 3}, r"rename_run must be a function"),
        ({"show_encoding": "yes"}, r"show_encoding must be a bool, got 'yes'"),
        ({"keep_wall_time": 1}, r"keep_wall_time must be a bool, got 1"),
        ({"rename_tag": len}, r"rename_tag must return a str, returned 4 for 'loss'"),
    ],
)
def test_options_of_the_wrong_type_name_the_option(tmp_path, options, message):
    logdir = _small_logdir(tmp_path / "a")
    with pytest.raises(TypeError, match=message):
        dump(logdir, **options)
    with pytest.raises(TypeError, match=message):
        dump_events([Summary(value=[Summary.Value(tag="loss", simple_value=1.0)])], **options)


def _train_with_hparams(path) -> None:
    with anyboard.SummaryWriter(str(path)) as w:
        w.add_scalar("loss", 0.5, 0)
        w.add_hparams({"lr": 0.1}, {"hp/acc": 0.9})  # no run_name: a run named by the time


def test_time_stamp_run_names_are_shown_as_time(tmp_path, kit_compares):
    """add_hparams() without run_name (the peers' default too) names its run str(time.time()):
    shown as <time>, so a golden of such code passes on the next run; keep_wall_time keeps it."""
    golden = tmp_path / "g.txt"
    _train_with_hparams(tmp_path / "a")
    assert_logdir_matches(tmp_path / "a", golden, update=True)
    _train_with_hparams(tmp_path / "b")
    assert_logdir_matches(tmp_path / "b", golden)
    text = golden.read_text(encoding="utf-8")
    assert re.findall(r"^run (.*)$", text, re.MULTILINE) == ['"."', '"<time>"']
    [stamp] = [n for n in os.listdir(tmp_path / "b") if re.fullmatch(r"\d+\.\d+", n)]
    assert f'run "{stamp}"' in dump(tmp_path / "b", keep_wall_time=True)
    # Runs nested below a time stamp, and the peers' spelling (str(time.time())).
    with anyboard.SummaryWriter(str(tmp_path / "c" / "exp" / "1796680351.1855621" / "x")) as w:
        w.add_scalar("loss", 0.5, 0)
    assert 'run "exp/<time>/x"' in dump(tmp_path / "c")
    # A run name that only looks like a number is kept.
    with anyboard.SummaryWriter(str(tmp_path / "d" / "0.001")) as w:
        w.add_scalar("loss", 0.5, 0)
    assert 'run "0.001"' in dump(tmp_path / "d")


def test_rename_run_maps_run_names_and_sorts_by_them(tmp_path):
    for run in ("b", "a_seed1", "c_seed2"):
        with anyboard.SummaryWriter(str(tmp_path / run)) as w:
            w.add_scalar("loss", 0.5, 0)
    text = dump(tmp_path, rename_run=lambda name: re.sub(r"_seed\d+$", "", name))
    assert re.findall(r"^run (.*)$", text, re.MULTILINE) == ['"a"', '"b"', '"c"']
    events = [Summary(value=[Summary.Value(tag="loss", simple_value=1.0)])]
    assert 'run "TRAIN"' in dump_events(events, run="train", rename_run=str.upper)


def _big_dump(values: int, bump: float = 0.0, extra_at: int | None = None) -> str:
    lines = ["# anyboard.testing.dump v1", 'run "."']
    for step in range(values):
        lines.append(f'  step {step} tag "loss" scalars scalar {1.0 / (step + 1) + bump!r}')
        lines.append(f'  step {step} tag "acc" scalars scalar 0.5')
        if step == extra_at:
            lines.append(f'  step {step} tag "new" scalars scalar 1.0')
    return "\n".join(lines) + "\n"


def test_a_large_difference_is_found_value_by_value_and_shown_cut(tmp_path, monkeypatch, kit_compares):
    """20000 changed values of 40000 lines: no line-by-line difflib over the texts (quadratic), a
    message of bounded size naming the first values, and the diff cut after 200 lines."""
    import difflib

    from anyboard.testing import _golden

    golden = tmp_path / "g.txt"
    golden.write_text(_big_dump(20000), encoding="utf-8")
    calls = []

    class Counted(difflib.SequenceMatcher):
        def __init__(self, *args, **kwargs):
            calls.append(len(kwargs["a"] if "a" in kwargs else args[1] if len(args) > 1 else ""))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(difflib, "SequenceMatcher", Counted)
    with pytest.raises(AssertionError) as err:
        assert_text_matches(_big_dump(20000, bump=0.001, extra_at=7), golden)
    lines = str(err.value).splitlines()
    assert calls == []  # the linear comparison
    assert len(lines) <= 4 + _golden.SHOWN_DIFF_LINES + 1
    assert lines[1].startswith('differences in: run ".", tag "loss", step 0; run ".", tag "loss", step 1;')
    assert lines[1].endswith("; and 19991 more")  # 20000 changed values and the new one
    # One line saying how they were compared, then per changed value its label, - and +; the new one's label and +.
    assert lines[-1] == f"... {1 + 3 * 20000 + 2 - _golden.SHOWN_DIFF_LINES} more lines"
    assert '-  step 0 tag "loss" scalars scalar 1.0' in lines and '+  step 0 tag "loss" scalars scalar 1.001' in lines
    # The new value in a long log is named alone, however far it is from the start.
    with pytest.raises(AssertionError) as err:
        assert_text_matches(_big_dump(20000, extra_at=15000), golden)
    lines = str(err.value).splitlines()
    assert lines[1] == 'differences in: run ".", tag "new", step 15000'
    assert calls and max(calls) < 20  # difflib only over the lines that differ, and their context


def test_a_small_difference_is_difflibs_unified_diff(tmp_path, kit_compares):
    """Far into a text: the same diff as difflib's over the whole texts, line numbers included."""
    import difflib

    golden = tmp_path / "g.txt"
    old = _big_dump(300)
    golden.write_text(old, encoding="utf-8")
    new = old.replace('step 250 tag "acc" scalars scalar 0.5', 'step 250 tag "acc" scalars scalar 0.75')
    new = new.replace('step 251 tag "loss"', 'step 252 tag "loss"')
    with pytest.raises(AssertionError) as err:
        assert_text_matches(new, golden)
    expected = difflib.unified_diff(old.splitlines(), new.splitlines(), f"{golden} (golden)", "actual", lineterm="")
    assert str(err.value).split("\n", 3)[3] == "\n".join(expected)
    assert 'differences in: run ".", tag "acc", step 250; run ".", tag "loss", step 251' in str(err.value)
