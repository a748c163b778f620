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

from anyboard.io.events import _HEAD, _STEP_FIELD, length_prefix, step_field, wall_field
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
            inner = (b"\x0a" + bytes([len(raw)]) + raw if raw else b"") + b"\x15"  # proto3 omits an empty tag
            prefix = b"\x0a" + bytes([len(inner) + 4]) + inner
        if len(_PREFIX) < 100_000:
            _PREFIX[tag] = prefix
    return prefix + float32_bytes(value)


_EVENT_SUFFIX: dict[str, bytes] = {}


def simple_value_event(wall_time: float, step: int, tag: str, value: float) -> bytes:
    """Serialized ``Event(wall_time, step, summary=<simple_value_bytes(tag, value)>)`` in one step.

    The summary's bytes before the float depend only on the tag and are cached
    with the event's field header, so a scalar event is four concatenations.
    """
    suffix = _EVENT_SUFFIX.get(tag)
    if suffix is None:
        prefix = simple_value_bytes(tag, 0.0)[:-4]
        suffix = b"\x2a" + length_prefix(len(prefix) + 4) + prefix
        if len(_EVENT_SUFFIX) < 100_000:
            _EVENT_SUFFIX[tag] = suffix
    try:
        packed = _F32.pack(value)
    except OverflowError:
        packed = float32_bytes(value)
    head = _HEAD.pack(9, wall_time) if wall_time else wall_field(wall_time)
    return head + (_STEP_FIELD[step] if 0 <= step < 16384 else step_field(step)) + suffix + packed


def scalar(tag: str, value: float, *, display_name: str = "", description: str = "", new_style: bool = False) -> Summary:
    """Return a scalar ``Summary`` (see the module doc for the two encodings)."""
    if not (new_style or display_name or description):
        return Summary(value=[Summary.Value(tag=tag, simple_value=value)])
    md = metadata(PLUGIN_NAME, b"", display_name=display_name, description=description)
    val = Summary.Value(tag=tag, metadata=md)
    val.tensor.dtype = DT_FLOAT
    val.tensor.tensor_content = float32_bytes(value)
    return Summary(value=[val])
