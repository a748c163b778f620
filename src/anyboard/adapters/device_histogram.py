"""Histograms of torch tensors binned on their own device.

Same rows as :func:`anyboard.summary.histogram.bucket_rows` with
``bins="tensorflow"``: the edges :data:`~anyboard.summary.histogram.TF_EDGES`
(``[left, right)``, the last bucket closed), rows from the first to the last
non-empty bucket, NaN/±Inf excluded, one overflow row per side for values
beyond the outermost edges (reaching to the data's min/max), an input without
finite values giving ``[0, 3]`` rows, then ``max_bins`` grouping.

On the device, each value gets a slot by :func:`torch.bucketize` (exact: a
float32 value is compared with each edge rounded *up* to float32, which gives
the same answer as comparing in float64), slots are counted with
``scatter_add_`` (deterministic, no data-dependent shapes, so no
synchronization), and the finite min/max, sum and sum of squares (float64 but
on MPS) are reduced. Only those 1551 counts and 4 numbers move to the host, where the rows are trimmed (microseconds). On
CUDA the copy is ``non_blocking`` into pinned memory and the result is a
:class:`~anyboard.adapters.Deferred` resolved on the writer's background
thread; on other devices (and on CPU when asked, for testing) it is an array.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from anyboard.adapters import Deferred
from anyboard.summary.histogram import TF_BINS, TF_EDGES, rows_from_slots

_L = len(TF_EDGES)  # edges; buckets are 1.._L-1 in slot numbering
_CHUNK = 1 << 24  # values per pass: bounds the temporary memory (int64 slots)
_EDGE_CACHE: dict[tuple[str, Any], Any] = {}


def _edges_f32_up() -> np.ndarray:
    """Each TF edge rounded up to the next float32 (exact comparisons for float32 values)."""
    e32 = TF_EDGES.astype(np.float32)
    low = e32.astype(np.float64) < TF_EDGES
    e32[low] = np.nextafter(e32[low], np.float32(np.inf))
    return e32


def _edges(torch: Any, device: Any, dtype: Any) -> Any:
    key = (str(device), dtype)
    edges = _EDGE_CACHE.get(key)
    if edges is None:
        host = _edges_f32_up() if dtype == torch.float32 else TF_EDGES
        edges = torch.as_tensor(host, dtype=dtype)
        if torch.device(device).type == "cuda":
            edges = edges.pin_memory().to(device, non_blocking=True)  # no stream synchronization
        else:
            edges = edges.to(device)
        _EDGE_CACHE[key] = edges
    return edges


def device_histogram_rows(
    x: Any,
    bins: Any = "tensorflow",
    max_bins: int | None = None,
    *,
    tag: str = "",
    allow_cpu: bool = False,
    with_stats: bool = False,
) -> Any:
    """Bucket rows of a torch tensor computed on its device.

    Args:
        x: the values (any shape; flattened).
        bins: only ``"tensorflow"``/``"default"`` apply.
        max_bins: group the rows into at most this many (as ``bucket_rows``).
        tag: named in error messages.
        allow_cpu: bin CPU tensors too (normally they return ``None``: the
            NumPy path is as fast there).
        with_stats: return ``(rows, stats)``, ``stats`` being
            :func:`~anyboard.summary.histogram.histogram_stats`'s
            ``[num, min, max, sum, sum_squares]`` of the finite values.

    Returns:
        ``None`` when not applicable (not a torch tensor, a CPU tensor without
        ``allow_cpu``, other ``bins``, a device without float64 when the
        dtype needs it); else the ``[k, 3]`` float64 rows, as an array or, on
        CUDA, a :class:`~anyboard.adapters.Deferred` of them.

    Raises:
        ValueError: a tensor without data (meta, fake), or a bad ``max_bins``.
        TypeError: a complex (non-real) dtype.
    """
    import torch

    from anyboard.adapters.torch_adapter import check_has_data

    if not isinstance(x, torch.Tensor) or not (isinstance(bins, str) and bins in TF_BINS):
        return None
    if x.device.type == "cpu" and not allow_cpu:
        return None
    if max_bins is not None and not (isinstance(max_bins, int | np.integer) and max_bins >= 1):
        raise ValueError(f"tag {tag!r}: max_bins must be a positive int, got {max_bins!r}")
    try:
        check_has_data(x)
    except ValueError as exc:
        raise ValueError(f"tag {tag!r}: {exc}") from None
    if x.dtype.is_complex or x.is_quantized or x.layout != torch.strided:
        if x.dtype.is_complex:
            raise TypeError(f"tag {tag!r}: expected real numeric values for a histogram, got dtype {x.dtype}")
        return None
    exact32 = x.dtype in (
        torch.float32,
        torch.float16,
        torch.bfloat16,
        torch.bool,
        torch.uint8,
        torch.int8,
        torch.int16,
    )
    if not exact32 and x.device.type == "mps":
        return None  # MPS has no float64
    work = torch.float32 if (exact32 or str(x.dtype).startswith("torch.float8")) else torch.float64
    stats = _device_stats(torch, x.detach(), work)
    if x.device.type == "cuda":
        return _CudaRows(torch, stats, x.device, max_bins, with_stats)
    counts, extremes = (t.cpu().numpy() for t in stats)
    rows = rows_from_counts(counts, extremes, max_bins)
    return (rows, stats_from_counts(counts, extremes)) if with_stats else rows


def _device_stats(torch: Any, x: Any, work: Any) -> tuple[Any, Any]:
    """Slot counts (int64, ``_L + 2``) and ``[min, max, sum, sum of squares]`` of the finite values, on the device.

    The extremes are float64 (``work`` on MPS, which has no float64).

    Slots: 0 below the lowest edge, ``1.._L-1`` the TF buckets, ``_L`` above
    the highest edge, ``_L + 1`` NaN/±Inf.
    """
    device = x.device
    edges = _edges(torch, device, work)
    # ``v == hi`` belongs to the closed last bucket only if the top edge is exact in ``work``
    # (float32 values equal to the rounded-up edge lie above it: bucketize puts them in slot _L).
    hi = edges[-1] if work == torch.float64 or float(np.float32(TF_EDGES[-1])) == TF_EDGES[-1] else None
    counts = torch.zeros(_L + 2, dtype=torch.int64, device=device)
    inf = float("inf")  # Python scalars, not host tensors: copying one to CUDA would synchronize
    acc = work if device.type == "mps" else torch.float64
    lows, highs, sums, squares = [], [], [], []
    flat = x.reshape(-1)
    for chunk in flat.split(_CHUNK) if flat.numel() else ():
        v = chunk.to(work)
        finite = torch.isfinite(v)
        slot = torch.bucketize(v, edges, right=True)  # edges[slot-1] <= v < edges[slot]
        if hi is not None:
            slot = torch.where(v == hi, _L - 1, slot)  # the last bucket is closed
        slot = torch.where(finite, slot, _L + 1)
        counts.scatter_add_(0, slot, torch.ones(1, dtype=torch.int64, device=device).expand_as(slot))
        lows.append(torch.where(finite, v, inf).amin().reshape(1).to(acc))
        highs.append(torch.where(finite, v, -inf).amax().reshape(1).to(acc))
        wide = torch.where(finite, v, 0).to(acc)
        sums.append(wide.sum().reshape(1))
        squares.append(wide.square().sum().reshape(1))
    if not lows:
        lows = [torch.full((1,), inf, dtype=acc, device=device)]
        highs = [torch.full((1,), -inf, dtype=acc, device=device)]
        sums = squares = [torch.zeros(1, dtype=acc, device=device)]
    parts = (torch.cat(lows).amin(), torch.cat(highs).amax(), torch.cat(sums).sum(), torch.cat(squares).sum())
    return counts, torch.stack(parts)


class _CudaRows(Deferred):
    """Counts and extremes on their way to pinned host memory; rows built in :meth:`resolve`."""

    __slots__ = ("_event", "_host", "_keep", "_max_bins", "_value", "_with_stats")

    def __init__(
        self, torch: Any, stats: tuple[Any, Any], device: Any, max_bins: int | None, with_stats: bool = False
    ) -> None:
        with torch.cuda.device(device):
            host = tuple(torch.empty(t.shape, dtype=t.dtype, pin_memory=True) for t in stats)
            for h, t in zip(host, stats, strict=True):
                h.copy_(t, non_blocking=True)
            event = torch.cuda.Event()
            event.record(torch.cuda.current_stream(device))
        self._keep: Any = stats
        self._host = host
        self._event = event
        self._max_bins = max_bins
        self._with_stats = with_stats
        self._value: Any = None

    def resolve(self) -> Any:
        if self._value is None:
            self._event.synchronize()
            counts, extremes = (h.numpy() for h in self._host)
            rows = rows_from_counts(counts, extremes, self._max_bins)
            self._value = (rows, stats_from_counts(counts, extremes)) if self._with_stats else rows
            self._keep = None
        return self._value


def stats_from_counts(counts: np.ndarray, extremes: np.ndarray) -> np.ndarray:
    """``[num, min, max, sum, sum_squares]`` (as ``histogram_stats``) from slot counts and the device's extremes."""
    num = int(np.asarray(counts, dtype=np.int64)[: _L + 1].sum())
    if num == 0:
        return np.zeros(5)
    return np.concatenate([[float(num)], np.asarray(extremes, dtype=np.float64)[:4]])


def rows_from_counts(counts: np.ndarray, extremes: np.ndarray, max_bins: int | None = None) -> np.ndarray:
    """The ``[k, 3]`` float64 rows from slot ``counts`` and ``[finite min, finite max, ...]``
    (:func:`~anyboard.summary.histogram.rows_from_slots`, the host's own rule)."""
    low, high = (float(v) for v in np.asarray(extremes, dtype=np.float64)[:2])
    return rows_from_slots(counts, np.array([0.0, low, high]), max_bins)
