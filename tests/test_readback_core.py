"""Core summaries read back by anyboard's reader, TensorBoard's Python loader
and a real TensorBoard server in both modes (Rust ``load_fast=True`` and
Python ``load_fast=False``), written with ``summary_format="tensor"`` (the v2
encodings, which both loaders read identically: exact histogram rows). The
default ``"compat"`` form is compared with the peers' files in
``test_reader_compat.py``.

One log directory is written once per module; each server mode is started
once and checks everything over HTTP.
"""

from __future__ import annotations

import html
import os

import numpy as np
import pytest

import anyboard
from anyboard.summary.tensor_util import make_ndarray

WALL0 = 1_700_000_000.0
RNG = np.random.default_rng(1234)
HIST_STEPS = {s: RNG.normal(0, 10.0 ** (s - 1), size=2000) for s in range(3)}
HIST_STEPS[3] = np.concatenate([HIST_STEPS[0], [0.0, 0.0, 1e25, -1e30, np.inf, np.nan]])  # 0s, out-of-range, non-finite
INT_BINS = RNG.uniform(-5, 5, size=500)
TENSOR = np.arange(24, dtype=np.int32).reshape(2, 3, 4) - 7
TABLE = [["a", "b"], ["**c**", "d"]]


def loss(step: int) -> float:
    return 1.0 / (step + 1)


def tf_edges() -> np.ndarray:
    """The peers' default bucket edges, rebuilt independently of anyboard."""
    pos = [1e-12]
    while pos[-1] * 1.1 < 1e20:
        pos.append(pos[-1] * 1.1)
    pos = np.array(pos)
    return np.concatenate([-pos[::-1], [0.0], pos])


def expected_tf_rows(values: np.ndarray) -> np.ndarray:
    """``[left, right, count]`` rows: np.histogram over the TF edges, trimmed to
    the non-empty span, plus one row per side for finite values beyond the edges."""
    edges = tf_edges()
    x = values[np.isfinite(values)]
    counts, _ = np.histogram(x, edges)
    nz = np.flatnonzero(counts)
    rows = [np.stack([edges[nz[0] : nz[-1] + 1], edges[nz[0] + 1 : nz[-1] + 2], counts[nz[0] : nz[-1] + 1]], axis=1)]
    if (x < edges[0]).any():
        rows.insert(0, np.array([[x.min(), edges[0], (x < edges[0]).sum()]]))
    if (x > edges[-1]).any():
        rows.append(np.array([[edges[-1], x.max(), (x > edges[-1]).sum()]]))
    return np.concatenate(rows).astype(np.float64)


def expected_int_rows() -> np.ndarray:
    counts, edges = np.histogram(INT_BINS, 10)
    return np.stack([edges[:-1], edges[1:], counts], axis=1)


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("readback") / "logs")
    with anyboard.SummaryWriter(path, summary_format="tensor") as w:
        for s in range(10):
            w.add_scalar("loss", loss(s), s, walltime=WALL0 + s)
            w.add_scalar("train/neg", -2.5 * s, s, walltime=WALL0 + s)
        w.add_scalar("styled", 0.75, 0, walltime=WALL0, new_style=True)
        for s, values in HIST_STEPS.items():
            w.add_histogram("weights", values, s, walltime=WALL0 + 10 + s)
        w.add_histogram("intbins", INT_BINS, 0, bins=10, walltime=WALL0 + 20)
        w.add_histogram("nans", np.full(7, np.nan), 0, walltime=WALL0 + 22)
        w.add_text("note", "hello **world**", 0, walltime=WALL0 + 30)
        w.add_text("note", "second <b>note</b>", 1, walltime=WALL0 + 31)
        w.add_text("table", TABLE, 0, walltime=WALL0 + 32)
        for s in range(5):
            w.add_scalars("multi", {"a": float(s), "b": float(-s)}, s, walltime=WALL0 + 40 + s)
        w.add_tensor("tens", TENSOR, 3, walltime=WALL0 + 50)
    return path


def _values(run_dir, tag):
    return [
        (e.wall_time, e.step, v) for e in anyboard.iter_run_events(run_dir) for v in e.summary.value if v.tag == tag
    ]


# -- (a) anyboard's own reader ------------------------------------------------


def test_anyboard_reader(logdir):
    got = _values(logdir, "loss")
    assert [(w, s) for w, s, _ in got] == [(WALL0 + s, s) for s in range(10)]
    assert [v.simple_value for *_, v in got] == pytest.approx([loss(s) for s in range(10)], rel=1e-7)
    for s, (wall, step, v) in enumerate(_values(logdir, "weights")):
        assert (wall, step) == (WALL0 + 10 + s, s)
        assert v.metadata.plugin_data.plugin_name == "histograms"
        np.testing.assert_array_equal(make_ndarray(v.tensor), expected_tf_rows(HIST_STEPS[s]))
    ((_, _, v),) = _values(logdir, "intbins")
    np.testing.assert_allclose(make_ndarray(v.tensor), expected_int_rows(), rtol=1e-12)
    for tag in ("nans",):
        ((_, _, v),) = _values(logdir, tag)
        assert make_ndarray(v.tensor).shape == (0, 3)
    texts = _values(logdir, "note")
    assert [(w, s, make_ndarray(v.tensor).item()) for w, s, v in texts] == [
        (WALL0 + 30, 0, b"hello **world**"),
        (WALL0 + 31, 1, b"second <b>note</b>"),
    ]
    assert texts[0][2].metadata.plugin_data.plugin_name == "text"
    ((_, _, v),) = _values(logdir, "table")
    assert make_ndarray(v.tensor).tolist() == [[x.encode() for x in row] for row in TABLE]
    for key, sign in (("a", 1), ("b", -1)):
        sub = _values(os.path.join(logdir, f"multi_{key}"), "multi")
        assert [(w, s, v.simple_value) for w, s, v in sub] == [(WALL0 + 40 + s, s, sign * float(s)) for s in range(5)]
    ((wall, step, v),) = _values(logdir, "tens")
    assert (wall, step, v.metadata.plugin_data.plugin_name) == (WALL0 + 50, 3, "tensor")
    out = make_ndarray(v.tensor)
    assert out.dtype == np.int32 and out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, TENSOR)


# -- (b) TensorBoard's Python loader ------------------------------------------


def test_python_loader(logdir):
    from tbread import python_accumulator, python_tensors

    acc = python_accumulator(logdir)
    tags = set(acc.Tags()["tensors"])
    assert {"loss", "train/neg", "styled", "weights", "intbins", "nans", "note", "table", "tens"} <= tags
    assert acc.SummaryMetadata("loss").plugin_data.plugin_name == "scalars"
    assert acc.SummaryMetadata("weights").plugin_data.plugin_name == "histograms"
    assert acc.SummaryMetadata("note").plugin_data.plugin_name == "text"
    got = python_tensors(logdir, "loss")
    assert [(w, s) for w, s, _ in got] == [(WALL0 + s, s) for s in range(10)]
    assert [float(a) for *_, a in got] == pytest.approx([loss(s) for s in range(10)], rel=1e-7)
    assert [float(a) for *_, a in python_tensors(logdir, "train/neg")] == [-2.5 * s for s in range(10)]
    assert [float(a) for *_, a in python_tensors(logdir, "styled")] == [0.75]
    hist = python_tensors(logdir, "weights")
    assert [(w, s) for w, s, _ in hist] == [(WALL0 + 10 + s, s) for s in range(4)]
    for s, (_, _, rows) in enumerate(hist):
        np.testing.assert_array_equal(rows, expected_tf_rows(HIST_STEPS[s]))
    np.testing.assert_allclose(python_tensors(logdir, "intbins")[0][2], expected_int_rows(), rtol=1e-12)
    for tag in ("nans",):
        ((_, _, rows),) = python_tensors(logdir, tag)
        assert rows.shape == (0, 3), tag
    notes = python_tensors(logdir, "note")
    assert [(w, s, a.item()) for w, s, a in notes] == [
        (WALL0 + 30, 0, b"hello **world**"),
        (WALL0 + 31, 1, b"second <b>note</b>"),
    ]
    ((_, _, tens),) = python_tensors(logdir, "tens")
    np.testing.assert_array_equal(tens, TENSOR)
    for key, sign in (("a", 1), ("b", -1)):
        sub = python_tensors(os.path.join(logdir, f"multi_{key}"), "multi")
        assert [(w, s, float(a)) for w, s, a in sub] == [(WALL0 + 40 + s, s, sign * float(s)) for s in range(5)]


# -- (c) a real TensorBoard server ------------------------------------------------


def _check_server(logdir, load_fast: bool) -> None:
    from tbread import TensorBoardServer

    with TensorBoardServer(logdir, load_fast=load_fast) as tb:
        tb.wait_for(lambda: set(tb.get("/data/runs")) >= {".", "multi_a", "multi_b"})
        tb.wait_for(lambda: tb.get("/data/plugin/scalars/tags").get("multi_b"))
        tags = tb.get("/data/plugin/scalars/tags")
        assert set(tags["."]) == {"loss", "train/neg", "styled"}
        assert set(tags["multi_a"]) == set(tags["multi_b"]) == {"multi"}

        data = tb.scalars(".", "loss")
        assert [(w, s) for w, s, _ in data] == [(WALL0 + s, s) for s in range(10)]
        assert [v for *_, v in data] == pytest.approx([loss(s) for s in range(10)], rel=1e-7)
        assert [v for *_, v in tb.scalars(".", "train/neg")] == [-2.5 * s for s in range(10)]
        assert [v for *_, v in tb.scalars(".", "styled")] == [0.75]
        for key, sign in (("a", 1), ("b", -1)):
            got = tb.scalars(f"multi_{key}", "multi")
            assert got == [[WALL0 + 40 + s, s, sign * float(s)] for s in range(5)]

        htags = tb.get("/data/plugin/histograms/tags")["."]
        assert {"weights", "intbins"} <= set(htags)
        hist = tb.get("/data/plugin/histograms/histograms", run=".", tag="weights")
        assert [(w, s) for w, s, _ in hist] == [(WALL0 + 10 + s, s) for s in range(4)]
        for s, (_, _, rows) in enumerate(hist):
            np.testing.assert_array_equal(np.array(rows), expected_tf_rows(HIST_STEPS[s]))
        ((_, _, rows),) = tb.get("/data/plugin/histograms/histograms", run=".", tag="intbins")
        np.testing.assert_allclose(np.array(rows), expected_int_rows(), rtol=1e-12)
        for tag in ("nans",):
            assert tag in htags, (tag, load_fast)
            ((_, s, rows),) = tb.get("/data/plugin/histograms/histograms", run=".", tag=tag)
            assert s == 0 and rows == [], (tag, load_fast)
        dist = tb.get("/data/plugin/distributions/distributions", run=".", tag="weights")
        assert [s for _, s, _ in dist] == [0, 1, 2, 3]

        assert set(tb.get("/data/plugin/text/tags")["."]) == {"note", "table"}
        notes = tb.get("/data/plugin/text/text", run=".", tag="note")
        assert [(n["wall_time"], n["step"]) for n in notes] == [(WALL0 + 30, 0), (WALL0 + 31, 1)]
        assert "<strong>world</strong>" in notes[0]["text"]
        assert "<b>" not in notes[1]["text"]  # sanitized Markdown
        raw = tb.get("/data/plugin/text/text", run=".", tag="note", markdown="false")
        assert "hello **world**" in html.unescape(raw[0]["text"])
        ((table),) = tb.get("/data/plugin/text/text", run=".", tag="table")
        assert "<table>" in table["text"] and "<strong>c</strong>" in table["text"]


def test_server_load_fast_true(logdir):
    _check_server(logdir, load_fast=True)


def test_server_load_fast_false(logdir):
    _check_server(logdir, load_fast=False)


# -- add_tensor dtypes, decoded by TensorBoard's own tensor_util ----------------

DTYPE_CASES = [
    np.arange(6, dtype=np.float16).reshape(2, 3) / 4,
    np.array([[1.5, -np.inf], [np.nan, 3e38]], dtype=np.float32),
    np.array([1e-300, -2.5, np.pi]),
    np.array([-128, 0, 127], dtype=np.int8),
    np.array([-(2**15), 2**15 - 1], dtype=np.int16),
    np.array([[-(2**31)], [2**31 - 1]], dtype=np.int32),
    np.array([-(2**63), 2**63 - 1], dtype=np.int64),
    np.array([0, 255], dtype=np.uint8),
    np.array([0, 65535], dtype=np.uint16),
    np.array([0, 2**32 - 1], dtype=np.uint32),
    np.array([0, 2**64 - 1], dtype=np.uint64),
    np.array([True, False, True]),
    np.array([1 + 2j, -3.5j], dtype=np.complex64),
    np.array([1 + 2j, -3.5j], dtype=np.complex128),
    np.array(7.25, dtype=np.float32),  # rank 0
    np.zeros((0, 4), dtype=np.float32),  # empty
    np.arange(12, dtype=">i4").reshape(3, 4),  # big-endian input
    np.arange(5, dtype=">f8"),
    np.arange(24, dtype=np.float32).reshape(2, 3, 4)[:, ::2, 1:],  # non-contiguous view
]


@pytest.mark.parametrize("array", DTYPE_CASES, ids=lambda a: f"{a.dtype.str}{list(a.shape)}")
def test_make_tensor_decodes_identically_in_tensorboard(array):
    from tensorboard.util import tensor_util as tb_tensor_util

    from anyboard.summary.tensor import tensor

    proto = tensor("t", array).value[0].tensor
    for decoded in (tb_tensor_util.make_ndarray(proto), make_ndarray(proto)):
        assert decoded.shape == array.shape
        assert decoded.dtype == array.dtype.newbyteorder("=")
        np.testing.assert_array_equal(decoded, array)


def test_make_tensor_strings_decode_in_tensorboard():
    from tensorboard.util import tensor_util as tb_tensor_util

    from anyboard.summary.tensor import tensor

    for array, expected in (
        (np.array(["a", "λ😀", ""]), [b"a", "λ😀".encode(), b""]),
        (np.array([b"\x00\xff", b"x"]), [b"\x00\xff", b"x"]),
        (np.array([["a", b"b"]], dtype=object), [[b"a", b"b"]]),
        (np.array("rank0", dtype=object), b"rank0"),
    ):
        proto = tensor("s", array).value[0].tensor
        assert tb_tensor_util.make_ndarray(proto).tolist() == expected
        assert make_ndarray(proto).tolist() == expected


def test_make_tensor_rejects_unstorable_dtypes_naming_the_tag():
    from anyboard.summary.tensor_util import make_tensor

    for bad in (
        np.array([object(), 1], dtype=object),
        np.zeros(2, dtype=[("a", "i4")]),
        np.array(["2020-01-01"], dtype="datetime64[D]"),
    ):
        with pytest.raises(TypeError, match="'badtag'"):
            make_tensor(bad, tag="badtag")
