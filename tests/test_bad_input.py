"""Property tests: every ``add_*`` fed bad input.

Random shapes, dtypes (bool, int64, float16/32/64, complex, object), NaN/Inf,
empty arrays, huge values, wrong dataformats, mismatched lengths and
non-string tags. Each call either writes something both anyboard's reader
and TensorBoard's Python loader read back, or raises ``ValueError`` /
``TypeError`` whose message holds ``repr(tag)``. It never writes half a
record and never loses earlier data: a sentinel scalar logged before and
after the call reads back in both readers. Every method in ``METHODS`` must
exist on ``SummaryWriter`` and every data method must be in ``METHODS``
(``test_covers_the_methods_that_exist``): a renamed method fails that test
instead of silently dropping out of the property tests.
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import tbread
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import anyboard
from anyboard import SummaryWriter, WriteError

SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- strategies -------------------------------------------------------------------------------

_DTYPES = [np.bool_, np.int64, np.float16, np.float32, np.float64, np.complex128, object, np.uint8]


def _elements(dtype: Any) -> st.SearchStrategy[Any]:
    if dtype is object:
        return st.one_of(st.none(), st.text(max_size=3), st.floats(), st.integers(-5, 5))
    return None  # type: ignore[return-value]  # hypothesis picks every value, NaN/Inf/huge included


@st.composite
def arrays(draw, min_dims: int = 0, max_dims: int = 5, max_side: int = 4, dtypes=_DTYPES):
    dtype = draw(st.sampled_from(dtypes))
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=0, max_side=max_side))
    return draw(hnp.arrays(np.dtype(dtype), shape, elements=_elements(dtype)))


anything = st.one_of(
    arrays(),
    st.none(),
    st.text(max_size=5),
    st.integers(),
    st.floats(),
    st.complex_numbers(),
    st.lists(st.floats(), max_size=4),
    st.lists(st.lists(st.integers(-3, 3), max_size=3), max_size=3),
    st.dictionaries(st.text(max_size=2), st.floats(), max_size=2),
    st.binary(max_size=4),
)


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``good`` four times in five, else ``bad`` (so the payload checks are reached)."""
    return st.integers(0, 4).flatmap(lambda i: good if i else bad)


tags = mostly(
    st.one_of(
        st.text(max_size=8).map(lambda t: "bad" + t), st.sampled_from(["bad/x", "bad/../x", "bad\x00", "bad\n\t"])
    ),
    st.one_of(st.just("bad\ud800"), st.none(), st.integers(), st.binary(max_size=3), st.floats(), st.just(("bad",))),
)

steps = mostly(st.one_of(st.none(), st.integers(0, 100)), st.sampled_from([-1, 1 << 63, 2.5, "3", float("nan"), True]))


@st.composite
def images(draw, fmt: str):
    """A plausible image batch for ``fmt`` (any dtype, NaN/Inf/huge values), sometimes with a wrong size."""
    sizes = {"N": draw(st.integers(0, 3)), "C": draw(st.sampled_from([1, 3, 4, 2, 0])), "H": draw(st.integers(0, 5))}
    sizes["W"], sizes["T"] = draw(st.integers(0, 5)), draw(st.integers(0, 3))
    shape = tuple(sizes.get(ch, 2) for ch in fmt)
    dtype = draw(st.sampled_from([np.uint8, np.float32, np.float64, np.float16, np.int64, np.bool_]))
    return draw(hnp.arrays(dtype, shape))


# -- one call per method ----------------------------------------------------------------------

Call = Callable[[SummaryWriter], Any]


def _scalar(d, tag) -> Call:
    value = d.draw(mostly(st.one_of(st.floats(), st.integers(), arrays(max_dims=2, max_side=1)), anything))
    step = d.draw(steps)
    return lambda w: w.add_scalar(tag, value, step)


def _scalars(d, tag) -> Call:
    mapping = d.draw(
        st.one_of(
            mostly(
                st.dictionaries(st.text(max_size=3), st.one_of(st.floats(), st.integers()), max_size=3),
                st.dictionaries(st.one_of(st.text(max_size=3), st.integers()), anything, max_size=3),
            ),
            anything,
        )
    )
    step = d.draw(steps)

    def call(w):
        w.add_scalars(tag, mapping, step)

    call.may_write_nothing = isinstance(mapping, dict) and not mapping  # type: ignore[attr-defined]
    return call


_BINS = st.sampled_from(
    ["tensorflow", "auto", "fd", 1, 3, 0, -1, "bogus", [0.0, 1.0], [1.0, 0.0], [0.0, math.nan], [], None]
)


def _histogram(d, tag) -> Call:
    values = d.draw(mostly(arrays(dtypes=[np.bool_, np.int64, np.float16, np.float32, np.float64]), anything))
    bins = d.draw(mostly(st.sampled_from(["tensorflow", "auto", 3, [0.0, 1.0]]), _BINS))
    max_bins = d.draw(mostly(st.sampled_from([None, 1, 5]), st.sampled_from([0, -2, 2.5])))
    return lambda w: w.add_histogram(tag, values, d.draw(steps), bins=bins, max_bins=max_bins)


def _histogram_raw(d, tag) -> Call:
    stats = [d.draw(st.one_of(st.floats(), st.integers(-3, 100), st.none(), st.text(max_size=2))) for _ in range(5)]
    limits = d.draw(st.one_of(arrays(max_dims=2), st.lists(st.floats(), max_size=5)))
    counts = d.draw(st.one_of(arrays(max_dims=2), st.lists(st.floats(), max_size=5)))
    return lambda w: w.add_histogram_raw(tag, *stats, limits, counts, d.draw(steps))


def _text(d, tag) -> Call:
    text = d.draw(
        st.one_of(
            st.text(max_size=10),
            st.lists(st.text(max_size=3), max_size=3),
            st.lists(st.lists(st.text(max_size=3), min_size=2, max_size=2), max_size=3),
            anything,
        )
    )
    return lambda w: w.add_text(tag, text, d.draw(steps))


def _tensor(d, tag) -> Call:
    value = d.draw(mostly(arrays(), anything))
    return lambda w: w.add_tensor(tag, value, d.draw(steps))


_IMG = arrays(min_dims=1, max_dims=5, max_side=5)


def _image(d, tag) -> Call:
    fmt = d.draw(mostly(st.sampled_from(["CHW", "HWC", "HW"]), st.sampled_from(["NCHW", "XYZ", "", "chw", 3, "CCW"])))
    img = d.draw(mostly(images(fmt if isinstance(fmt, str) and set(fmt) <= set("NCHW") else "CHW"), _IMG))
    return lambda w: w.add_image(tag, img, d.draw(steps), dataformats=fmt)


def _images(d, tag) -> Call:
    fmt = d.draw(mostly(st.sampled_from(["NCHW", "NHWC"]), st.sampled_from(["CHW", "HWC", "NWHC", "bad", None])))
    img = d.draw(mostly(images(fmt if isinstance(fmt, str) and set(fmt) <= set("NCHW") else "NCHW"), _IMG))
    return lambda w: w.add_images(tag, img, d.draw(steps), dataformats=fmt)


def _image_with_boxes(d, tag) -> Call:
    img = d.draw(mostly(images("CHW"), _IMG))
    boxes = d.draw(mostly(hnp.arrays(np.float64, st.tuples(st.integers(0, 3), st.just(4))), anything))
    labels = d.draw(st.one_of(st.none(), st.lists(st.one_of(st.text(max_size=3), st.integers()), max_size=3)))
    return lambda w: w.add_image_with_boxes(tag, img, boxes, d.draw(steps), labels=labels)


def _audio(d, tag) -> Call:
    good = hnp.arrays(
        st.sampled_from([np.float32, np.float64, np.int64]), hnp.array_shapes(max_dims=2, min_side=0, max_side=20)
    )
    snd = d.draw(mostly(good, st.one_of(arrays(max_dims=3, max_side=6), anything)))
    rate = d.draw(
        mostly(st.sampled_from([44100, 8000, 16000.0]), st.sampled_from([0, -1, 1.5, 1e12, "x", None, math.nan]))
    )
    return lambda w: w.add_audio(tag, snd, d.draw(steps), sample_rate=rate)


def _pr_curve(d, tag) -> Call:
    size = d.draw(st.integers(0, 8))
    labels = d.draw(mostly(hnp.arrays(np.bool_, size), st.one_of(arrays(max_dims=2), anything)))
    preds = d.draw(
        mostly(hnp.arrays(st.sampled_from([np.float32, np.float64]), size), st.one_of(arrays(max_dims=2), anything))
    )
    n = d.draw(mostly(st.sampled_from([127, 2, 5]), st.sampled_from([1, 0, -1, 3.5, 10**6])))
    weights = d.draw(st.one_of(st.none(), arrays(max_dims=2)))
    return lambda w: w.add_pr_curve(tag, labels, preds, d.draw(steps), num_thresholds=n, weights=weights)


def _pr_curve_raw(d, tag) -> Call:
    size = d.draw(st.integers(0, 5))
    six = [
        d.draw(mostly(hnp.arrays(np.float64, size), st.one_of(arrays(max_dims=2), st.lists(st.floats(), max_size=4))))
        for _ in range(6)
    ]
    n = d.draw(st.sampled_from([127, 4, 1, 0, -1]))
    return lambda w: w.add_pr_curve_raw(tag, *six, d.draw(steps), num_thresholds=n)


def _mesh(d, tag) -> Call:
    n = d.draw(st.integers(0, 4))
    v = d.draw(
        mostly(
            hnp.arrays(st.sampled_from([np.float32, np.float64]), (1, n, 3)), st.one_of(arrays(max_dims=4), anything)
        )
    )
    c = d.draw(mostly(st.one_of(st.none(), hnp.arrays(np.uint8, (1, n, 3))), arrays(max_dims=4)))
    f = d.draw(
        mostly(
            st.one_of(
                st.none(),
                hnp.arrays(np.int64, (1, d.draw(st.integers(0, 3)), 3), elements=st.integers(0, max(n - 1, 0))),
            ),
            arrays(max_dims=4),
        )
    )
    cfg = d.draw(st.sampled_from([None, {}, {"camera": {"fov": 75}}, "x", {"camera": object()}]))
    return lambda w: w.add_mesh(tag, v, colors=c, faces=f, config_dict=cfg, global_step=d.draw(steps))


def _video(d, tag) -> Call:
    fmt = d.draw(mostly(st.sampled_from(["NTCHW", "NTHWC"]), st.sampled_from(["TCHW", "bad", "NTCHWX"])))
    vid = d.draw(
        mostly(images(fmt if set(fmt) <= set("NTCHW") else "NTCHW"), arrays(min_dims=1, max_dims=6, max_side=4))
    )
    fps = d.draw(mostly(st.sampled_from([4, 30, 0.5]), st.sampled_from([0, -1, math.nan, "x"])))
    return lambda w: w.add_video(tag, vid, d.draw(steps), fps=fps, dataformats=fmt)


METHODS: dict[str, Callable[[Any, Any], Call]] = {
    "add_scalar": _scalar,
    "add_scalars": _scalars,
    "add_histogram": _histogram,
    "add_histogram_raw": _histogram_raw,
    "add_text": _text,
    "add_tensor": _tensor,
    "add_image": _image,
    "add_images": _images,
    "add_image_with_boxes": _image_with_boxes,
    "add_audio": _audio,
    "add_pr_curve": _pr_curve,
    "add_pr_curve_raw": _pr_curve_raw,
    "add_mesh": _mesh,
    "add_video": _video,
}

# -- checks ----------------------------------------------------------------------------------


def _runs(logdir: str) -> list[str]:
    out = []
    for base, _, files in os.walk(logdir):
        if any("tfevents" in f for f in files):
            out.append(base)
    return sorted(out)


def _values(logdir: str) -> list[tuple[str, int, Any]]:
    """(run, step, Summary.Value) for every value in every run (anyboard's reader: raises on corruption)."""
    out = []
    for run in _runs(logdir):
        for ev in anyboard.iter_run_events(run):
            for value in ev.summary.value:
                out.append((run, ev.step, value))
    return out


def _python_tags(run: str) -> set[str]:
    acc = tbread.python_accumulator(run)
    found: set[str] = set()
    for tag_list in acc.Tags().values():
        if isinstance(tag_list, list | tuple):
            found.update(tag_list)
    return found


def _matches(value_tag: str, tag: str) -> bool:
    return value_tag == tag or value_tag.startswith((tag + "_", tag + "/"))


# Hypothesis runs many examples per test, so function-scoped tmp_path cannot be used;
# every example's log directory goes under one root that is removed when the process exits.
_SCRATCH = tempfile.TemporaryDirectory(prefix="anyboard-fuzz-")


def _exercise(call: Call, tag: Any, method: str) -> tuple[str, bool, list[tuple[str, int, Any]]]:
    logdir = tempfile.mkdtemp(prefix="bad_input_", dir=_SCRATCH.name)
    w = SummaryWriter(logdir, flush_secs=1000, max_queue=1000)
    w.add_scalar("sentinel", 1.0, 1)
    w.flush()
    try:
        # Valid but lossy input (audio outside [-1, 1], a scalar beyond float32) is written with a
        # warning, which must name the tag like the errors do; the suite's "error" filter would
        # otherwise turn it into an exception here.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call(w)
        accepted = True
        for warning in caught:
            assert repr(tag) in str(warning.message), f"{method}: warning does not name tag {tag!r}: {warning}"
    except (ValueError, TypeError) as exc:
        accepted = False
        assert repr(tag) in str(exc), f"{method}: error does not name tag {tag!r}: {exc}"
        if os.environ.get("ANYBOARD_FUZZ_REASONS"):
            event(f"{method} rejected: {str(exc).replace(repr(tag), 'TAG')[:70]}")
    w.add_scalar("sentinel", 2.0, 2)
    try:
        w.flush()  # an accepted call must not fail later, in the background
    except (WriteError, ValueError, TypeError) as exc:
        w.close()
        pytest.fail(f"{method}({tag!r}, ...) was accepted but failed in the background: {exc!r}")
    w.close()
    values = _values(logdir)
    sentinel = [s for run, s, v in values if v.tag == "sentinel" and run == logdir]
    assert sentinel == [1, 2], f"{method}: earlier or later data lost: {sentinel}"
    assert [s for _, s, _ in tbread.python_scalars(logdir, "sentinel")] == [1, 2]
    if not accepted:
        written = [v.tag for _, _, v in values if v.tag != "sentinel"]
        assert not written, f"{method} raised but wrote {written}"
    return logdir, accepted, values


@pytest.mark.parametrize("method", list(METHODS))
@SETTINGS
@given(data=st.data())
def test_every_add_method_writes_readably_or_raises_naming_the_tag(method, data):
    tag = data.draw(tags, label="tag")
    call = METHODS[method](data, tag)
    _logdir, accepted, values = _exercise(call, tag, method)
    event(f"{method}: {'accepted' if accepted else 'rejected'}")
    if not accepted:
        return
    assert isinstance(tag, str)
    mine = [(run, v) for run, _, v in values if _matches(v.tag, tag)]
    if getattr(call, "may_write_nothing", False) and not mine:
        return
    assert mine, f"{method}({tag!r}) was accepted but wrote nothing under that tag"
    seen = set()
    for run in {run for run, _ in mine}:
        seen |= _python_tags(run)
    assert any(_matches(t, tag) for t in seen), f"TensorBoard's Python loader lost {tag!r}: {sorted(seen)}"


def test_covers_the_methods_that_exist():
    """Every add_* data method of SummaryWriter is fuzzed (a new one must be added to METHODS), and each fuzzed one exists."""
    others = {
        "add_event",
        "add_summary",
        "add_graph",
        "add_onnx_graph",
        "add_openvino_graph",
        "add_figure",
        "add_embedding",
        "add_hparams",
    }
    others |= {m for m in dir(SummaryWriter) if m.startswith("add_custom_scalars")}
    data_methods = {m for m in dir(SummaryWriter) if m.startswith("add_")} - others
    assert data_methods <= set(METHODS), sorted(data_methods - set(METHODS))
    missing = sorted(m for m in METHODS if not callable(getattr(SummaryWriter, m, None)))
    assert not missing, f"fuzzed methods SummaryWriter no longer has (renamed?): {missing}"


# -- histograms: the documented NaN/Inf rule ------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    values=hnp.arrays(
        st.sampled_from([np.float16, np.float32, np.float64]),
        hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6),
    ),
    bins=st.sampled_from(["tensorflow", "auto", 4]),
)
def test_histogram_excludes_non_finite_values(values, bins):
    _logdir, accepted, found = _exercise(lambda w: w.add_histogram("h", values, 3, bins=bins), "h", "add_histogram")
    if values.size == 0:  # both peers raise too: nothing to bin is a mistake
        assert not accepted
        return
    assert accepted
    (value,) = [v for _, _, v in found if v.tag == "h"]
    assert value.WhichOneof("value") == "histo"  # the default "compat" format: the peers' HistogramProto
    rows = tbread.histogram_rows(value)
    wide = values.astype(np.float64)
    finite = wide[np.isfinite(wide)]
    assert np.isfinite(rows).all()
    assert rows[:, 2].sum() == finite.size == value.histo.num
    if finite.size == 0:
        assert rows.shape == (0, 3)
    else:
        assert (value.histo.min, value.histo.max) == (finite.min(), finite.max())


# -- hparams and embeddings (no tag argument) ------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    hparams=st.dictionaries(
        st.one_of(st.text(max_size=4), st.integers(), st.sampled_from(["\ud800", "a/b", ""])),
        st.one_of(st.floats(), st.integers(), st.booleans(), st.text(max_size=3), st.none(), arrays(max_dims=1)),
        max_size=3,
    ),
    metrics=st.dictionaries(
        st.one_of(st.text(max_size=4), st.integers(), st.sampled_from(["\ud800"])),
        st.one_of(st.floats(), st.text(max_size=2), st.none(), arrays(max_dims=1)),
        max_size=2,
    ),
)
def test_add_hparams_bad_input_is_rejected_on_the_caller(hparams, metrics):
    logdir = tempfile.mkdtemp(prefix="bad_hparams_", dir=_SCRATCH.name)
    w = SummaryWriter(logdir, flush_secs=1000)
    w.add_scalar("sentinel", 1.0, 1)
    try:
        with warnings.catch_warnings(record=True):  # a value tensorboardX skips is skipped with a UserWarning
            warnings.simplefilter("always", UserWarning)
            w.add_hparams(hparams, metrics, run_name="r")
    except (ValueError, TypeError) as exc:
        assert str(exc)
    w.add_scalar("sentinel", 2.0, 2)
    try:
        w.flush()
    except (WriteError, ValueError, TypeError) as exc:
        pytest.fail(f"add_hparams({hparams!r}, {metrics!r}) was accepted but failed in the background: {exc!r}")
    finally:
        w.close()
    assert [s for _, s, v in _values(logdir) if v.tag == "sentinel"] == [1, 2]


def test_add_hparams_lone_surrogate_name_is_a_value_error_on_the_caller(logdir):
    """A name that is not valid Unicode must fail at the call, not in the background at close()."""
    w = SummaryWriter(logdir)
    with pytest.raises(ValueError, match="ud800"):
        w.add_hparams({"\ud800": 0.1}, {"m": 1.0})
    w.close()  # nothing left to fail


@pytest.mark.parametrize("method", list(METHODS))
def test_unhashable_tag_is_a_type_error_naming_it(logdir, method):
    """A list as a tag: TypeError naming it (not Python's bare 'unhashable type')."""
    w = SummaryWriter(logdir)
    tag = ["bad"]
    args = {
        "add_scalars": ({"a": 1.0},),
        "add_histogram_raw": (0, 1, 1, 1, 1, [1.0], [1.0]),
        "add_text": ("x",),
        "add_image": (np.zeros((3, 2, 2)),),
        "add_images": (np.zeros((1, 3, 2, 2)),),
        "add_image_with_boxes": (np.zeros((3, 2, 2)), np.zeros((1, 4))),
        "add_audio": (np.zeros(10),),
        "add_pr_curve": (np.array([0, 1]), np.array([0.2, 0.8])),
        "add_pr_curve_raw": tuple(np.ones(3) for _ in range(6)),
        "add_mesh": (np.zeros((1, 3, 3)),),
        "add_video": (np.zeros((1, 2, 3, 4, 4)),),
    }.get(method, (np.ones(3),))
    try:
        with pytest.raises(TypeError) as info:
            getattr(w, method)(tag, *args)
        assert repr(tag) in str(info.value)
    finally:
        w.close()


def test_unencodable_tags_raise_value_error_naming_the_tag(logdir):
    w = SummaryWriter(logdir)
    with pytest.raises(ValueError, match=r"\\ud800"):
        w.add_scalar("x\ud800", 1.0)
    with pytest.raises(TypeError, match="None"):
        w.add_scalar(None, 1.0)  # type: ignore[arg-type]
    w.close()


def test_add_scalar_malformed_pairs_raise_naming_the_tag(logdir):
    """MXBoard's ``(name, value)`` pairs form: a malformed list is a clear error, not dict()'s."""
    w = SummaryWriter(logdir)
    try:
        for bad in ([()], [("a",)], [("a", 1.0, 2)], [[1, 2, 3]]):
            with pytest.raises((ValueError, TypeError)) as info:
                w.add_scalar("bad", bad, 1)
            assert "'bad'" in str(info.value), f"{bad!r}: {info.value}"
    finally:
        w.close()


_RAW = {"min": 0.0, "max": 1.0, "num": 2.0, "sum": 1.0, "sum_squares": 1.0}
_DBL_MAX = float(np.finfo(np.float64).max)
_BEYOND = np.longdouble("1e400") if np.finfo(np.longdouble).max > _DBL_MAX else None


def _raw(limits=(0.5, 1.0), counts=(1.0, 1.0), **stats):
    return lambda w: w.add_histogram_raw("bad", *{**_RAW, **stats}.values(), list(limits), list(counts), 0)


_COMPLEX = np.complex128(1 + 2j)


@pytest.mark.parametrize(
    "call",
    [
        _raw(min=_COMPLEX),
        _raw(sum=_COMPLEX),
        _raw(limits=np.array([0.5, 1.0], np.complex128)),
        _raw(counts=np.array([1.0, 1.0], np.complex128)),
    ],
    ids=["complex_min", "complex_sum", "complex_bucket_limits", "complex_bucket_counts"],
)
def test_histogram_raw_refuses_complex_numbers_naming_the_tag(call):
    # Found by the fuzz test above: NumPy cast complex counts to float with a ComplexWarning that
    # named no tag, and wrote the real part.
    _logdir, accepted, _found = _exercise(call, "bad", "add_histogram_raw")
    assert not accepted


@pytest.mark.parametrize(
    "call",
    [
        _raw(limits=(math.nan, 1.0)),
        _raw(limits=(0.5, math.nan)),
        _raw(counts=(-1.0, 3.0)),
        _raw(counts=(math.nan, 1.0)),
        _raw(counts=(math.inf, 1.0)),
    ],
    ids=["nan_first_limit", "nan_last_limit", "negative_count", "nan_count", "inf_count"],
)
def test_histogram_raw_refuses_buckets_the_two_loaders_read_differently(call):
    # A NaN limit passed the non-decreasing check (NaN compares false); a negative count was not
    # checked. TensorBoard's legacy EventAccumulator then showed such buckets and its plugin
    # loader dropped them or passed NaN on.
    _logdir, accepted, _found = _exercise(call, "bad", "add_histogram_raw")
    assert not accepted


@pytest.mark.parametrize(
    ("call", "accepted"),
    [
        (_raw(min=10**400), False),  # an int beyond float64: was a bare OverflowError naming no tag
        (_raw(counts=(10**400, 1)), False),
        (_raw(limits=(-_DBL_MAX, _DBL_MAX)), True),  # TensorFlow's own outer limits: NumPy warned (np.diff)
        (_raw(limits=(math.inf, math.inf)), True),
        (_raw(counts=("1", "2")), False),  # strings were cast to numbers silently
        (lambda w: w.add_histogram("bad", np.arange(5.0), 0, bins=[0.0, math.inf, math.inf]), False),
        (lambda w: w.add_histogram("bad", np.arange(5.0), 0, bins=[-_DBL_MAX, _DBL_MAX]), True),
        (lambda w: w.add_tensor("bad", np.array([1 + 2j], np.complex64), 0), True),
    ]
    + (
        [
            (_raw(min=_BEYOND), False),  # was written as inf, where add_scalar refuses it
            (_raw(limits=np.array([0.5, _BEYOND])), False),  # NumPy warned on the cast
            (lambda w: w.add_histogram("bad", np.arange(5.0), 0, bins=np.array([0.0, _BEYOND])), False),
            (lambda w: w.add_tensor("bad", np.array([1.5], np.longdouble), 0), False),  # failed at close()
        ]
        if _BEYOND is not None
        else []
    ),
)
def test_numbers_at_and_beyond_float64_are_written_or_refused_naming_the_tag(call, accepted):
    # Found by reviewing the bad-input fuzz test's findings: each was a warning or an error that
    # named no tag, or a failure on the writer thread after the call had returned.
    _logdir, was_accepted, _found = _exercise(call, "bad", "add_histogram_raw")
    assert was_accepted == accepted


HUGE_VALUES = [
    [1.79769134e308],  # found by the fuzz test above: NumPy's edges overflowed, no bucket was written
    [-1.79769134e308, -1.79769134e308],
    [-1.7e308, 1.7e308],  # the range itself is beyond float64
    [1e308, 1e308, 1.5e308],  # a rule's own arithmetic overflows (doane, scott)
    [-1.79e308, 0.0, 3.0, 1.79e308],
    [1.7e308, 1.7e308, 1.7e308],  # a constant: scott/doane overflow, then a padded range
    [0.0, 0.0, 0.0, 1.0, 5e-324],  # fd asks for 1 / 5e-324 bins: Sturges' count instead
    [-1.7e308, 1.7e308, *(1e295 * i for i in range(-15, 15))],  # fd asked for 25 TiB of bins
    [-1.0, 1.0, *(1e-13 * i for i in range(30))],  # so does fd here, with no value near the limit
]


@pytest.mark.parametrize("values", HUGE_VALUES, ids=lambda v: f"{len(v)}@{v[0]:.3g}")
@pytest.mark.parametrize("bins", [1, 5, "auto", "fd", "doane", "scott", "rice", "sturges", "sqrt", "default"])
def test_histogram_of_values_near_the_float64_limit_is_written_whole(values, bins):
    """Every value lands in a finite bucket whatever NumPy's edge arithmetic does at ±1.8e308."""
    from readref import tb_values
    from tensorboard.backend.event_processing import event_accumulator as ea

    array = np.array(values)
    logdir, accepted, found = _exercise(lambda w: w.add_histogram("h", array, 3, bins=bins), "h", "add_histogram")
    assert accepted
    (value,) = [v for _, _, v in found if v.tag == "h"]
    rows = tbread.histogram_rows(value)
    assert np.isfinite(rows).all() and rows[:, 2].sum() == array.size
    assert rows[0, 0] <= array.min() and array.max() <= rows[-1, 1]
    assert np.all(rows[:, 0] < rows[:, 1]) and len(rows) <= 1000
    # as TensorBoard's histogram dashboard (plugin loader) and the legacy accumulator (tbparse) read
    # it: every value counted (the plugin loader holds edges in float32: beyond it they show as ±inf)
    ((_run, _tag, _step, _wall, shown),) = [v for v in tb_values(logdir, "histograms") if v[1] == "h"]
    assert shown.shape[1] == 3 and shown[:, 2].sum() == array.size
    legacy = ea.EventAccumulator(logdir, size_guidance={ea.HISTOGRAMS: 0})
    with warnings.catch_warnings():  # its percentile interpolation overflows at ±1.8e308 (for any writer)
        warnings.simplefilter("ignore", RuntimeWarning)
        legacy.Reload()
    (event,) = legacy.Histograms("h")
    assert event.histogram_value.num == array.size and sum(event.histogram_value.bucket) == array.size


def test_numpy_keeps_its_result_where_a_rule_overflows_harmlessly():
    # doane's spread overflows at this scale, but NumPy's edges are finite and hold every value
    values = np.array([0.0, 1e160, 3e160])
    with np.errstate(all="ignore"):
        counts, edges = np.histogram(values, bins="doane")
    _logdir, accepted, found = _exercise(lambda w: w.add_histogram("h", values, 3, bins="doane"), "h", "add_histogram")
    assert accepted
    (value,) = [v for _, _, v in found if v.tag == "h"]
    rows = tbread.histogram_rows(value)
    np.testing.assert_array_equal(rows, np.stack([edges[:-1], edges[1:], counts], axis=1))


@pytest.mark.parametrize("bins", [4, "auto", "fd"])
def test_histogram_of_a_huge_constant_with_numeric_bins_is_written(bins):
    """A degenerate range NumPy cannot split must not fail later in the background."""
    values = np.array([2.2517998e15, 2.2517998e15], np.float32)
    _logdir, accepted, found = _exercise(lambda w: w.add_histogram("h", values, 3, bins=bins), "h", "add_histogram")
    assert accepted
    (value,) = [v for _, _, v in found if v.tag == "h"]
    rows = tbread.histogram_rows(value)
    assert rows[:, 2].sum() == 2 and np.isfinite(rows).all()
