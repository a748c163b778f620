"""Framework adapters: whatever a user passes, as a NumPy array.

The only place framework names appear. A converter is chosen by the exact
root of ``type(x).__module__`` (``"torch"``, ``"mxnet"``, ``"jax"``/``"jaxlib"``),
never by a substring of ``str(type(x))``; the framework module is imported
only when one of its objects is seen. Anything else goes through
``__array__``, DLPack or :func:`numpy.asarray`; lists and tuples holding
framework tensors are converted element by element.

A converter may return a :class:`Deferred` instead of an array: a value whose
device-to-host copy has been started but not waited for. Scalars resolve it on
the background thread, so the training loop is not synchronized with the
device (see :mod:`anyboard.adapters.torch_adapter`).

Histograms of device tensors are binned on the device by
:func:`device_histogram_rows` (see :mod:`anyboard.adapters.device_histogram`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

Converter = Callable[[Any], Any]


class Deferred:
    """A value still on its way from a device; :meth:`resolve` waits for it.

    anyboard's own adapters return a ``Deferred`` only for values whose shape
    and dtype were checked at call time: for ``to_numpy(x, defer=True)`` a
    one-element bool/int/float value, so the caller's validation does not
    need the data. :meth:`resolve` may be called from any thread, more than
    once (the result is cached by the implementations).
    """

    __slots__ = ()

    def resolve(self) -> np.ndarray:  # pragma: no cover - interface
        """Wait for the copy and return the host array."""
        raise NotImplementedError


class Ready(Deferred):
    """A :class:`Deferred` that already holds its host value."""

    __slots__ = ("_value",)

    def __init__(self, value: np.ndarray) -> None:
        self._value = value

    def resolve(self) -> np.ndarray:
        return self._value


# module root -> (converter, whether it accepts ``defer=``: anyboard's own take ``(x, defer=...)``)
_CONVERTERS: dict[str, tuple[Callable[..., Any], bool]] = {}
_LAZY: dict[str, str] = {
    "torch": "anyboard.adapters.torch_adapter",
    "mxnet": "anyboard.adapters.mxnet_adapter",
    "jax": "anyboard.adapters.jax_adapter",
    "jaxlib": "anyboard.adapters.jax_adapter",
}


def register(module_root: str, converter: Converter) -> None:
    """Use ``converter(x)`` for objects whose type's module root is ``module_root``.

    The module root is the part of ``type(x).__module__`` before the first
    dot (``"cupy"`` for ``cupy.ndarray``; ``"torch"`` for
    ``torch.nn.Parameter``, whose module is ``torch.nn.parameter``).

    Args:
        module_root: a top-level module name, e.g. ``"cupy"``.
        converter: called with the object; returns a NumPy array (or a
            :class:`Deferred` for a one-element real value whose copy is in
            flight). It replaces anyboard's own converter for that root, if
            any.

    Raises:
        ValueError: ``module_root`` is not a top-level module name.
        TypeError: ``converter`` is not callable.
    """
    if not isinstance(module_root, str) or not module_root.isidentifier():
        raise ValueError(f"module_root must be a top-level module name like 'torch', got {module_root!r}")
    if not callable(converter):
        raise TypeError(f"converter must be callable, got {type(converter).__name__}")
    _CONVERTERS[module_root] = (converter, False)


def unregister(module_root: str) -> None:
    """Forget a converter given to :func:`register` (anyboard's own comes back)."""
    _CONVERTERS.pop(module_root, None)


def module_root(x: Any) -> str:
    """The top-level module name of ``type(x)`` (``"torch"``, ``"numpy"``, ...)."""
    return (getattr(type(x), "__module__", None) or "").partition(".")[0]


def _converter(root: str) -> tuple[Callable[..., Any], bool] | None:
    entry = _CONVERTERS.get(root)
    if entry is None and root in _LAZY:
        module = importlib.import_module(_LAZY[root])
        entry = _CONVERTERS.setdefault(root, (module.to_numpy, True))
    return entry


def to_numpy(x: Any, *, tag: str = "", defer: bool = False) -> Any:
    """Return ``x`` as a NumPy array.

    The result may share memory with ``x`` (callers that keep it copy it;
    ``SummaryWriter._array`` does). bfloat16 and other types NumPy lacks
    are widened exactly (to float32); float16 stays float16.

    Args:
        x: a NumPy array or scalar, a Python number, a (nested) list, or a
            framework tensor.
        tag: named in error messages.
        defer: allow a :class:`Deferred` result (one-element device values:
            the device-to-host copy is started, not waited for).

    Raises:
        TypeError: ``x`` cannot be turned into an array.
        ValueError: ``x`` holds no data (e.g. a torch meta tensor).
    """
    if isinstance(x, np.ndarray):
        if type(x) is not np.ndarray:
            x = _plain_ndarray(x, tag)
        return x if x.dtype.kind != "V" else widen_ml_dtypes(x)
    if isinstance(x, Deferred):
        return x if defer else x.resolve()
    root = module_root(x)
    entry = _converter(root) if root != "numpy" else None
    if entry is not None:
        fn, takes_defer = entry
        try:
            out = fn(x, defer=defer) if takes_defer else fn(x)
        except ValueError as exc:
            raise ValueError(f"tag {tag!r}: {exc}") from None
        except TypeError as exc:
            raise TypeError(f"tag {tag!r}: {exc}") from None
        if isinstance(out, Deferred):
            return out if defer else out.resolve()
        if not isinstance(out, np.ndarray):
            out = np.asarray(out)
        return out if out.dtype.kind != "V" else widen_ml_dtypes(out)
    try:
        if isinstance(x, list | tuple):
            out = _sequence(x, tag)
            return out if out.dtype.kind != "V" else widen_ml_dtypes(out)
        if hasattr(x, "__array__") or isinstance(x, int | float | bool | complex | str | bytes | np.generic):
            out = np.asarray(x)
        elif hasattr(x, "__dlpack__"):
            out = np.from_dlpack(x)
        else:
            out = np.asarray(x)
    except (ValueError, TypeError, RuntimeError, BufferError) as exc:
        raise TypeError(f"tag {tag!r}: cannot convert {type(x).__name__} to an array: {exc}") from None
    if out.dtype == object and out.ndim == 0:
        if hasattr(x, "__float__") and not isinstance(x, str | bytes):
            return np.asarray(float(x))  # e.g. decimal.Decimal, fractions.Fraction
        raise TypeError(f"tag {tag!r}: cannot convert {type(x).__name__} to an array")
    return out if out.dtype.kind != "V" else widen_ml_dtypes(out)


def _plain_ndarray(x: np.ndarray, tag: str) -> np.ndarray:
    """A NumPy subclass as a plain array; a masked array is refused (its hidden values would be written)."""
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(
            f"tag {tag!r}: a masked array's masked values would be logged as they are underneath; "
            "pass .filled(value) or .compressed() instead"
        )
    return np.asarray(x).view(np.ndarray)  # np.matrix and other subclasses: the same data, plain semantics


def widen_ml_dtypes(a: np.ndarray) -> np.ndarray:
    """``a`` with an ``ml_dtypes`` dtype (bfloat16, float8_*, int4, ...) widened exactly.

    floats become float32, signed/unsigned narrow ints int8/uint8; other
    arrays are returned unchanged.
    """
    if a.dtype.kind != "V" or not a.dtype.type.__module__.startswith("ml_dtypes"):
        return a
    name = a.dtype.name
    if name.startswith("uint"):
        return a.astype(np.uint8)
    if name.startswith("int"):
        return a.astype(np.int8)
    return a.astype(np.float32)


def _sequence(x: list[Any] | tuple[Any, ...], tag: str) -> np.ndarray:
    """A (nested) list/tuple as an array; framework tensors inside are converted first."""
    if any(_needs_adapter(e) for e in x):
        return np.asarray([e if isinstance(e, int | float | bool | complex) else to_numpy(e, tag=tag) for e in x])
    return np.asarray(x)


def _needs_adapter(e: Any) -> bool:
    if isinstance(e, list | tuple):
        return any(_needs_adapter(i) for i in e)
    root = module_root(e)
    return root in _LAZY or root in _CONVERTERS


def device_histogram_rows(x: Any, bins: Any, max_bins: int | None = None, *, tag: str = "") -> Any:
    """Histogram rows of a device tensor, binned on its device; ``None`` if not applicable.

    See :func:`anyboard.adapters.device_histogram.device_histogram_rows`. Only
    a torch tensor on a non-CPU device with ``bins`` ``"tensorflow"`` or
    ``"default"`` applies; torch is never imported here.
    """
    if module_root(x) != "torch" or not (isinstance(bins, str) and bins in ("tensorflow", "default")):
        return None
    from anyboard.adapters.device_histogram import device_histogram_rows as rows

    return rows(x, bins, max_bins, tag=tag)
