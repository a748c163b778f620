"""The fast TensorFlow-layout binning equals ``np.histogram`` exactly.

Every counting test runs twice: through the compiled helper (``_native.c``) and
through the NumPy fallback used where it is not built. ``ANYBOARD_REQUIRE_NATIVE=1`` (set by
the test scripts) turns a missing compiled helper into a failure instead of a skip.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable

import numpy as np
import pytest
from histref import HI, LO, reference, reference_slots
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anyboard.summary.histogram import TF_EDGES, bucket_rows

h = importlib.import_module("anyboard.summary.histogram")


@pytest.fixture
def slots(backend: str) -> Callable[[np.ndarray], np.ndarray]:
    """The production slot counter under ``backend``."""

    def count(x: np.ndarray) -> np.ndarray:
        return h._tf_slots(h._as_binnable(np.asarray(x).reshape(-1)))

    return count


def in_range(x: np.ndarray) -> np.ndarray:
    wide = x.astype(np.float64)
    return x[np.isfinite(wide) & (wide >= LO) & (wide <= HI)]


def edge_neighbourhood(dtype: type[np.floating]) -> np.ndarray:
    """Every edge, its negation, and the floats right next to both, in ``dtype``."""
    edges = np.concatenate([TF_EDGES, -TF_EDGES])
    near = [edges, np.nextafter(edges, np.inf), np.nextafter(edges, -np.inf)]
    with np.errstate(over="ignore"):
        cast = edges.astype(dtype)
    near += [cast, np.nextafter(cast, dtype(np.inf)), np.nextafter(cast, dtype(-np.inf))]
    with np.errstate(over="ignore"):
        out = np.concatenate([a.astype(dtype) for a in near] + [np.array([0.0, -0.0], dtype)])
    return in_range(out)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_exact_at_edges_and_their_neighbours(
    dtype: type[np.floating], slots: Callable[[np.ndarray], np.ndarray]
) -> None:
    x = edge_neighbourhood(dtype)
    assert x.size > 1000
    np.testing.assert_array_equal(slots(x), reference_slots(x))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exact_on_wide_random_magnitudes(dtype: type[np.floating], slots: Callable[[np.ndarray], np.ndarray]) -> None:
    rng = np.random.default_rng(7)
    scale = 10.0 ** rng.uniform(-45, 22, 200_000)
    x = in_range((rng.standard_normal(200_000) * scale).astype(dtype))
    np.testing.assert_array_equal(slots(x), reference_slots(x))


def test_exact_for_tiny_subnormal_zero_and_extremes(slots: Callable[[np.ndarray], np.ndarray]) -> None:
    for dtype in (np.float32, np.float64):
        info = np.finfo(dtype)
        x = np.array(
            [
                0.0,
                -0.0,
                info.smallest_subnormal,
                -info.smallest_subnormal,
                info.tiny,
                -info.tiny,
                1e-12,
                -1e-12,
                LO,
                HI,
            ],
            dtype=np.float64,
        ).astype(dtype)
        x = in_range(x)
        np.testing.assert_array_equal(slots(x), reference_slots(x))


def test_the_outermost_edge_counts_in_the_last_bucket(slots: Callable[[np.ndarray], np.ndarray]) -> None:
    x = np.array([HI, HI, LO], dtype=np.float64)
    counts = slots(x)
    assert counts[-3] == 2 and counts[1] == 1 and counts[0] == counts[-2] == 0
    np.testing.assert_array_equal(counts[1:-2], reference(x))


@pytest.mark.parametrize(
    "dtype", [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64, np.bool_]
)
def test_exact_for_integers_and_bool(dtype: type[np.generic], slots: Callable[[np.ndarray], np.ndarray]) -> None:
    info = np.iinfo(dtype) if dtype is not np.bool_ else None
    rng = np.random.default_rng(3)
    if info is None:
        x = rng.integers(0, 2, 5000).astype(np.bool_)
    else:
        x = rng.integers(info.min, info.max, 5000, dtype=dtype, endpoint=True)
        x = np.concatenate([x, np.array([info.min, info.max, 0, 1], dtype=dtype)])
    rows = bucket_rows(x)
    assert rows[:, 2].sum() == x.size
    np.testing.assert_array_equal(slots(x), reference_slots(x))


def test_non_native_byte_order_strided_and_unaligned_input(slots: Callable[[np.ndarray], np.ndarray]) -> None:
    x = np.random.default_rng(5).standard_normal(10_000)
    unaligned = np.frombuffer(b"\0" + x.astype(np.float32).tobytes(), np.float32, offset=1)
    assert not unaligned.flags.aligned
    for arr in (x.astype(">f8"), x.astype(">f4"), x[::3], x.astype(np.float32)[::2], unaligned):
        np.testing.assert_array_equal(slots(arr), reference_slots(arr))


def test_more_than_one_chunk(slots: Callable[[np.ndarray], np.ndarray]) -> None:
    x = np.random.default_rng(9).standard_normal(3 * h._CHUNK + 17).astype(np.float32)
    np.testing.assert_array_equal(slots(x), reference_slots(x))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_cell_holds_at_most_one_edge(dtype: type[np.floating]) -> None:
    layout = h._layout(np.dtype(dtype))
    assert np.all(np.diff(layout.edges) > 0)
    assert np.all(layout.edges.astype(np.float64) >= TF_EDGES)
    finite_edges = layout.cell_edge[np.isfinite(layout.cell_edge)]
    # Each edge lands in exactly one cell, except 0, which is in the +0 and the -0 cell.
    assert finite_edges.size == len(TF_EDGES) + 1
    np.testing.assert_array_equal(np.unique(finite_edges), layout.edges)


# The fixture only picks the backend: nothing in it needs resetting between examples.
_FIXTURE_OK = [HealthCheck.function_scoped_fixture]


@settings(max_examples=200, deadline=None, suppress_health_check=_FIXTURE_OK)
@given(values=st.lists(st.floats(width=32), min_size=1, max_size=200))
def test_hypothesis_float32(values: list[float], slots: Callable[[np.ndarray], np.ndarray]) -> None:
    x = np.array(values, dtype=np.float32)
    np.testing.assert_array_equal(slots(x), reference_slots(x))


@settings(max_examples=200, deadline=None, suppress_health_check=_FIXTURE_OK)
@given(values=st.lists(st.floats(), min_size=1, max_size=200))
def test_hypothesis_float64(values: list[float], slots: Callable[[np.ndarray], np.ndarray]) -> None:
    x = np.array(values, dtype=np.float64)
    np.testing.assert_array_equal(slots(x), reference_slots(x))


def test_rows_match_reference_and_skip_empty_ends(backend: str) -> None:
    x = np.random.default_rng(2).standard_normal(50_000).astype(np.float32)
    rows = bucket_rows(x)
    ref = reference(x)
    nz = np.flatnonzero(ref)
    np.testing.assert_array_equal(rows[:, 2], ref[nz[0] : nz[-1] + 1])
    np.testing.assert_array_equal(rows[:, 0], TF_EDGES[nz[0] : nz[-1] + 1])
    np.testing.assert_array_equal(rows[:, 1], TF_EDGES[nz[0] + 1 : nz[-1] + 2])


def test_rows_exclude_non_finite_and_count_out_of_range(backend: str) -> None:
    x = np.array([np.nan, np.inf, -np.inf, 1.0, 2.0, 3e20, -5e20, 4e20], dtype=np.float64)
    rows = bucket_rows(x)
    assert rows[:, 2].sum() == 5  # NaN and ±inf are excluded
    assert rows[0].tolist() == [-5e20, LO, 1.0]
    assert rows[-1].tolist() == [HI, 4e20, 2.0]
    inner = rows[1:-1]
    np.testing.assert_array_equal(inner[:, 2].sum(), 2)


def test_rows_of_all_non_finite_or_empty_are_empty(backend: str) -> None:
    assert bucket_rows(np.array([np.nan, np.inf], np.float32)).shape == (0, 3)
    assert bucket_rows(np.array([], np.float32)).shape == (0, 3)


def test_float32_out_of_range_is_compared_exactly(backend: str) -> None:
    # float32(HI) rounds above HI: it must be reported beyond the layout, not in it.
    above = np.float32(HI)
    x = np.array([above, 1.0], np.float32)
    rows = bucket_rows(x)
    expected_inside = reference(in_range(x)).sum()
    assert rows[:, 2].sum() == 2
    if float(above) > HI:
        assert rows[-1, 0] == HI and rows[-1, 2] == 1
        assert expected_inside == 1


def test_wide_random_input_with_every_special_value(slots: Callable[[np.ndarray], np.ndarray]) -> None:
    rng = np.random.default_rng(11)
    for dtype in (np.float32, np.float64):
        with np.errstate(over="ignore"):
            x = (rng.standard_normal(100_000) * 10.0 ** rng.uniform(-50, 40, 100_000)).astype(dtype)
        x[::97] = np.nan
        x[::89] = np.inf
        x[::83] = -np.inf
        counts = slots(x)
        assert counts[0] > 0 and counts[-2] > 0 and counts[-1] > 0  # every outer slot is exercised
        np.testing.assert_array_equal(counts, reference_slots(x))


native = pytest.mark.skipif(h._native is None and not os.environ.get("ANYBOARD_REQUIRE_NATIVE"), reason="not compiled")


@native
def test_native_layout_counts_in_blocks_exactly() -> None:
    # A small block makes the uint32 lane counts flush into the int64 totals many times.
    x = np.random.default_rng(4).standard_normal(10_001).astype(np.float32)
    layout = h._native.Layout(np.unique(TF_EDGES.astype(np.float32)), 18, block=7)
    counts = np.zeros(layout.nslot, np.int64)
    layout.count(x, counts)
    layout.count(x, counts)  # counts accumulate
    compare = np.unique(TF_EDGES.astype(np.float32))
    expected = np.bincount(np.searchsorted(compare, x, "right"), minlength=layout.nslot)
    np.testing.assert_array_equal(counts, 2 * expected)


@native
def test_native_layout_is_exact_when_counting_in_two_threads_at_once() -> None:
    x = np.random.default_rng(8).standard_normal(2_000_000).astype(np.float32)
    layout = h._native_layout(np.dtype(np.float32))
    results = [np.zeros(layout.nslot, np.int64) for _ in range(2)]
    threads = [
        threading.Thread(target=layout.count, args=(part, out))
        for part, out in zip((x[::2].copy(), x[1::2].copy()), results)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    np.testing.assert_array_equal(results[0] + results[1], reference_slots(x))


@native
def test_native_layout_rejects_bad_input_with_clear_errors() -> None:
    edges = np.unique(TF_EDGES.astype(np.float32))
    with pytest.raises(ValueError, match="share a cell"):
        h._native.Layout(edges, 12)  # 8 cells per binade cannot separate edges 10 % apart
    with pytest.raises(ValueError, match="strictly increasing"):
        h._native.Layout(edges[::-1].copy(), 18)
    with pytest.raises(TypeError, match="float32 or float64"):
        h._native.Layout(np.arange(100, dtype=np.int32), 18)
    with pytest.raises(ValueError, match="cellbits"):
        h._native.Layout(edges, 40)
    with pytest.raises(ValueError, match="cellbits"):  # a cell would mix finite and non-finite values
        h._native.Layout(np.array([1.0, 2.0]), 11)
    with pytest.raises(ValueError, match="cellbits"):
        h._native.Layout(np.array([1.0, 2.0], np.float32), 8)
    layout = h._native.Layout(edges, 18)
    good = np.zeros(layout.nslot, np.int64)
    with pytest.raises(TypeError, match="float32"):
        layout.count(np.zeros(4, np.float64), good)
    with pytest.raises((TypeError, ValueError)):
        layout.count(np.zeros(8, np.float32)[::2], good)  # not contiguous
    with pytest.raises(ValueError, match="aligned"):
        layout.count(np.frombuffer(bytes(41), np.float32, offset=1), good)
    with pytest.raises(ValueError, match="int64"):
        layout.count(np.zeros(4, np.float32), np.zeros(layout.nslot - 1, np.int64))
    with pytest.raises((TypeError, ValueError)):
        layout.count(np.zeros(4, np.float32), np.zeros(layout.nslot, np.int64)[::-1].copy().view(np.float64))
    with pytest.raises((TypeError, BufferError)):
        layout.count(np.zeros(4, np.float32), bytes(8 * layout.nslot))  # read-only
    assert not good.any()


def _specials(n: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal(n).astype(np.float32)
    x[::101] = np.nan
    x[::103] = np.inf
    x[::107] = -3e38
    return x


@native
@pytest.mark.parametrize("n", [10_001, (1 << 17) + 3, 300_007])
def test_a_pass_shared_with_the_compiled_worker_is_exact(n: int) -> None:
    x = _specials(n, n % 7)
    np.testing.assert_array_equal(h._tf_slots(x, 2), reference_slots(x))
    np.testing.assert_array_equal(h._tf_slots(x, 2), h._tf_slots(x, 1))
