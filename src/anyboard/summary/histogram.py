"""Histogram summaries.

Stored as a ``[k, 3]`` float64 tensor of ``[left_edge, right_edge, count]``
rows with plugin ``histograms`` metadata: the v2 encoding, which TensorBoard's
Python and Rust loaders read identically (the legacy ``HistogramProto`` is
converted differently by each). :func:`histogram_raw` writes the legacy proto,
since its caller supplies exactly those fields.

Bucket layout with ``bins="tensorflow"`` (the default): the edges
tensorboardX and torch use, ``±1e-12 * 1.1**k`` built by repeated
multiplication up to 1e20, plus 0 (1549 edges, 1548 buckets, each
``[left, right)``, the last closed). Rows run from the first to the last
non-empty bucket. Values beyond the outermost edges (|x| > ~9.9e19), which
the peers silently drop, are counted in one extra row reaching to the data's
min or max. Any other ``bins`` goes to :func:`numpy.histogram` unchanged.

Non-finite values (NaN, ±Inf) are excluded from the buckets; an input with no
finite value is written as an empty ``[0, 3]`` histogram.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from anyboard.proto.summary_pb2 import HistogramProto, Summary
from anyboard.proto.tensor_pb2 import TensorProto
from anyboard.proto.types_pb2 import DT_DOUBLE
from anyboard.summary.metadata import metadata

PLUGIN_NAME = "histograms"


def _tensorflow_edges() -> np.ndarray:
    positive = []
    v = 1e-12
    while v < 1e20:
        positive.append(v)
        v *= 1.1
    pos = np.array(positive)
    return np.concatenate([-pos[::-1], [0.0], pos])


TF_EDGES = _tensorflow_edges()
_NPOS = (len(TF_EDGES) - 1) // 2  # 774 positive edges
_INV_LOG_STEP = 1.0 / math.log(1.1)


def _tf_bucket_counts(x: np.ndarray) -> np.ndarray:
    """np.histogram(x, TF_EDGES)[0] for finite in-range ``x``, by arithmetic instead of search."""
    if x.dtype != np.float32:
        x = x.astype(np.float64, copy=False)
    a = np.abs(x)
    with np.errstate(divide="ignore"):
        k = np.floor(np.log(a * x.dtype.type(1e12)) * x.dtype.type(_INV_LOG_STEP))
    k = np.nan_to_num(k, nan=-1.0, neginf=-1.0, posinf=float(_NPOS))
    k = np.maximum(k, -1.0).astype(np.int64)
    b = np.where(x >= 0, _NPOS + 1 + k, _NPOS - 2 - k)
    last = len(TF_EDGES) - 2
    np.clip(b, 0, last, out=b)
    # The log estimate can be one bucket off at an edge: compare exactly.
    x64 = x.astype(np.float64, copy=False)
    b -= x64 < TF_EDGES[b]
    b += (x64 >= TF_EDGES[b + 1]) & (b < last)
    b -= x64 < TF_EDGES[b]
    return np.bincount(b, minlength=last + 1)


def bucket_rows(values: np.ndarray, bins: Any = "tensorflow", max_bins: int | None = None, *, tag: str = "") -> np.ndarray:
    """Return the ``[k, 3]`` float64 rows for ``values`` (see module doc)."""
    x = np.asarray(values)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"tag {tag!r}: expected real numeric values for a histogram, got dtype {x.dtype}")
    x = x.reshape(-1)
    if x.dtype.kind in "biu":
        x = x.astype(np.float64)
    elif x.dtype.itemsize < 4:
        x = x.astype(np.float32)
    finite = x[np.isfinite(x)] if not np.isfinite(x).all() else x
    if finite.size == 0:
        return np.zeros((0, 3))
    if isinstance(bins, str) and bins in ("tensorflow", "default"):
        lo, hi = TF_EDGES[0], TF_EDGES[-1]
        inside = finite[(finite >= lo) & (finite <= hi)] if (finite.min() < lo or finite.max() > hi) else finite
        counts = _tf_bucket_counts(inside) if inside.size else np.zeros(len(TF_EDGES) - 1, np.int64)
        nz = np.flatnonzero(counts)
        rows = []
        if finite.size > inside.size and finite.min() < lo:
            rows.append(np.array([[float(finite.min()), lo, float((finite < lo).sum())]]))
        if nz.size:
            first, last = nz[0], nz[-1] + 1
            rows.append(np.stack([TF_EDGES[first:last], TF_EDGES[first + 1 : last + 1], counts[first:last]], axis=1))
        if finite.size > inside.size and finite.max() > hi:
            rows.append(np.array([[hi, float(finite.max()), float((finite > hi).sum())]]))
        out = np.concatenate(rows).astype(np.float64)
    else:
        try:
            counts, edges = np.histogram(finite.astype(np.float64, copy=False), bins=bins)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"tag {tag!r}: invalid bins={bins!r}: {exc}") from None
        out = np.stack([edges[:-1], edges[1:], counts], axis=1).astype(np.float64)
    if max_bins is not None:
        if not (isinstance(max_bins, int | np.integer) and max_bins >= 1):
            raise ValueError(f"tag {tag!r}: max_bins must be a positive int, got {max_bins!r}")
        if len(out) > max_bins:
            group = -(-len(out) // max_bins)
            starts = np.arange(0, len(out), group)
            ends = np.minimum(starts + group, len(out)) - 1
            out = np.stack([out[starts, 0], out[ends, 1], np.add.reduceat(out[:, 2], starts)], axis=1)
    return out


def histogram(tag: str, values: np.ndarray, bins: Any = "tensorflow", max_bins: int | None = None) -> Summary:
    """Return a histogram ``Summary`` of ``values`` (any shape; flattened)."""
    rows = bucket_rows(values, bins, max_bins, tag=tag)
    return rows_summary(tag, rows)


def rows_summary(tag: str, rows: np.ndarray) -> Summary:
    """Wrap ready ``[k, 3]`` rows (e.g. computed on a GPU) as a histogram ``Summary``."""
    t = TensorProto(dtype=DT_DOUBLE, tensor_content=np.ascontiguousarray(rows, "<f8").tobytes())
    t.tensor_shape.dim.add().size = rows.shape[0]
    t.tensor_shape.dim.add().size = 3
    return Summary(value=[Summary.Value(tag=tag, metadata=metadata(PLUGIN_NAME), tensor=t)])


def histogram_raw(
    tag: str,
    min: float,  # noqa: A002 - the peers' argument names
    max: float,  # noqa: A002
    num: float,
    sum: float,  # noqa: A002
    sum_squares: float,
    bucket_limits: np.ndarray,
    bucket_counts: np.ndarray,
) -> Summary:
    """Return a legacy ``HistogramProto`` summary from precomputed statistics.

    ``bucket_counts[i]`` counts values in ``(bucket_limits[i-1], bucket_limits[i]]``;
    both must be 1-D of equal, non-zero length, limits non-decreasing.
    """
    limits = np.asarray(bucket_limits, dtype=np.float64).reshape(-1)
    counts = np.asarray(bucket_counts, dtype=np.float64).reshape(-1)
    if limits.size == 0 or limits.size != counts.size:
        raise ValueError(
            f"tag {tag!r}: bucket_limits and bucket_counts must be non-empty and of equal length, "
            f"got {limits.size} and {counts.size}"
        )
    if np.any(np.diff(limits) < 0):
        raise ValueError(f"tag {tag!r}: bucket_limits must be non-decreasing")
    histo = HistogramProto(min=min, max=max, num=num, sum=sum, sum_squares=sum_squares)
    histo.bucket_limit.extend(limits.tolist())
    histo.bucket.extend(counts.tolist())
    return Summary(value=[Summary.Value(tag=tag, histo=histo, metadata=metadata(PLUGIN_NAME))])
