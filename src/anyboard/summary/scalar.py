"""Scalar summaries.

Default encoding: a legacy ``simple_value`` (float32) with no metadata, which
both TensorBoard loaders file under the ``scalars`` plugin. With a display name
or description, or ``new_style=True``, a rank-0 ``DT_FLOAT`` tensor with plugin
``scalars`` metadata instead (the Rust loader ignores metadata on a
``simple_value`` and drops ``DT_DOUBLE`` or rank-1 scalars, so neither is
written; ``double_precision`` is accepted for torch compatibility and stored
as float32).
"""

from __future__ import annotations

import math
import struct

from anyboard.proto.summary_pb2 import Summary
from anyboard.proto.types_pb2 import DT_FLOAT
from anyboard.summary.metadata import metadata

PLUGIN_NAME = "scalars"
_F32 = struct.Struct("<f")
_PREFIX: dict[str, bytes] = {}


def float32_bytes(value: float) -> bytes:
    """Pack ``value`` as float32; magnitudes past float32's range become ±inf."""
    try:
        return _F32.pack(value)
    except OverflowError:
        return _F32.pack(math.copysign(math.inf, value))


def simple_value_bytes(tag: str, value: float) -> bytes:
    """Serialized ``Summary(value=[Value(tag=tag, simple_value=value)])``."""
    prefix = _PREFIX.get(tag)
    if prefix is None:
        raw = tag.encode("utf-8", "surrogatepass")
        if len(raw) > 100:  # long tags: let protobuf do the varints
            v = Summary(value=[Summary.Value(tag=tag, simple_value=0.0)]).SerializeToString()
            prefix = v[: -4]
        else:
            inner = b"\x0a" + bytes([len(raw)]) + raw + b"\x15"
            prefix = b"\x0a" + bytes([len(inner) + 4]) + inner
        if len(_PREFIX) < 100_000:
            _PREFIX[tag] = prefix
    return prefix + float32_bytes(value)


def scalar(tag: str, value: float, *, display_name: str = "", description: str = "", new_style: bool = False) -> Summary:
    """Return a scalar ``Summary`` (see the module doc for the two encodings)."""
    if not (new_style or display_name or description):
        return Summary(value=[Summary.Value(tag=tag, simple_value=value)])
    md = metadata(PLUGIN_NAME, b"", display_name=display_name, description=description)
    val = Summary.Value(tag=tag, metadata=md)
    val.tensor.dtype = DT_FLOAT
    val.tensor.tensor_content = float32_bytes(value)
    return Summary(value=[val])
