"""JAX arrays to NumPy.

Imported only when an object whose type lives in ``jax`` or ``jaxlib`` is
seen (``jax.Array`` instances are ``jaxlib._jax.ArrayImpl``).

- Arrays (``defer=False``): ``np.asarray`` (waits for the computation and the
  device-to-host copy; JAX arrays are immutable, so that is the call-time
  value).
- One-element real values with ``defer=True`` (scalars): a device-side copy
  is dispatched (so a later buffer donation cannot delete what is logged) and
  its ``copy_to_host_async()`` started; :meth:`JaxValue.resolve` reads it on
  the writer's background thread. Nothing waits on the caller's thread.
- bfloat16, float8 and other ``ml_dtypes`` floats are widened exactly to
  float32, int4/uint4 and similar to int8/uint8.
- A tracer (a value inside ``jax.jit``/``grad``/``vmap``) has no value yet and
  raises ``ValueError`` (log it from ``jax.debug.callback``); so do deleted
  (donated) arrays and arrays not fully addressable from this process.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from anyboard.adapters import Deferred
from anyboard.adapters import widen_ml_dtypes as widen


def _check(x: Any, jax: Any) -> None:
    if isinstance(x, jax.core.Tracer):
        raise ValueError(
            f"cannot log a traced JAX value ({type(x).__name__}, shape {getattr(x, 'shape', '?')}) inside a "
            "transformation (jit/grad/vmap): it has no value yet; return it, or log it from jax.debug.callback"
        )
    if isinstance(x, jax.Array):
        if x.is_deleted():
            raise ValueError("cannot log a deleted JAX array (its buffer was donated or deleted)")
        if not x.is_fully_addressable:
            raise ValueError(
                "cannot log a JAX array that is not fully addressable from this process; gather it first "
                "(jax.experimental.multihost_utils.process_allgather)"
            )


def to_numpy(x: Any, *, defer: bool = False) -> Any:
    """Return a JAX array as a NumPy array, or a :class:`JaxValue` (see module doc).

    Raises:
        ValueError: a tracer, a deleted array, or one not fully addressable.
        TypeError: ``x`` is not convertible.
    """
    import jax

    _check(x, jax)
    if not isinstance(x, jax.Array):
        return widen(np.asarray(x))
    if defer and x.size == 1:
        kind = np.dtype(x.dtype).kind
        if kind in "biuf" or (kind == "V" and np.dtype(x.dtype).type.__module__.startswith("ml_dtypes")):
            return JaxValue(jax.numpy.array(x, copy=True))
    return widen(np.asarray(x))


class JaxValue(Deferred):
    """A private copy of a JAX scalar whose host transfer has been started."""

    __slots__ = ("_array", "_value")

    def __init__(self, array: Any) -> None:
        array.copy_to_host_async()
        self._array = array
        self._value: np.ndarray | None = None

    def resolve(self) -> np.ndarray:
        """Wait for the transfer and return the host value (cached)."""
        if self._value is None:
            self._value = widen(np.asarray(self._array))
            self._array = None
        return self._value
