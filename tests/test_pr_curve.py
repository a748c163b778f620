"""add_pr_curve / add_pr_curve_raw vs an independent NumPy computation, the Python loader and the server."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from tbread import TensorBoardServer, python_accumulator, python_tensors

import anyboard
from anyboard.proto.plugins_pb2 import PrCurvePluginData
from anyboard.summary.tensor_util import make_ndarray


def _reference(labels, predictions, n, weights=None):
    """Threshold-by-threshold definition: example counts with prediction >= threshold bucket."""
    labels = np.asarray(labels, dtype=bool).ravel()
    predictions = np.asarray(predictions, dtype=np.float64).ravel()
    w = (
        np.ones(labels.size)
        if weights is None
        else np.broadcast_to(np.asarray(weights, dtype=np.float64).ravel(), labels.shape)
    )
    bucket = np.floor(predictions * (n - 1))
    rows = []
    for i in range(n):
        above = bucket >= i
        tp = w[above & labels].sum()
        fp = w[above & ~labels].sum()
        tn = w[~above & ~labels].sum()
        fn = w[~above & labels].sum()
        rows.append([tp, fp, tn, fn, tp / max(1e-7, tp + fp), tp / max(1e-7, tp + fn)])
    return np.array(rows).T


def _written(logdir, tag):
    out = []
    for e in anyboard.iter_run_events(logdir):
        for v in e.summary.value:
            if v.tag == tag:
                out.append((e.step, v, make_ndarray(v.tensor)))
    return out


def test_pr_curve_values_match_reference_python_loader_and_server(logdir):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 500)
    predictions = rng.random(500)
    predictions[:3] = [0.0, 1.0, 0.5]
    weights = rng.random(500) * 3
    with anyboard.SummaryWriter(logdir) as w:
        w.add_pr_curve("pr", labels, predictions, 0, num_thresholds=11, walltime=10.0)
        w.add_pr_curve("pr", labels.astype(bool), predictions, 1, num_thresholds=11, walltime=11.0)
        w.add_pr_curve("weighted", labels, predictions, 0, num_thresholds=33, weights=weights)
        w.add_pr_curve("big", labels, predictions, 0, num_thresholds=1000)  # no 127 cap
        w.add_pr_curve("default", labels.reshape(50, 10), predictions.reshape(50, 10).astype(np.float32))

    [(s0, v0, d0), (s1, _, d1)] = _written(logdir, "pr")
    assert (s0, s1) == (0, 1)
    assert d0.dtype == np.float32 and d0.shape == (6, 11)
    np.testing.assert_allclose(d0, _reference(labels, predictions, 11), rtol=1e-6)
    np.testing.assert_array_equal(d0, d1)
    assert v0.metadata.plugin_data.plugin_name == "pr_curves"
    assert PrCurvePluginData.FromString(v0.metadata.plugin_data.content).num_thresholds == 11
    np.testing.assert_allclose(
        _written(logdir, "weighted")[0][2], _reference(labels, predictions, 33, weights), rtol=1e-5
    )
    big = _written(logdir, "big")[0]
    assert big[2].shape == (6, 1000)
    assert PrCurvePluginData.FromString(big[1].metadata.plugin_data.content).num_thresholds == 1000
    np.testing.assert_allclose(big[2], _reference(labels, predictions, 1000), rtol=1e-6)
    assert _written(logdir, "default")[0][2].shape == (6, 127)

    assert set(python_accumulator(logdir).PluginTagToContent("pr_curves")) == {"pr", "weighted", "big", "default"}
    np.testing.assert_array_equal(python_tensors(logdir, "pr")[0][2], d0)

    with TensorBoardServer(logdir) as tb:
        tb.wait_for(lambda: "big" in tb.get("/data/plugin/pr_curves/tags").get(".", {}))
        entries = tb.get("/data/plugin/pr_curves/pr_curves", run=".", tag="pr")["."]
        assert [(e["step"], e["wall_time"]) for e in entries] == [(0, 10.0), (1, 11.0)]
        ref = _reference(labels, predictions, 11)
        kept = int(np.nonzero(ref[0] + ref[1])[0].max()) + 1  # the server trims trailing TP+FP == 0
        e = entries[0]
        assert e["true_positives"] == ref[0, :kept].astype(int).tolist()
        assert e["false_positives"] == ref[1, :kept].astype(int).tolist()
        assert e["true_negatives"] == ref[2, :kept].astype(int).tolist()
        assert e["false_negatives"] == ref[3, :kept].astype(int).tolist()
        np.testing.assert_allclose(e["precision"], ref[4, :kept], rtol=1e-6)
        np.testing.assert_allclose(e["recall"], ref[5, :kept], rtol=1e-6)
        np.testing.assert_allclose(e["thresholds"], np.linspace(0, 1, 11)[:kept], atol=1e-7)
        big_entry = tb.get("/data/plugin/pr_curves/pr_curves", run=".", tag="big")["."][0]
        assert len(big_entry["thresholds"]) > 127


def test_pr_curve_raw_written_as_given(logdir):
    n = 5
    tp = np.array([10, 8, 5, 2, 0])
    fp = np.array([10, 4, 2, 1, 0])
    tn = 10 - fp
    fn = 10 - tp
    precision = tp / np.maximum(tp + fp, 1e-7)
    recall = tp / 10
    with anyboard.SummaryWriter(logdir) as w:
        w.add_pr_curve_raw("raw", tp, fp, tn, fn, precision, recall, 3, num_thresholds=n)
        w.add_pr_curve_raw("raw_default_n", tp, fp, tn, fn, precision, recall, 0)  # default 127 accepted for any n
    [(step, value, data)] = _written(logdir, "raw")
    assert step == 3
    np.testing.assert_allclose(data, np.stack([tp, fp, tn, fn, precision, recall]).astype(np.float32))
    assert PrCurvePluginData.FromString(value.metadata.plugin_data.content).num_thresholds == n
    assert (
        PrCurvePluginData.FromString(
            _written(logdir, "raw_default_n")[0][1].metadata.plugin_data.content
        ).num_thresholds
        == n
    )
    with TensorBoardServer(logdir) as tb:
        tb.wait_for(lambda: "raw" in tb.get("/data/plugin/pr_curves/tags").get(".", {}))
        e = tb.get("/data/plugin/pr_curves/pr_curves", run=".", tag="raw")["."][0]
        assert e["step"] == 3
        assert e["true_positives"] == [10, 8, 5, 2]  # last column trimmed (TP+FP == 0)
        np.testing.assert_allclose(e["precision"], precision[:4], rtol=1e-6)


_Y = np.array([0, 1, 1, 0])
_P = np.array([0.1, 0.8, 0.6, 0.3])


def test_pr_curve_takes_what_the_peers_take_soft_labels_and_rounding_above_one(logdir):
    """A float32 probability one ulp above 1 (a softmax's rounding) and soft labels raised
    ValueError inside a training loop where tensorboardX and torch write the curve: the value
    goes to the last bucket, and a soft label counts its share of the weight as positive."""
    above_one = np.nextafter(np.float32(1), np.float32(2))
    with anyboard.SummaryWriter(logdir) as w:
        w.add_pr_curve("ulp", np.array([0, 1, 1]), np.array([0.2, 0.7, above_one], np.float32), 0, num_thresholds=3)
        w.add_pr_curve("soft", np.array([0.9, 0.1, 0.8]), np.array([0.8, 0.3, 0.6]), 0, num_thresholds=3)
    [(_, _, ulp)] = _written(logdir, "ulp")
    # buckets floor(p * 2): 0, 1, 2 -> TP (reverse cumulative positives) 2, 2, 1; FP 1, 0, 0
    np.testing.assert_array_equal(ulp[:2], [[2, 2, 1], [1, 0, 0]])
    [(_, _, soft)] = _written(logdir, "soft")
    # buckets 1, 0, 1: positive weight per bucket 0.1, 1.7, 0 and negative 0.9, 0.3, 0
    np.testing.assert_allclose(soft[:4], [[1.8, 1.7, 0], [1.2, 0.3, 0], [0, 0.9, 1.2], [0, 0.1, 1.8]], rtol=1e-6)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "words"),
    [
        ((_Y, np.array([0.1, 1.2, 0.5, 0.3])), {}, ValueError, "[0, 1]"),
        ((_Y, np.array([0.1, np.nan, 0.5, 0.3])), {}, ValueError, "NaN"),
        ((_Y, np.array([-0.1, 0.2, 0.5, 0.3])), {}, ValueError, "[0, 1]"),
        ((_Y, _P[:3]), {}, ValueError, "same number"),
        ((np.array([0, 2, 1, 0]), _P), {}, ValueError, "[0, 1]"),
        ((np.array([0, np.nan, 1, 0]), _P), {}, ValueError, "NaN"),
        ((_Y, np.array([0.1, 1.00001, 0.5, 0.3])), {}, ValueError, "[0, 1]"),
        ((np.array(["a", "b", "c", "d"]), _P), {}, TypeError, "labels"),
        ((_Y, _P), {"num_thresholds": 1}, ValueError, "num_thresholds"),
        ((_Y, _P), {"num_thresholds": 10.0}, TypeError, "num_thresholds"),
        ((_Y, _P), {"weights": np.ones(3)}, ValueError, "weights"),
        ((_Y, _P), {"weights": -1.0}, ValueError, "weights"),
    ],
)
def test_pr_curve_bad_inputs_name_the_tag(logdir, args, kwargs, error, words):
    with anyboard.SummaryWriter(logdir) as w, pytest.raises(error, match="bad_pr") as info:
        w.add_pr_curve("bad_pr", *args, **kwargs)
    assert words in str(info.value)


def test_pr_curve_raw_bad_inputs_name_the_tag(logdir):
    six = [np.arange(4.0)] * 6
    with anyboard.SummaryWriter(logdir) as w:
        with pytest.raises(ValueError, match=r"bad_raw.*one length"):
            w.add_pr_curve_raw("bad_raw", *six[:5], np.arange(3.0))
        with pytest.raises(ValueError, match=r"bad_raw.*num_thresholds=10"):
            w.add_pr_curve_raw("bad_raw", *six, num_thresholds=10)
        with pytest.raises(ValueError, match=r"bad_raw.*1-D"):
            w.add_pr_curve_raw("bad_raw", np.zeros((2, 2)), *six[1:])
        with pytest.raises(ValueError, match=r"bad_raw.*finite"):
            w.add_pr_curve_raw("bad_raw", *six[:4], np.array([0, np.nan, 0, 0]), six[5])
        with pytest.raises(ValueError, match=r"bad_raw.*>= 0"):
            w.add_pr_curve_raw("bad_raw", -np.ones(4), *six[1:])
        with pytest.raises(ValueError, match=r"bad_raw.*>= 2"):
            w.add_pr_curve_raw("bad_raw", *[np.ones(1)] * 6)


def test_pr_curve_raw_beyond_float32_is_inf_with_one_warning_naming_the_tag(logdir):
    """Like add_scalar: 1e300 fits float64 but not float32: +inf, one anyboard warning, no NumPy cast warning."""
    six = [np.array([10.0, 5.0, 0.0])] * 4 + [np.array([0.5, 0.6, 1.0]), np.array([1.0, 0.5, 0.0])]
    huge = [np.array([1e300, 5.0, 0.0]), *six[1:]]
    with anyboard.SummaryWriter(logdir) as w, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        w.add_pr_curve_raw("huge", *huge, global_step=1)
        w.add_pr_curve_raw("huge", *huge, global_step=2)  # warned once per writer and tag
        w.add_pr_curve_raw("fine", *six, global_step=1)
        w.add_pr_curve_raw("edge", np.array([3.4028235e38, 1.0, 0.0]), *six[1:])  # rounds to float32's max
    messages = [str(c.message) for c in caught]
    assert len(messages) == 1, messages
    assert "'huge'" in messages[0] and "true_positive_counts" in messages[0] and "1e+300" in messages[0]
    assert caught[0].category is RuntimeWarning and caught[0].filename == __file__  # points at the call
    [(_, _, first), (_, _, second)] = _written(logdir, "huge")
    assert first[0, 0] == np.inf and second[0, 0] == np.inf
    np.testing.assert_array_equal(first[1:], np.stack(six[1:]).astype(np.float32))
    [(_, _, edge)] = _written(logdir, "edge")
    assert edge[0, 0] == np.finfo(np.float32).max


def test_pr_curve_raw_beyond_float64_is_refused_naming_the_tag(logdir):
    if np.finfo(np.longdouble).max <= np.finfo(np.float64).max:
        pytest.skip("longdouble is float64 on this platform")
    six = [np.array([1.0, 0.0])] * 6
    with anyboard.SummaryWriter(logdir) as w, warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"'too_big'.*recall.*float64"):
            w.add_pr_curve_raw("too_big", *six[:5], np.array([np.longdouble("1e400"), 0.0], np.longdouble))
    assert _written(logdir, "too_big") == []
