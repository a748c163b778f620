"""Framework adapters: whatever a user passes, as a NumPy array.

The only place framework names appear. A converter is chosen by the exact
root of ``type(x).__module__`` (``"torch"``, ``"mxnet"``, ``"jax"``/``"jaxlib"``),
never by a substring of ``str(type(x))``; the framework module is imported
only when one of its objects is seen. Anything else goes through
``__array__``/DLPack or :func:`numpy.asarray`.

A converter may return a :class:`Deferred` instead of an array: a value whose
device-to-host copy has been started but not waited for. Scalars resolve it on
the background thread, so the training loop is not synchronized with the
device (see :mod:`anyboard.adapters.torch_adapter`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

Converter = Callable[[Any], Any]


class Deferred:
    """A value still on its way from a device; :meth:`resolve` waits for it."""

    __slots__ = ()

    def resolve(self) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError


_CONVERTERS: dict[str, Converter] = {}
_LAZY: dict[str, str] = {
    "torch": "anyboard.adapters.torch_adapter",
    "mxnet": "anyboard.adapters.mxnet_adapter",
    "jax": "anyboard.adapters.jax_adapter",
    "jaxlib": "anyboard.adapters.jax_adapter",
}


def register(module_root: str, converter: Converter) -> None:
    """Use ``converter(x)`` for objects whose type's module root is ``module_root``.

    ``converter`` returns a NumPy array (or a :class:`Deferred`). It replaces
    anyboard's own converter for that framework, if any.
    """
    if not isinstance(module_root, str) or not module_root or "." in module_root:
        raise ValueError(f"module_root must be a top-level module name like 'torch', got {module_root!r}")
    if not callable(converter):
        raise TypeError(f"converter must be callable, got {type(converter).__name__}")
    _CONVERTERS[module_root] = converter


def _converter(root: str) -> Converter | None:
    fn = _CONVERTERS.get(root)
    if fn is None and root in _LAZY:
        module = importlib.import_module(_LAZY[root])
        fn = module.to_numpy
        _CONVERTERS.setdefault(root, fn)
        fn = _CONVERTERS[root]
    return fn


def to_numpy(x: Any, *, tag: str = "", defer: bool = False) -> Any:
    """Return ``x`` as a NumPy array.

    Args:
        x: a NumPy array or scalar, a Python number, a (nested) list, or a
            framework tensor.
        tag: named in error messages.
        defer: allow a :class:`Deferred` result (device scalars).

    Raises:
        TypeError: ``x`` cannot be turned into an array.
        ValueError: ``x`` holds no data (e.g. a torch meta tensor).
    """
    if isinstance(x, np.ndarray):
        return x
    root = type(x).__module__.partition(".")[0]
    fn = _converter(root)
    if fn is not None:
        out = fn(x)
        if isinstance(out, Deferred):
            return out if defer else out.resolve()
        return out
    try:
        if hasattr(x, "__array__") or isinstance(x, int | float | bool | complex | list | tuple | np.generic):
            return np.asarray(x)
        if hasattr(x, "__dlpack__"):
            return np.from_dlpack(x)
        return np.asarray(x)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"tag {tag!r}: cannot convert {type(x).__name__} to an array: {exc}") from None
