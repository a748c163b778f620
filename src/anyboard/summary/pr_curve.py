"""Precision-recall curve summaries.

On disk: one ``Summary.Value`` with a float32 tensor of shape ``[6, n]``
(``tensor_content``, little-endian, row-major) and plugin ``pr_curves``
metadata with content ``PrCurvePluginData(version=0, num_thresholds=n)``. The
rows are, in this fixed order: true positives, false positives, true
negatives, false negatives, precision, recall. Column ``i`` belongs to the
threshold ``i / (n - 1)``; TensorBoard derives the thresholds from the tensor
shape.

Computation (:func:`pr_curve_data`, TensorBoard's own algorithm, without the
peers' 127-threshold cap): each prediction ``p`` falls in bucket
``floor(p * (n - 1))``, computed in ``p``'s own float type (float64 for
integers), as the peers do (a value a few ulps above 1 in the last bucket); per
bucket the weights of positive and of negative examples are summed (a soft label
``y`` in ``[0, 1]`` counts ``y`` of its weight as positive and ``1 - y`` as
negative, as the peers count it); TP and FP are the reverse cumulative sums (the weight of
examples predicted at or above the threshold), ``TN = FP[0] - FP``,
``FN = TP[0] - TP``, ``precision = TP / max(1e-7, TP + FP)`` and
``recall = TP / max(1e-7, TP + FN)``. Sums are done in float64, then stored
as float32.
"""

from __future__ import annotations

import numpy as np

from anyboard.proto.plugins_pb2 import PrCurvePluginData
from anyboard.proto.summary_pb2 import Summary
from anyboard.summary.metadata import metadata
from anyboard.summary.tensor_util import make_tensor

PLUGIN_NAME = "pr_curves"
_MIN_DENOMINATOR = 1e-7


def pr_curve_data(
    labels: np.ndarray, predictions: np.ndarray, num_thresholds: int, weights: np.ndarray | float = 1.0
) -> np.ndarray:
    """Return the ``[6, num_thresholds]`` float64 curve data (see the module doc).

    Args:
        labels: bool, 0/1 or soft labels in ``[0, 1]``, any shape.
        predictions: floats in ``[0, 1]`` (within a few ulps), same number of elements as ``labels``.
        num_thresholds: ``n >= 2``.
        weights: a scalar or an array with as many elements as ``labels``.
    """
    labels = np.asarray(labels).reshape(-1).astype(np.float64)
    predictions = np.asarray(predictions).reshape(-1)
    # The bucket in the predictions' own float type, as TensorBoard, tensorboardX and torch take
    # it: float32 0.7 * 10 is 7.0 in float32 but 6.99999988 in float64 (another bucket).
    ftype = predictions.dtype if predictions.dtype.kind == "f" else np.dtype(np.float64)
    predictions = predictions.astype(ftype, copy=False)
    w = np.broadcast_to(
        np.asarray(weights, dtype=np.float64).reshape(-1) if np.ndim(weights) else np.float64(weights), labels.shape
    )
    buckets = np.floor(predictions * ftype.type(num_thresholds - 1)).astype(np.int64)
    np.clip(buckets, 0, num_thresholds - 1, out=buckets)
    tp_bucket = np.bincount(buckets, weights=labels * w, minlength=num_thresholds)
    fp_bucket = np.bincount(buckets, weights=(1.0 - labels) * w, minlength=num_thresholds)
    tp = np.cumsum(tp_bucket[::-1])[::-1]
    fp = np.cumsum(fp_bucket[::-1])[::-1]
    tn = fp[0] - fp
    fn = tp[0] - tp
    precision = tp / np.maximum(_MIN_DENOMINATOR, tp + fp)
    recall = tp / np.maximum(_MIN_DENOMINATOR, tp + fn)
    return np.stack([tp, fp, tn, fn, precision, recall])


def pr_curve_raw(tag: str, data: np.ndarray) -> Summary:
    """Return a PR-curve ``Summary`` for precomputed ``[6, n]`` data (rows as in the module doc)."""
    data = np.asarray(data, dtype=np.float32)
    content = PrCurvePluginData(version=0, num_thresholds=data.shape[1]).SerializeToString()
    val = Summary.Value(tag=tag, metadata=metadata(PLUGIN_NAME, content), tensor=make_tensor(data, tag=tag))
    return Summary(value=[val])


def pr_curve(
    tag: str, labels: np.ndarray, predictions: np.ndarray, num_thresholds: int, weights: np.ndarray | float = 1.0
) -> Summary:
    """Return a PR-curve ``Summary`` computed from ``labels`` and ``predictions``.

    Inputs are expected to be valid already (the writer checks them):
    predictions finite and in ``[0, 1]``, labels in ``[0, 1]``, ``num_thresholds >= 2``.
    """
    return pr_curve_raw(tag, pr_curve_data(labels, predictions, num_thresholds, weights))
