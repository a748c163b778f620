"""NumPy arrays to and from ``TensorProto``.

Numeric arrays are stored as little-endian row-major bytes in
``tensor_content``; strings (``str`` or ``bytes`` elements) as UTF-8 in
``string_val``. float16 is stored as ``DT_HALF``; bfloat16 never reaches here
(adapters widen it exactly to float32).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from anyboard.proto import types_pb2
from anyboard.proto.tensor_pb2 import TensorProto

_TO_DTYPE: dict[np.dtype[Any], types_pb2.DataType] = {
    np.dtype(np.float16): types_pb2.DT_HALF,
    np.dtype(np.float32): types_pb2.DT_FLOAT,
    np.dtype(np.float64): types_pb2.DT_DOUBLE,
    np.dtype(np.int8): types_pb2.DT_INT8,
    np.dtype(np.int16): types_pb2.DT_INT16,
    np.dtype(np.int32): types_pb2.DT_INT32,
    np.dtype(np.int64): types_pb2.DT_INT64,
    np.dtype(np.uint8): types_pb2.DT_UINT8,
    np.dtype(np.uint16): types_pb2.DT_UINT16,
    np.dtype(np.uint32): types_pb2.DT_UINT32,
    np.dtype(np.uint64): types_pb2.DT_UINT64,
    np.dtype(np.bool_): types_pb2.DT_BOOL,
    np.dtype(np.complex64): types_pb2.DT_COMPLEX64,
    np.dtype(np.complex128): types_pb2.DT_COMPLEX128,
}
_FROM_DTYPE: dict[int, np.dtype[Any]] = {v: k for k, v in _TO_DTYPE.items()}


def supported_dtypes() -> list[np.dtype[Any]]:
    """NumPy dtypes :func:`make_tensor` stores (plus strings)."""
    return list(_TO_DTYPE)


def make_tensor(array: np.ndarray, *, tag: str = "") -> TensorProto:
    """Return ``array`` as a ``TensorProto`` (shape kept, any rank).

    Raises:
        TypeError: the dtype has no TensorBoard equivalent (object arrays
            holding non-strings, structured dtypes, ...).
    """
    array = np.asarray(array)
    proto = TensorProto()
    for size in array.shape:
        proto.tensor_shape.dim.add().size = size
    if array.dtype.kind in "US" or (array.dtype == object and all(isinstance(x, str | bytes) for x in array.flat)):
        proto.dtype = types_pb2.DT_STRING
        proto.string_val.extend(x.encode("utf-8") if isinstance(x, str) else bytes(x) for x in array.flat)
        return proto
    dtype = _TO_DTYPE.get(array.dtype.newbyteorder("=") if array.dtype.byteorder not in "=|" else array.dtype)
    if dtype is None:
        raise TypeError(
            f"tag {tag!r}: cannot store dtype {array.dtype} in a tensor; expected a numeric, bool or string array"
        )
    proto.dtype = dtype
    proto.tensor_content = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
    return proto


def make_ndarray(proto: TensorProto) -> np.ndarray:
    """Inverse of :func:`make_tensor` (also reads ``float_val``/``double_val``/... fields)."""
    shape = tuple(d.size for d in proto.tensor_shape.dim)
    if proto.dtype == types_pb2.DT_STRING:
        return np.array(list(proto.string_val), dtype=object).reshape(shape)
    dtype = _FROM_DTYPE[proto.dtype]
    if proto.tensor_content:
        return np.frombuffer(proto.tensor_content, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(shape)
    for field in ("float_val", "double_val", "int_val", "int64_val", "bool_val", "uint32_val", "uint64_val"):
        values = getattr(proto, field)
        if len(values):
            out = np.array(values, dtype=dtype)
            return out.reshape(shape) if out.size == int(np.prod(shape)) else np.full(shape, out[0], dtype)
    if proto.half_val:
        return np.array(proto.half_val, dtype=np.uint16).view(np.float16).reshape(shape)
    return np.zeros(shape, dtype)
