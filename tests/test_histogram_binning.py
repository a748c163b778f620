"""The fast TensorFlow-layout binning equals ``np.histogram`` exactly."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anyboard.summary.histogram import TF_EDGES, _tf_bucket_counts, bucket_rows

h = importlib.import_module("anyboard.summary.histogram")
LO, HI = float(TF_EDGES[0]), float(TF_EDGES[-1])


def reference(x: np.ndarray) -> np.ndarray:
    """What the peers compute: np.histogram over a float64 copy."""
    return np.histogram(np.asarray(x).astype(np.float64), TF_EDGES)[0]


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
def test_exact_at_edges_and_their_neighbours(dtype: type[np.floating]) -> None:
    x = edge_neighbourhood(dtype)
    assert x.size > 1000
    np.testing.assert_array_equal(_tf_bucket_counts(x), reference(x))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exact_on_wide_random_magnitudes(dtype: type[np.floating]) -> None:
    rng = np.random.default_rng(7)
    scale = 10.0 ** rng.uniform(-45, 22, 200_000)
    x = in_range((rng.standard_normal(200_000) * scale).astype(dtype))
    np.testing.assert_array_equal(_tf_bucket_counts(x), reference(x))


def test_exact_for_tiny_subnormal_zero_and_extremes() -> None:
    for dtype in (np.float32, np.float64):
        info = np.finfo(dtype)
        x = np.array(
            [0.0, -0.0, info.smallest_subnormal, -info.smallest_subnormal, info.tiny, -info.tiny, 1e-12, -1e-12, LO, HI],
            dtype=np.float64,
        ).astype(dtype)
        x = in_range(x)
        np.testing.assert_array_equal(_tf_bucket_counts(x), reference(x))


def test_the_outermost_edge_counts_in_the_last_bucket() -> None:
    x = np.array([HI, HI, LO], dtype=np.float64)
    counts = _tf_bucket_counts(x)
    assert counts[-1] == 2 and counts[0] == 1
    np.testing.assert_array_equal(counts, reference(x))


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64, np.bool_])
def test_exact_for_integers_and_bool(dtype: type[np.generic]) -> None:
    info = np.iinfo(dtype) if dtype is not np.bool_ else None
    rng = np.random.default_rng(3)
    if info is None:
        x = rng.integers(0, 2, 5000).astype(np.bool_)
    else:
        x = rng.integers(info.min, info.max, 5000, dtype=dtype, endpoint=True)
        x = np.concatenate([x, np.array([info.min, info.max, 0, 1], dtype=dtype)])
    rows = bucket_rows(x)
    assert rows[:, 2].sum() == x.size
    np.testing.assert_array_equal(_tf_bucket_counts(x), reference(x))


def test_non_native_byte_order_and_strided_input() -> None:
    x = np.random.default_rng(5).standard_normal(10_000)
    for arr in (x.astype(">f8"), x.astype(">f4"), x[::3], x.astype(np.float32)[::2]):
        np.testing.assert_array_equal(_tf_bucket_counts(arr), reference(arr))


def test_more_than_one_chunk() -> None:
    x = np.random.default_rng(9).standard_normal(3 * h._CHUNK + 17).astype(np.float32)
    np.testing.assert_array_equal(_tf_bucket_counts(x), reference(x))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_cell_holds_at_most_one_edge(dtype: type[np.floating]) -> None:
    layout = h._layout(np.dtype(dtype))
    assert np.all(np.diff(layout.edges) > 0)
    assert np.all(layout.edges.astype(np.float64) >= TF_EDGES)
    finite_edges = layout.cell_edge[np.isfinite(layout.cell_edge)]
    # Each edge lands in exactly one cell, except 0, which is in the +0 and the -0 cell.
    assert finite_edges.size == len(TF_EDGES) + 1
    np.testing.assert_array_equal(np.unique(finite_edges), layout.edges)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False), min_size=1, max_size=200))
def test_hypothesis_float32(values: list[float]) -> None:
    x = in_range(np.array(values, dtype=np.float32))
    np.testing.assert_array_equal(_tf_bucket_counts(x), reference(x))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=200))
def test_hypothesis_float64(values: list[float]) -> None:
    x = in_range(np.array(values, dtype=np.float64))
    np.testing.assert_array_equal(_tf_bucket_counts(x), reference(x))


def test_rows_match_reference_and_skip_empty_ends() -> None:
    x = np.random.default_rng(2).standard_normal(50_000).astype(np.float32)
    rows = bucket_rows(x)
    ref = reference(x)
    nz = np.flatnonzero(ref)
    np.testing.assert_array_equal(rows[:, 2], ref[nz[0] : nz[-1] + 1])
    np.testing.assert_array_equal(rows[:, 0], TF_EDGES[nz[0] : nz[-1] + 1])
    np.testing.assert_array_equal(rows[:, 1], TF_EDGES[nz[0] + 1 : nz[-1] + 2])


def test_rows_exclude_non_finite_and_count_out_of_range() -> None:
    x = np.array([np.nan, np.inf, -np.inf, 1.0, 2.0, 3e20, -5e20, 4e20], dtype=np.float64)
    rows = bucket_rows(x)
    assert rows[:, 2].sum() == 5  # NaN and ±inf are excluded
    assert rows[0].tolist() == [-5e20, LO, 1.0]
    assert rows[-1].tolist() == [HI, 4e20, 2.0]
    inner = rows[1:-1]
    np.testing.assert_array_equal(inner[:, 2].sum(), 2)


def test_rows_of_all_non_finite_or_empty_are_empty() -> None:
    assert bucket_rows(np.array([np.nan, np.inf], np.float32)).shape == (0, 3)
    assert bucket_rows(np.array([], np.float32)).shape == (0, 3)


def test_float32_out_of_range_is_compared_exactly() -> None:
    # float32(HI) rounds above HI: it must be reported beyond the layout, not in it.
    above = np.float32(HI)
    x = np.array([above, 1.0], np.float32)
    rows = bucket_rows(x)
    expected_inside = reference(in_range(x)).sum()
    assert rows[:, 2].sum() == 2
    if float(above) > HI:
        assert rows[-1, 0] == HI and rows[-1, 2] == 1
        assert expected_inside == 1
