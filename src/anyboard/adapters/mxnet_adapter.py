"""MXNet ``NDArray`` / ``mx.np.ndarray`` to NumPy (MXNet 1.9; numpy<1.24).

Imported only when an object whose type lives in ``mxnet`` is seen.

MXNet runs every operator asynchronously on its engine, on CPU as well as
GPU. ``asnumpy()`` waits for the array's pending writes (and, on a GPU
context, for the device-to-host copy): it synchronizes the caller with the
engine. So:

- arrays (``defer=False``) use ``asnumpy()``: the writer needs their snapshot
  at call time;
- one-element real values with ``defer=True`` (scalars) are not waited for:
  ``copyto(mx.cpu())`` pushes an engine copy that reads the value after the
  writes queued so far and before any later ones (so a later ``x += 1`` is
  not logged) and returns at once; :meth:`MXNetValue.resolve` calls
  ``asnumpy()`` on that private copy, on the writer's background thread.

bfloat16 (MXNet's ``[('bfloat16', '<u2')]`` dtype) is widened exactly to
float32 on the array's context; float16 stays float16; sparse arrays become
dense; 0-d arrays (``mx.np`` scalars) are copied in NumPy-shape mode
(``mx.util.np_shape(True)``), outside which MXNet's operators reject them. An ``mx.sym.Symbol`` has no value and raises ``TypeError``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from anyboard.adapters import Deferred


def _is_bfloat16(dtype: Any) -> bool:
    try:
        d = np.dtype(dtype)
    except TypeError:
        return "bfloat16" in str(dtype)
    return bool(d.names == ("bfloat16",))


def to_numpy(x: Any, *, defer: bool = False) -> Any:
    """Return an MXNet array as a NumPy array, or a :class:`MXNetValue` (see module doc).

    Raises:
        TypeError: ``x`` is a symbol or otherwise not convertible.
    """
    import mxnet as mx

    if isinstance(x, mx.sym.Symbol):
        raise TypeError("cannot log an mx.sym.Symbol: it has no value; log the output of an executor instead")
    if not isinstance(x, mx.nd.NDArray):
        return np.asarray(x)
    if len(x.shape) == 0:
        # 0-d arrays (mx.np scalars) are "unknown shape" to operators outside NumPy-shape mode.
        with mx.util.np_shape(True):
            return _convert(mx, x, defer)
    return _convert(mx, x, defer)


def _convert(mx: Any, x: Any, defer: bool) -> Any:
    if getattr(x, "stype", "default") != "default":
        x = x.tostype("default")
    if _is_bfloat16(x.dtype):
        x = x.astype("float32")  # a new array: also a snapshot
    elif defer and x.size == 1 and np.dtype(x.dtype).kind in "biuf":
        return MXNetValue(x.copyto(mx.cpu()))
    if defer and x.size == 1 and np.dtype(x.dtype).kind in "biuf":
        return MXNetValue(x if x.context.device_type == "cpu" else x.copyto(mx.cpu()))
    return x.asnumpy()


class MXNetValue(Deferred):
    """A private CPU ``NDArray`` whose engine copy may still be pending."""

    __slots__ = ("_array", "_value")

    def __init__(self, array: Any) -> None:
        self._array = array
        self._value: np.ndarray | None = None

    def resolve(self) -> np.ndarray:
        """Wait for the engine (this array only) and return its values (cached)."""
        if self._value is None:
            self._value = self._array.asnumpy()
            self._array = None
        return self._value
