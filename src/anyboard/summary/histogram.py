"""Histogram summaries.

Binning: :func:`bucket_rows` gives ``[k, 3]`` float64 rows of
``[left_edge, right_edge, count]``. Bucket layout with ``bins="tensorflow"``
(the default): the edges tensorboardX and torch use, ``±1e-12 * 1.1**k`` built
by repeated multiplication up to 1e20, plus 0 (1549 edges, 1548 buckets, each
``[left, right)``, the last closed). Rows run from the first to the last
non-empty bucket. Values beyond the outermost edges (|x| > ~9.9e19), which
the peers silently drop, are counted in one extra row reaching to the data's
min or max. Any other ``bins`` goes to :func:`numpy.histogram` unchanged.
Non-finite values (NaN, ±Inf) are excluded from the buckets and from the
statistics; an input with no finite value gives ``[0, 3]`` rows.

On disk, two encodings (``SummaryWriter(summary_format=...)``):

- ``"compat"`` (default), the peers' form: a legacy ``HistogramProto`` in
  ``Summary.Value.histo``, no metadata (:func:`histogram_proto_bytes`). Their
  bucket layout: ``bucket_limit[0]`` is the left edge of the first row with a
  zero ``bucket[0]``, then each row's right edge and count
  (``bucket_limit = [rows[0, 0], *rows[:, 1]]``, ``bucket = [0, *rows[:, 2]]``),
  empty rows at both ends dropped, an empty bucket before a row that does not
  start where the previous one ends (the rows beyond the edges); ``min``/``max``/``num``/``sum``/``sum_squares``
  of the finite values (:func:`histogram_stats`). Read as the peers' files are
  by TensorBoard's legacy ``EventAccumulator`` (``Histograms``,
  ``CompressedHistograms``), its plugin loader and Rust data server (each
  converts it to ``[k, 3]`` rows its own way) and tbparse (``.histograms``).
- ``"tensor"``: TensorBoard's v2 encoding, the rows as a ``[k, 3]`` float64
  tensor with plugin ``histograms`` metadata (:func:`rows_summary`); TensorBoard's
  Python and Rust loaders read it identically, the legacy accumulator and
  tbparse see it only as a tensor.

:func:`histogram_raw` writes the legacy proto from the caller's fields in both.

Binning with ``bins="tensorflow"`` is exact (the counts ``np.histogram`` gives on
float64) and runs in one pass: in the compiled helper ``_native.c`` (built at install
where a C compiler exists), the bucket counts and the statistics together (about
0.4-0.6 ns per float32 value here, with the GIL released), else in NumPy (about 2 ms
per 1e6 values, the statistics another 0.3 ms). The statistics (``min``/``max``/``num``
exact; ``sum`` and ``sum_squares`` accumulated in float64, whatever the input type)
leave NaN and ±Inf out. ``parts=2`` shares the compiled pass with the compiled helper's
worker (one plain OS thread per process, started by the first such pass, for inputs of
2**17 values or more; the chunks taken in turn, so a worker slow to wake takes fewer; the
same results to the bit). This module starts no Python thread.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np

from anyboard._wire import length_prefix
from anyboard.proto.summary_pb2 import HistogramProto, Summary
from anyboard.proto.tensor_pb2 import TensorProto
from anyboard.proto.types_pb2 import DT_DOUBLE
from anyboard.summary.metadata import metadata

PLUGIN_NAME = "histograms"
MAX_BUCKETS = 10_000_000
"""The most buckets one histogram may have (an int ``bins``, or edges): 160 MB of rows and proto."""


def _tensorflow_edges() -> np.ndarray:
    positive = []
    v = 1e-12
    while v < 1e20:
        positive.append(v)
        v *= 1.1
    pos = np.array(positive)
    return np.concatenate([-pos[::-1], [0.0], pos])


TF_EDGES = _tensorflow_edges()
TF_BINS = ("tensorflow", "default")  # the ``bins`` names of this layout
_NBUCKETS = len(TF_EDGES) - 1
_CHUNK = 1 << 16  # elements per pass: the working set stays in L2, no fresh pages


def _ceil_edges(float_type: type[np.floating]) -> np.ndarray:
    """``TF_EDGES`` rounded up in ``float_type``: for ``x`` of that type, ``x >= edge`` iff ``x >= ceil(edge)``."""
    edges = TF_EDGES.astype(float_type)
    low = edges.astype(np.float64) < TF_EDGES
    edges[low] = np.nextafter(edges[low], float_type(np.inf))
    return edges


class _Layout:
    """Exact ``searchsorted``-free binning of one float type into TF's buckets.

    The top ``bits - shift`` bits of a float (sign, exponent and 4 mantissa
    bits) name a *cell*: an interval of floats 1/16 of a binade wide. The
    edges are 10 % apart, so a cell holds at most one edge (checked when the
    table is built). For a value ``x`` in cell ``c``, the number of edges
    ``<= x`` is ``base[c] + (x >= edge[c])`` (``edge[c]`` is ``+inf`` in a cell
    without one), which is exactly what ``np.histogram`` computes by binary
    search. Float32 values are compared with ``ceil32(edge)``: for a float32
    ``x``, ``x >= e`` if and only if ``x >= ceil32(e)``.
    """

    def __init__(self, float_type: type[np.floating], uint_type: type[np.unsignedinteger], mantissa: int) -> None:
        self.float_type = float_type
        self.uint_type = uint_type
        # NumPy 1.x refuses unsigned indices for take/bincount: view keys as signed
        # (they are small after the shift, so the view is exact).
        self.int_type = np.int32 if np.dtype(uint_type).itemsize == 4 else np.int64
        nbits = np.dtype(uint_type).itemsize * 8
        self.shift = mantissa - 4
        self.edges = edges = _ceil_edges(float_type)
        ncell = 1 << (nbits - self.shift)
        cells = np.arange(ncell, dtype=uint_type)
        first = (cells << uint_type(self.shift)).view(float_type)
        last = (cells << uint_type(self.shift) | uint_type((1 << self.shift) - 1)).view(float_type)
        negative = cells >= ncell // 2
        low_end = np.where(negative, last, first)
        high_end = np.where(negative, first, last)
        base = np.searchsorted(edges, low_end, "left")
        inside = np.searchsorted(edges, high_end, "right") - base
        finite = np.isfinite(low_end) & np.isfinite(high_end)
        if inside[finite].max() > 1:  # pragma: no cover - a property of TF_EDGES, tested
            raise RuntimeError("histogram layout: a cell holds two edges")
        self.cell_edge = np.where(inside == 1, edges[np.minimum(base, len(edges) - 1)], np.inf).astype(float_type)
        # key = 2 * cell + (x >= cell_edge) -> bucket (count of edges <= x) - 1;
        # the last bucket is closed, so x == last edge stays in it.
        bucket = np.empty(2 * ncell, np.intp)
        bucket[0::2] = base - 1
        bucket[1::2] = base - 1 + (inside == 1)
        self.key_bucket = np.clip(bucket, 0, _NBUCKETS - 1)
        self.nkeys = 2 * ncell

    def counts(self, x: np.ndarray) -> np.ndarray:
        """Bucket counts of ``x`` (1-D, this float type, finite, within TF_EDGES)."""
        n = x.size
        bits = x.view(self.uint_type)
        size = min(n, _CHUNK)
        key = np.empty(size, self.uint_type)
        edge = np.empty(size, self.float_type)
        ge = np.empty(size, np.bool_)
        shift = self.uint_type(self.shift)
        one = self.uint_type(1)
        cell_edge = self.cell_edge
        total = np.zeros(self.nkeys, np.intp)
        for start in range(0, n, _CHUNK):
            part = x[start : start + _CHUNK]
            m = part.size
            k, e, g = key[:m], edge[:m], ge[:m]
            np.right_shift(bits[start : start + _CHUNK], shift, out=k)
            # Every key is a valid cell, so "wrap" never wraps: it only skips the bounds
            # checks of the default mode (the gather is ~40 % faster).
            np.take(cell_edge, k.view(self.int_type), out=e, mode="wrap")
            np.greater_equal(part, e, out=g)
            np.left_shift(k, one, out=k)
            np.add(k, g.view(np.uint8), out=k)  # an unsigned add: 3x faster than OR with a bool
            total += np.bincount(k.view(self.int_type), minlength=self.nkeys)
        return np.bincount(self.key_bucket, weights=total, minlength=_NBUCKETS).astype(np.int64)


_LAYOUTS: dict[np.dtype[Any], _Layout] = {}


def _layout(dtype: np.dtype[Any]) -> _Layout:
    layout = _LAYOUTS.get(dtype)
    if layout is None:
        if dtype == np.float32:
            layout = _Layout(np.float32, np.uint32, 23)
        else:
            layout = _Layout(np.float64, np.uint64, 52)
        _LAYOUTS[dtype] = layout
    return layout


def _tf_bucket_counts(x: np.ndarray) -> np.ndarray:
    """``np.histogram(x.astype(float64), TF_EDGES)[0]`` for finite in-range ``x``, exactly.

    ``x`` is 1-D float32 or float64 (other types are converted to float64).
    """
    if x.dtype != np.float32 and x.dtype != np.float64:
        x = x.astype(np.float64)
    x = _native_order(x)
    return _layout(x.dtype).counts(x)


def _native_order(x: np.ndarray) -> np.ndarray:
    """``x`` C-contiguous, aligned and in native byte order (copied only if it is not)."""
    x = np.ascontiguousarray(x)
    if x.dtype.byteorder not in "=|":
        return x.astype(x.dtype.newbyteorder("="))
    return x if x.flags.aligned else x.copy()


# The compiled binning (_native.c): one pass, exact, GIL released. Built at install
# when a C compiler is present; without it the NumPy path below gives the same counts.
try:
    from anyboard import _native
except ImportError:  # pragma: no cover - exercised by the fallback tests via monkeypatch
    _native = None  # type: ignore[assignment]


def native_binning() -> bool:
    """Whether the compiled binning is available (else the NumPy path is used)."""
    return _native is not None


_NATIVE_CELLBITS = {4: 18, 8: 20}  # cell table: 512 KiB (float32), 2 MiB (float64); 1.4 % / 2.8 % edge cells
_NATIVE_LAYOUTS: dict[np.dtype[Any], Any] = {}


def _native_layout(dtype: np.dtype[Any]) -> Any:
    layout = _NATIVE_LAYOUTS.get(dtype)
    if layout is None:
        layout = _NATIVE_LAYOUTS[dtype] = _build_layout(_native, dtype)
    return layout


def _build_layout(module: Any, dtype: np.dtype[Any]) -> Any:
    """A new ``module.Layout`` of the TensorFlow buckets for float32/float64 ``dtype`` (``module``: a build of ``_native``)."""
    ftype = dtype.type
    compare = _ceil_edges(ftype)
    if compare[-1] <= TF_EDGES[-1]:  # the last bucket is closed: "above" starts past the edge
        compare[-1] = np.nextafter(compare[-1], ftype(np.inf))
    return module.Layout(compare, _NATIVE_CELLBITS[dtype.itemsize])


_NO_STATS = np.zeros(5)
_NO_STATS.flags.writeable = False


def _native_slots_stats(x: np.ndarray, parts: int) -> tuple[np.ndarray, np.ndarray]:
    """The compiled count and statistics (one pass), shared with the compiled worker when ``parts >= 2``."""
    layout = _native_layout(x.dtype)
    slots = np.empty(layout.nslot, np.int64)
    stats = np.empty(5)
    layout.count_stats(x, slots, stats, 2 if parts >= 2 else 1)
    return slots, stats


def _tf_slots_stats(x: np.ndarray, parts: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Counts of 1-D float32/float64 ``x`` in ``[below, *TF buckets, above, non-finite]`` (1551)
    and ``[num, min, max, sum, sum_squares]`` of its finite values (all 0 when there is none).

    ``below``/``above``: finite values under ``TF_EDGES[0]`` / over ``TF_EDGES[-1]``;
    the last bucket is closed. Exact: the same counts as ``np.histogram`` on float64.
    ``parts``: see the module doc (the NumPy path ignores it).
    """
    if _native is not None:
        slots, stats = _native_slots_stats(_native_order(x), parts)
        return slots, stats if stats[0] else _NO_STATS
    slots = np.zeros(_NBUCKETS + 3, np.int64)
    lo, hi = float(TF_EDGES[0]), float(TF_EDGES[-1])
    stats = _float64_stats(x)
    if not stats[0]:
        slots[-1] = x.size
        return slots, stats
    if stats[0] == x.size and lo <= stats[1] and stats[2] <= hi:  # the common case: no mask
        slots[1:-2] = _tf_bucket_counts(x)
        return slots, stats
    finite = x[np.isfinite(x)]
    wide = finite.astype(np.float64, copy=False)
    inside = (wide >= lo) & (wide <= hi)
    slots[0] = np.count_nonzero(wide < lo)
    slots[-2] = np.count_nonzero(wide > hi)
    slots[-1] = x.size - finite.size
    if inside.any():
        slots[1:-2] = _tf_bucket_counts(finite[inside])
    return slots, stats


def _tf_slots(x: np.ndarray, parts: int = 1) -> np.ndarray:
    """The slot counts of :func:`_tf_slots_stats` alone."""
    return _tf_slots_stats(x, parts)[0]


def _as_binnable(x: np.ndarray) -> np.ndarray:
    """``x`` (1-D real) as float32 or float64, converting exactly."""
    kind, size = x.dtype.kind, x.dtype.itemsize
    if kind == "f":
        if size == 4 or size == 8:
            return x
        return x.astype(np.float32) if size < 4 else x.astype(np.float64)
    if kind == "b" or size <= 2:  # bool, int8/16, uint8/16: exact in float32
        return x.astype(np.float32)
    return x.astype(np.float64)  # as np.histogram's reference x.astype(float64) does


def _binnable(values: Any, tag: str) -> np.ndarray:
    """``values`` flattened to 1-D float32/float64 (see :func:`_as_binnable`); a ``TypeError`` for other kinds."""
    x = np.asarray(values)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"tag {tag!r}: expected real numeric values for a histogram, got dtype {x.dtype}")
    return _as_binnable(x.reshape(-1))


def rows_from_slots(slots: np.ndarray, stats: np.ndarray, max_bins: int | None = None) -> np.ndarray:
    """The ``[k, 3]`` float64 rows (see module doc) from the 1551 slot counts of :func:`_tf_slots_stats`
    (``[below, *TF buckets, above, ...]``) and ``[num, min, max, ...]`` of the finite values
    (the outer rows reach to ``min``/``max``); then ``max_bins`` grouping."""
    slots = np.asarray(slots, dtype=np.int64)
    below, counts, above = int(slots[0]), slots[1 : _NBUCKETS + 1], int(slots[_NBUCKETS + 1])
    nz = np.flatnonzero(counts)
    if not (nz.size or below or above):
        return np.zeros((0, 3))
    lo, hi = float(TF_EDGES[0]), float(TF_EDGES[-1])
    rows = []
    if below:  # rare: the outer rows reach to the finite min / max
        rows.append(np.array([[float(stats[1]), lo, float(below)]]))
    if nz.size:
        first, last = nz[0], nz[-1] + 1
        rows.append(np.stack([TF_EDGES[first:last], TF_EDGES[first + 1 : last + 1], counts[first:last]], axis=1))
    if above:
        rows.append(np.array([[hi, float(stats[2]), float(above)]]))
    out = np.concatenate(rows).astype(np.float64)
    return _grouped(out, max_bins)


def _grouped(rows: np.ndarray, max_bins: int | None) -> np.ndarray:
    """``rows`` merged into at most ``max_bins`` rows of (nearly) equal numbers of rows."""
    if max_bins is None or len(rows) <= max_bins:
        return rows
    group = -(-len(rows) // max_bins)
    starts = np.arange(0, len(rows), group)
    ends = np.minimum(starts + group, len(rows)) - 1
    return np.stack([rows[starts, 0], rows[ends, 1], np.add.reduceat(rows[:, 2], starts)], axis=1)


def _numpy_rows(x: np.ndarray, bins: Any, tag: str) -> np.ndarray:
    """Rows of 1-D float32/float64 ``x`` by :func:`numpy.histogram` with ``bins`` (its finite values).

    Where NumPy cannot make the edges (a range too narrow to split at its magnitude, such as a
    constant 2.25e15; values whose range or rule arithmetic passes float64's largest, such as
    ``[-1.7e308, 1.7e308]``; a rule asking for more bins than memory holds), they come from
    :func:`_fallback_edges` instead. NumPy's own result is kept wherever it is whole (finite
    edges holding every value), overflow inside a rule or not.
    """
    finite = x[np.isfinite(x)] if not np.isfinite(x).all() else x
    if finite.size == 0:
        return np.zeros((0, 3))
    wide = finite.astype(np.float64, copy=False)
    narrow = None  # None: NumPy's result stands; else the fallback edges, padded if narrow
    try:
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            counts, edges = np.histogram(wide, bins=bins)
    except FloatingPointError:
        narrow = False
        try:  # the overflow may be harmless (a rule's spread): keep NumPy's result if whole
            with np.errstate(all="ignore"):
                counts, edges = np.histogram(wide, bins=bins)
            if np.isfinite(edges).all() and counts.sum() == wide.size:
                narrow = None
        except (ValueError, OverflowError, IndexError, MemoryError):
            pass
    except MemoryError:
        narrow = False
    except ValueError as exc:
        if "Too many bins" in str(exc):
            narrow = True
        elif "too big" in str(exc) or "Maximum allowed size" in str(exc):  # NumPy 1.x's MemoryError
            narrow = False
        else:
            raise ValueError(f"tag {tag!r}: invalid bins={bins!r}: {exc}") from None
    except TypeError as exc:
        raise ValueError(f"tag {tag!r}: invalid bins={bins!r}: {exc}") from None
    if narrow is not None:
        counts, edges = np.histogram(wide, bins=_fallback_edges(wide, bins, narrow=narrow))
    return np.stack([edges[:-1], edges[1:], counts], axis=1).astype(np.float64)


_F64_MAX = float(np.finfo(np.float64).max)


def _fallback_edges(wide: np.ndarray, bins: Any, *, narrow: bool) -> np.ndarray:
    """Finite, non-decreasing edges over ``wide``'s range in as many equal bins as ``bins`` asks.

    A bin rule's count is taken on the values scaled into ``[-1, 1]`` (the rules depend only on
    the values relative to their range); where even that fails (a rule asking for infinitely
    or impossibly many bins) the count is Sturges' (``log2(n) + 1``), and it is at most
    :data:`MAX_BUCKETS`. ``narrow`` (the range cannot be split at this magnitude) or a single
    value: the range is first widened by ``max(1, 1e-6 |value|)`` on each side, within float64.
    The edges are convex combinations of the ends, so none overflows.
    """
    low, high = float(wide.min()), float(wide.max())
    if isinstance(bins, int | np.integer):
        n = int(bins)
    else:
        scaled = wide / (max(abs(low), abs(high)) or 1.0)
        try:
            with np.errstate(all="ignore"):
                n = len(np.histogram_bin_edges(scaled, bins=bins)) - 1
        except (ValueError, OverflowError, IndexError, MemoryError):
            n = len(np.histogram_bin_edges(scaled, bins="sturges")) - 1 if low < high else 1
        n = min(n, MAX_BUCKETS)
    if narrow or low == high:
        pad = max(1.0, abs(low) * 1e-6, abs(high) * 1e-6)
        low, high = max(low - pad, -_F64_MAX), min(high + pad, _F64_MAX)
    t = np.linspace(0.0, 1.0, n + 1)
    edges = low * (1.0 - t) + high * t
    edges[0], edges[-1] = low, high
    return np.maximum.accumulate(edges)


def _check_max_bins(max_bins: Any, tag: str) -> None:
    if max_bins is not None and not (isinstance(max_bins, int | np.integer) and max_bins >= 1):
        raise ValueError(f"tag {tag!r}: max_bins must be a positive int, got {max_bins!r}")


def bucket_rows(
    values: np.ndarray,
    bins: Any = "tensorflow",
    max_bins: int | None = None,
    *,
    tag: str = "",
    parts: int = 1,
) -> np.ndarray:
    """Return the ``[k, 3]`` float64 rows for ``values`` (see module doc).

    ``parts=2``: a large input's compiled pass is shared with the compiled worker
    (``bins="tensorflow"``; see the module doc).
    """
    x = _binnable(values, tag)
    _check_max_bins(max_bins, tag)
    if x.size == 0:
        return np.zeros((0, 3))
    if isinstance(bins, str) and bins in TF_BINS:
        return rows_from_slots(*_tf_slots_stats(x, parts), max_bins)
    return _grouped(_numpy_rows(x, bins, tag), max_bins)


def encode_bytes(size: int, dtype: np.dtype[Any], bins: Any, summary_format: str = "compat") -> int:
    """Bytes the writer thread allocates to encode a histogram of ``size`` values of ``dtype``,
    beyond the snapshot itself: a converted copy, the finite subset and float64 copies of the
    NumPy paths, the rows and the encoded proto (what ``add_histogram`` declares to the queue;
    the compiled pass needs no copy for the statistics)."""
    extra = 0
    if not (dtype in (np.dtype(np.float32), np.dtype(np.float64)) and dtype.isnative):
        extra += size * 8  # _as_binnable / _native_order copy
    tf = isinstance(bins, str) and bins in TF_BINS
    if not tf or _native is None:
        extra += size * 17 + _CHUNK * 25  # finite subset, its float64 copy, the mask; the chunked float64 sums
    if isinstance(bins, int | np.integer):
        nbuckets = int(bins)
    elif isinstance(bins, np.ndarray):
        nbuckets = bins.size
    else:
        nbuckets = _NBUCKETS + 3
    return extra + nbuckets * 96 + 65536  # edges, counts, rows ([k, 3] float64), limits/buckets, proto


def histogram(
    tag: str,
    values: np.ndarray,
    bins: Any = "tensorflow",
    max_bins: int | None = None,
    summary_format: str = "compat",
) -> Summary:
    """A histogram ``Summary`` of ``values`` (any shape; flattened) in ``summary_format`` (see module doc).

    :func:`histogram_bytes` gives the same ``Summary`` serialized, as the writer queues it
    (without building the message first).
    """
    return Summary.FromString(histogram_bytes(tag, values, bins, max_bins, summary_format))


def histogram_bytes(
    tag: str,
    values: np.ndarray,
    bins: Any = "tensorflow",
    max_bins: int | None = None,
    summary_format: str = "compat",
    *,
    parts: int = 1,
) -> bytes:
    """The serialized :func:`histogram` ``Summary``; ``parts``: see :func:`bucket_rows`.

    With ``bins="tensorflow"`` the buckets and the statistics come from one pass over ``values``,
    and the ``"compat"`` form is encoded straight from the counts.
    """
    x = _binnable(values, tag)
    _check_max_bins(max_bins, tag)
    if isinstance(bins, str) and bins in TF_BINS:
        slots, stats = _tf_slots_stats(x, parts) if x.size else (np.zeros(_NBUCKETS + 3, np.int64), _NO_STATS)
        if summary_format == "tensor":
            return rows_summary(tag, rows_from_slots(slots, stats, max_bins)).SerializeToString()
        if max_bins is None and not slots[0] and not slots[_NBUCKETS + 1]:
            layout = _native_layout(x.dtype) if _native is not None and x.dtype.isnative else None
            return _summary_bytes(tag, _tf_histo_bytes(slots, stats, layout))
        return histogram_summary_bytes(tag, rows_from_slots(slots, stats, max_bins), stats)
    rows = _grouped(_numpy_rows(x, bins, tag), max_bins) if x.size else np.zeros((0, 3))
    if summary_format == "tensor":
        return rows_summary(tag, rows).SerializeToString()
    return histogram_summary_bytes(tag, rows, _float64_stats(x))


def rows_summary(tag: str, rows: np.ndarray) -> Summary:
    """Wrap ready ``[k, 3]`` rows (e.g. computed on a GPU) as a v2 (``"tensor"``) histogram ``Summary``."""
    t = TensorProto(dtype=DT_DOUBLE, tensor_content=np.ascontiguousarray(rows, "<f8").tobytes())
    t.tensor_shape.dim.add().size = rows.shape[0]
    t.tensor_shape.dim.add().size = 3
    return Summary(value=[Summary.Value(tag=tag, metadata=metadata(PLUGIN_NAME), tensor=t)])


def histogram_stats(values: Any) -> np.ndarray:
    """``[num, min, max, sum, sum_squares]`` (float64) of the finite values of ``values`` (any shape).

    ``min``/``max`` are exact; ``sum`` and ``sum_squares`` are accumulated in float64 (the
    compiled pass for float inputs, else NumPy in chunks). No finite value: ``[0, 0, 0, 0, 0]``.
    """
    x = _binnable(values, "")
    if x.size == 0:
        return np.zeros(5)
    if _native is not None:
        return np.array(_tf_slots_stats(x)[1])  # a copy: _NO_STATS is shared
    return _float64_stats(x)


def _float64_stats(x: np.ndarray) -> np.ndarray:
    """:func:`histogram_stats` of 1-D ``x`` in NumPy: float64 sums (pairwise), chunk by chunk
    (the temporaries stay ``_CHUNK`` values long whatever the size of ``x``)."""
    num, low, high, total, squares = 0, np.inf, -np.inf, 0.0, 0.0
    for start in range(0, x.size, _CHUNK):
        part = x[start : start + _CHUNK].astype(np.float64)
        if not np.isfinite(part).all():
            part = part[np.isfinite(part)]
        if part.size:
            num += part.size
            low, high = min(low, float(part.min())), max(high, float(part.max()))
            with np.errstate(over="ignore", invalid="ignore"):
                total += float(np.add.reduce(part))
                squares += float(np.add.reduce(part * part))
    if num == 0:
        return np.zeros(5)
    return np.array([float(num), low, high, total, squares])


_PACK_DOUBLE = struct.Struct("<Bd").pack


def _double_field(key: int, value: float) -> bytes:
    """A proto3 ``double`` field: omitted when its bits are all zero (+0.0), as protobuf does."""
    return _PACK_DOUBLE(key, value) if value or math.copysign(1.0, value) < 0 else b""


def histogram_proto_bytes(rows: np.ndarray, stats: np.ndarray) -> bytes:
    """The serialized ``HistogramProto`` of ``rows`` ``[k, 3]`` and ``stats`` (see module doc).

    Byte for byte what protobuf writes for the same fields (``min`` 1 .. ``sum_squares`` 5 as
    fixed64, zero ones omitted; ``bucket_limit`` 6 and ``bucket`` 7 packed), built from NumPy
    buffers without a loop over the buckets. ``rows`` without any count give no buckets.
    """
    counts = rows[:, 2] if len(rows) else rows[:0, 0]
    nonzero = np.flatnonzero(counts)
    if nonzero.size:
        first, last = int(nonzero[0]), int(nonzero[-1]) + 1
        rows = rows[first:last]
        limits = np.empty(len(rows) + 1)
        limits[0] = rows[0, 0]
        limits[1:] = rows[:, 1]
        buckets = np.empty(len(rows) + 1)
        buckets[0] = 0.0
        buckets[1:] = rows[:, 2]
        gaps = np.flatnonzero(rows[1:, 0] != rows[:-1, 1]) + 1  # rows after a gap (the outer rows)
        if gaps.size:  # an empty bucket reaching to the row's left edge, so each bucket keeps its own edges
            limits = np.insert(limits, gaps + 1, rows[gaps, 0])
            buckets = np.insert(buckets, gaps + 1, 0.0)
    else:
        limits = buckets = np.zeros(0)
    return _histo_fields(
        stats, np.ascontiguousarray(limits, "<f8").tobytes(), np.ascontiguousarray(buckets, "<f8").tobytes()
    )


def _histo_fields(stats: np.ndarray, limits: bytes, buckets: bytes) -> bytes:
    """``HistogramProto`` bytes from ``[num, min, max, sum, sum_squares]`` and the packed
    little-endian float64 ``bucket_limit`` / ``bucket`` arrays."""
    num, low, high, total, squares = stats.tolist()
    return b"".join(
        (
            _double_field(0x09, low),
            _double_field(0x11, high),
            _double_field(0x19, num),
            _double_field(0x21, total),
            _double_field(0x29, squares),
            b"\x32" + length_prefix(len(limits)) + limits if limits else b"",
            b"\x3a" + length_prefix(len(buckets)) + buckets if buckets else b"",
        )
    )


_TF_EDGES_LE = TF_EDGES.astype("<f8").tobytes()
_ZERO_DOUBLE = bytes(8)


def _tf_histo_bytes(slots: np.ndarray, stats: np.ndarray, layout: Any = None) -> bytes:
    """:func:`histogram_proto_bytes` of ``rows_from_slots(slots, stats)`` when no value lies beyond
    the edges (``slots[0]`` and ``slots[-2]`` zero), without building the rows: the limits are a
    slice of the TF edges' bytes, ``TF_EDGES[first : last + 1]``, the buckets a 0 then the counts.
    ``layout``: the compiled layout that counted ``slots`` (finds the non-empty span), if any."""
    if layout is not None:  # the compiled span keeps the GIL (flatnonzero releases it)
        start, stop = layout.span(slots)
        first, last = start - 1, stop - 1
    else:
        nz = np.flatnonzero(slots[1 : _NBUCKETS + 1])
        first, last = (int(nz[0]), int(nz[-1]) + 1) if nz.size else (0, 0)
    if first == last:
        return _histo_fields(stats, b"", b"")
    buckets = _ZERO_DOUBLE + slots[first + 1 : last + 1].astype("<f8").tobytes()
    return _histo_fields(stats, _TF_EDGES_LE[first * 8 : (last + 1) * 8], buckets)


def _summary_bytes(tag: str, histo: bytes) -> bytes:
    """Serialized ``Summary{value: [Value{tag, histo}]}`` from ``HistogramProto`` bytes."""
    name = tag.encode("utf-8")
    value = (b"\x0a" + length_prefix(len(name)) + name if name else b"") + b"\x2a" + length_prefix(len(histo)) + histo
    return b"\x0a" + length_prefix(len(value)) + value


def histogram_summary_bytes(tag: str, rows: np.ndarray, stats: np.ndarray) -> bytes:
    """Serialized ``Summary{value: [Value{tag, histo}]}`` (the ``"compat"`` encoding, no metadata)."""
    return _summary_bytes(tag, histogram_proto_bytes(rows, stats))


def histogram_raw(
    tag: str,
    min: float,  # min, max, sum: the peers' argument names
    max: float,
    num: float,
    sum: float,
    sum_squares: float,
    bucket_limits: np.ndarray,
    bucket_counts: np.ndarray,
    *,
    summary_format: str = "compat",
) -> Summary:
    """Return a legacy ``HistogramProto`` summary from precomputed statistics.

    ``"compat"``: no metadata, as the peers write it; ``"tensor"``: with plugin
    ``histograms`` metadata (the TensorBoard plugin loaders convert either).

    ``bucket_counts[i]`` counts values in ``(bucket_limits[i-1], bucket_limits[i]]``;
    both are real numbers (any shape, flattened) of equal size (both empty: no buckets, as the
    peers write it), limits non-decreasing
    (no NaN), counts finite and >= 0.
    Raises ``TypeError`` for other values and ``ValueError`` for values beyond float64, naming ``tag``.
    """
    try:
        given = np.asarray(bucket_limits), np.asarray(bucket_counts)
        if any(a.dtype.kind not in "biufO" for a in given):  # complex: NumPy would keep the real part, warning
            raise TypeError
        with np.errstate(over="ignore"):  # a longdouble beyond float64 becomes inf: refused below
            limits, counts = (a.astype(np.float64).reshape(-1) for a in given)
    except (TypeError, ValueError):
        raise TypeError(f"tag {tag!r}: bucket_limits and bucket_counts must be arrays of real numbers") from None
    except OverflowError:  # Python ints beyond float64
        raise ValueError(f"tag {tag!r}: bucket_limits and bucket_counts hold a value beyond float64") from None
    for name, wide, given_values in (("bucket_limits", limits, given[0]), ("bucket_counts", counts, given[1])):
        if np.isinf(wide).any() and given_values.dtype.kind == "f" and np.isfinite(given_values).all():
            raise ValueError(f"tag {tag!r}: {name} holds values beyond float64 (|x| > 1.8e308)")
    if limits.size != counts.size:  # both empty: a histogram with no buckets, as the peers write it
        raise ValueError(
            f"tag {tag!r}: bucket_limits and bucket_counts must be of equal length, got {limits.size} and {counts.size}"
        )
    if np.isnan(limits).any() or np.any(limits[1:] < limits[:-1]):
        raise ValueError(f"tag {tag!r}: bucket_limits must be non-decreasing numbers (no NaN)")
    if not (np.isfinite(counts).all() and (counts >= 0).all()):
        # the two TensorBoard loaders disagree on such buckets: one shows them, one drops them
        raise ValueError(f"tag {tag!r}: bucket_counts must be finite and >= 0")
    histo = HistogramProto(min=min, max=max, num=num, sum=sum, sum_squares=sum_squares)
    histo.bucket_limit.extend(limits.tolist())
    histo.bucket.extend(counts.tolist())
    if summary_format == "tensor":
        return Summary(value=[Summary.Value(tag=tag, histo=histo, metadata=metadata(PLUGIN_NAME))])
    return Summary(value=[Summary.Value(tag=tag, histo=histo)])
