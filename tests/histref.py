"""The reference the histogram tests compare against: ``np.histogram`` on float64, as the peers bin."""

from __future__ import annotations

import numpy as np

from anyboard.summary.histogram import TF_EDGES

LO, HI = float(TF_EDGES[0]), float(TF_EDGES[-1])


def reference(x: np.ndarray) -> np.ndarray:
    """What the peers compute: np.histogram over a float64 copy."""
    return np.histogram(np.asarray(x).astype(np.float64), TF_EDGES)[0]


def reference_slots(x: np.ndarray) -> np.ndarray:
    """``[below, *buckets, above, non-finite]`` by masks and ``np.histogram`` on float64."""
    wide = np.asarray(x).reshape(-1).astype(np.float64)
    finite = wide[np.isfinite(wide)]
    inside = finite[(finite >= LO) & (finite <= HI)]
    below, above = np.count_nonzero(finite < LO), np.count_nonzero(finite > HI)
    return np.concatenate([[below], reference(inside), [above, wide.size - finite.size]])
