"""torch tensors to NumPy, without synchronizing CUDA for scalars.

Imported only when a torch object is seen (by :mod:`anyboard.adapters`).

Conversions (the result may share memory with a CPU tensor; the writer
copies it):

- ``requires_grad`` tensors and ``nn.Parameter``: detached.
- bfloat16 and float8 types: widened exactly to float32 (NumPy has no such
  types); complex32 to complex64. float16 stays float16 (NumPy has it; every
  float16 is exactly a float32 later if a summary needs one).
- bool, integer (incl. uint16/32/64), 0-d and non-contiguous tensors: as is.
- conjugate/negative views are resolved; quantized tensors dequantized;
  sparse tensors made dense.
- Tensors without data (``meta`` device, ``FakeTensor`` and other
  ``__torch_dispatch__`` subclasses that cannot give their values) raise
  ``ValueError``: torch's own writer logs whatever memory it finds.

CUDA: with ``defer=True`` (scalars), a one-element real CUDA tensor is not
synchronized: it is copied on the device (``detach().clone()``, so later
in-place changes by the training loop do not reach the logged value), copied
``non_blocking`` into pinned host memory, and a ``torch.cuda.Event`` is
recorded on the current stream. The returned :class:`CudaValue` waits for that
event in :meth:`CudaValue.resolve`, on the writer's background thread.
Arrays (``defer=False``) are copied to the host synchronously: the writer
needs their snapshot at call time. Other devices (mps, xpu, ...) use
``.cpu()``. No ``torch.cuda`` function is called for CPU tensors.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from anyboard.adapters import Deferred, Ready

_WIDEN: dict[str, str] = {"bfloat16": "float32", "complex32": "complex64"}


def _widened_dtype(torch: Any, dtype: Any) -> Any:
    """The dtype a tensor of ``dtype`` is converted to before ``.numpy()`` (or None)."""
    name = str(dtype).rpartition(".")[2]
    if name in _WIDEN:
        return getattr(torch, _WIDEN[name])
    if name.startswith(("float8", "float4")):
        return torch.float32
    return None


def check_has_data(x: Any) -> None:
    """Raise ``ValueError`` if ``x`` is a tensor without real data (meta, fake)."""
    if x.is_meta or x.device.type == "meta":
        raise ValueError(
            f"cannot log a meta tensor (shape {tuple(x.shape)}, dtype {x.dtype}): it has no data; "
            "materialize it (e.g. .to_empty(device=...) and initialize) first"
        )
    cls = type(x)
    dispatch = getattr(cls, "__torch_dispatch__", None)
    if (
        cls is not _torch().Tensor
        and dispatch is not None
        and dispatch is not _torch()._C._disabled_torch_dispatch_impl
    ):
        raise ValueError(
            f"cannot log a {cls.__module__}.{cls.__name__} (shape {tuple(x.shape)}, dtype {x.dtype}): "
            "this tensor subclass does not hold plain data (a FakeTensor from FakeTensorMode/torch.compile "
            "tracing has none; for a DTensor log .to_local() or .full_tensor())"
        )


def _torch() -> Any:
    import torch

    return torch


def _host_tensor(x: Any, torch: Any) -> Any:
    """A detached, dense, data-carrying CPU tensor of a NumPy-supported dtype (synchronous)."""
    check_has_data(x)
    t = x.detach()
    if t.layout != torch.strided:
        t = t.to_dense()
    if t.is_quantized:
        t = t.dequantize()
    wide = _widened_dtype(torch, t.dtype)
    if wide is not None:
        t = t.to(wide)  # on the device: less to copy for float8, exact for all
    if t.device.type != "cpu":
        t = t.cpu()
    if t.is_conj():
        t = t.resolve_conj()
    if t.is_neg():
        t = t.resolve_neg()
    if type(t) is not torch.Tensor:
        t = t.as_subclass(torch.Tensor)
    return t


def to_numpy(x: Any, *, defer: bool = False) -> Any:
    """Return a torch object as a NumPy array, or a :class:`Deferred` (see module doc).

    Args:
        x: a ``torch.Tensor`` (any device, dtype, layout) or another torch
            object NumPy understands (``torch.Size``).
        defer: return a :class:`CudaValue` for a one-element real CUDA
            tensor instead of waiting for its copy.

    Raises:
        ValueError: the tensor has no data (meta, fake).
        TypeError: ``x`` is not convertible (e.g. a nested tensor).
    """
    import torch

    if not isinstance(x, torch.Tensor):
        return np.asarray(x)
    if getattr(x, "is_nested", False):
        raise TypeError("cannot log a nested (jagged) tensor; log its components one by one")
    if (type(x) is torch.Tensor or type(x) is torch.nn.Parameter) and x.device.type == "cpu":
        # The common case (a plain CPU tensor or Parameter of a NumPy dtype): a view of its
        # memory in about 2 µs instead of the 20 µs of the checks below. What .numpy() refuses
        # (bfloat16, sparse, quantized, conjugate or negative views) takes the general path.
        try:
            return x.detach().numpy()
        except (RuntimeError, TypeError):
            pass
    deferrable = x.numel() == 1 and x.layout == torch.strided and not (x.dtype.is_complex or x.is_quantized)
    if defer and x.device.type == "cuda" and deferrable:
        check_has_data(x)
        return CudaValue(x)
    try:
        return _host_tensor(x, torch).numpy()
    except RuntimeError as exc:
        raise TypeError(f"cannot convert a {type(x).__name__} of dtype {x.dtype} to NumPy: {exc}") from None


def snapshot(x: Any) -> Deferred:
    """A :class:`Deferred` snapshot of tensor ``x`` taken now, on any device.

    On CUDA it is a :class:`CudaValue` (no synchronization); elsewhere the
    value is copied at once (:class:`~anyboard.adapters.Ready`).
    """
    import torch

    if x.device.type == "cuda":
        check_has_data(x)
        return CudaValue(x)
    return Ready(np.array(_host_tensor(x, torch).numpy(), copy=True))


class CudaValue(Deferred):
    """A CUDA tensor's value on its way to pinned host memory.

    Construction (on the caller's thread) queues, on the current stream of the
    tensor's device: a device-side copy, a ``non_blocking`` copy into pinned
    host memory, and an event. Nothing waits. :meth:`resolve` (any thread)
    waits for the event and returns the host array.
    """

    __slots__ = ("_device_copy", "_event", "_host", "_value")

    def __init__(self, x: Any) -> None:
        import torch

        with torch.cuda.device(x.device):
            src = x.detach()
            wide = _widened_dtype(torch, src.dtype)
            # A new tensor either way: later in-place changes to ``x`` cannot reach it.
            src = src.to(wide) if wide is not None else src.clone()
            if src.is_conj():
                src = src.resolve_conj()
            if src.is_neg():
                src = src.resolve_neg()
            host = torch.empty(src.shape, dtype=src.dtype, device="cpu", pin_memory=True)
            host.copy_(src, non_blocking=True)
            event = torch.cuda.Event()
            event.record(torch.cuda.current_stream(x.device))
        self._device_copy = src  # kept alive until the copy is done
        self._host = host
        self._event = event
        self._value: np.ndarray | None = None

    def resolve(self) -> np.ndarray:
        """Wait for the device-to-host copy; return the host array (cached)."""
        if self._value is None:
            self._event.synchronize()
            self._value = self._host.numpy()
            self._device_copy = None
        return self._value
