"""Scalar summaries.

Default encoding: a legacy ``simple_value`` (float32) with no metadata, which
both TensorBoard loaders file under the ``scalars`` plugin. With a display name
or description, ``summary_format="compat"`` keeps the ``simple_value`` and adds
a ``SummaryMetadata`` holding only ``display_name`` and ``summary_description``,
as tensorboardX writes it (so the legacy ``EventAccumulator`` and tbparse list
it among the scalars; the plugin loader shows the display name, the Rust
loader ignores metadata on a ``simple_value``). ``summary_format="tensor"``
with a display name or description, and ``new_style=True`` in either format,
write a rank-0 ``DT_FLOAT`` tensor with plugin ``scalars`` metadata, which
every loader shows with its display name (the Rust loader drops ``DT_DOUBLE``
or rank-1 scalars, so neither is written; ``double_precision`` is accepted for
torch compatibility and stored as float32).

On the wire a default scalar event (what :func:`simple_value_event` returns,
one row of :func:`simple_value_payload_groups`) is the serialized ``Event``::

    09 <float64 LE wall_time>          omitted when wall_time is +0.0
    10 <varint step>                   omitted when step is 0 (1-10 bytes; negative: 10)
    2a <varint len> <Summary>          Summary = 0a <len> Value
                                       Value = [0a <len> <tag UTF-8>] 15 <float32 LE value>

These are unframed payloads: this module is pure (no ``anyboard.io``
import); the tfrecord framing is :mod:`anyboard.io.records`'s.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np

from anyboard._wire import event_bytes
from anyboard.proto.summary_pb2 import Summary, SummaryMetadata
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
            prefix = v[:-4]
        else:
            inner = (b"\x0a" + bytes([len(raw)]) + raw if raw else b"") + b"\x15"  # proto3 omits an empty tag
            prefix = b"\x0a" + bytes([len(inner) + 4]) + inner
        if len(_PREFIX) < 100_000:
            _PREFIX[tag] = prefix
    return prefix + float32_bytes(value)


def simple_value_event(wall_time: float, step: int, tag: str, value: float) -> bytes:
    """Serialized ``Event(wall_time, step, summary=<simple_value_bytes(tag, value)>)``.

    The envelope is :func:`anyboard._wire.event_bytes`'s (the one encoder of it); the
    summary's bytes before the float depend only on the tag and are cached.
    """
    return event_bytes(wall_time, step, simple_value_bytes(tag, value))


def scalar(
    tag: str,
    value: float,
    *,
    display_name: str = "",
    description: str = "",
    new_style: bool = False,
    summary_format: str = "compat",
) -> Summary:
    """Return a scalar ``Summary`` (see the module doc for the encodings)."""
    if not (new_style or display_name or description):
        return Summary(value=[Summary.Value(tag=tag, simple_value=value)])
    if not new_style and summary_format == "compat":
        md = SummaryMetadata(display_name=display_name, summary_description=description)
        return Summary(value=[Summary.Value(tag=tag, simple_value=value, metadata=md)])
    md = metadata(PLUGIN_NAME, b"", display_name=display_name, description=description)
    val = Summary.Value(tag=tag, metadata=md)
    val.tensor.dtype = DT_FLOAT
    val.tensor.tensor_content = float32_bytes(value)
    return Summary(value=[val])


_EVENT_SUFFIX: dict[str, bytes] = {}


def _event_suffix(tag: str) -> bytes:
    """The bytes of a scalar event of ``tag`` after its step field, the float32 value excepted (cached).

    Taken from :func:`anyboard._wire.event_bytes` itself (its summary field header and the
    summary's prefix), so the column builder below lays out the envelope that function writes.
    """
    suffix = _EVENT_SUFFIX.get(tag)
    if suffix is None:
        event = event_bytes(0.0, 0, simple_value_bytes(tag, 0.0))  # wall time and step omitted
        suffix = event[:-4]
        if len(_EVENT_SUFFIX) < 100_000:
            _EVENT_SUFFIX[tag] = suffix
    return suffix


_VARINT_LIMITS = [1 << (7 * j) for j in range(1, 9)]  # steps >= 2**(7j) need more than j bytes


def _column(x: Any, dtype: Any, n: int) -> Any:
    return x.astype(dtype, copy=False) if isinstance(x, np.ndarray) else np.fromiter(x, dtype=dtype, count=n)


def simple_value_payload_groups(walls: Any, steps: Any, tags: Any, values: Any) -> list[tuple[Any, Any]]:
    """Serialized events ``simple_value_event(walls[i], steps[i], tags[i], values[i])`` for many ``i``.

    ``walls``, ``steps``, ``values``: sequences or arrays (float64, int64,
    float64); ``tags``: a list or tuple of str. ``values`` must all be
    floats, ``steps`` ints in int64.

    Returns a list of ``(indices, rows)``, one per event layout (tag, wall
    time field present, step varint length): ``indices`` (int64, increasing)
    are positions in the input, and row ``j`` of ``rows`` (uint8, shape
    ``(len(indices), L)``, L the layout's event length) is the serialized
    event of item ``indices[j]``, byte for byte ``simple_value_event``'s
    (layout in the module doc). The groups cover every position once. The
    rows are unframed; framing them in input order is the caller's
    (``anyboard.io.records.frame_row_groups``).
    """
    n = len(tags)
    if n == 0:
        return []
    w = _column(walls, np.float64, n)
    s = _column(steps, np.int64, n)
    with np.errstate(over="ignore", invalid="ignore"):
        f = _column(values, np.float64, n).astype(np.float32)  # overflow -> +-inf, as float32_bytes
    has_wall = (w != 0) | np.signbit(w)  # +0.0 is omitted; -0.0 and NaN are written
    k = np.zeros(n, dtype=np.int64)  # step varint bytes; 0: step 0, omitted
    k[s > 0] = 1
    for limit in _VARINT_LIMITS:
        k += s >= limit
    k[s < 0] = 10
    first = tags[0]
    unique = {first: None} if tags.count(first) == n else dict.fromkeys(tags)
    if len(unique) == 1:
        key = has_wall * 16 + k
    else:
        ids = {t: i for i, t in enumerate(unique)}
        key = np.fromiter(map(ids.__getitem__, tags), dtype=np.int64, count=n) * 32 + has_wall * 16 + k
    tag_list = list(unique)
    lo, hi = int(key.min()), int(key.max())
    if lo == hi:
        return [(np.arange(n), _rows(w, s, f, tag_list[lo >> 5], bool(lo & 16), lo & 15))]
    order = np.argsort(key, kind="stable")  # stable: positions increase within a group
    sorted_keys = key[order]
    bounds = np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1
    groups = []
    for idx in np.split(order, bounds):
        g = int(key[idx[0]])
        groups.append((idx, _rows(w[idx], s[idx], f[idx], tag_list[g >> 5], bool(g & 16), g & 15)))
    return groups


def _rows(w: Any, s: Any, f: Any, tag: str, has_wall: bool, k: int) -> Any:
    """Serialized events of one layout, as uint8 rows ``(len(w), L)``, filled column by column."""
    suffix = _event_suffix(tag)
    n = len(w)
    fields: list[tuple[str, str]] = []
    if has_wall:
        fields += [("wtag", "u1"), ("wall", "<f8")]
    if k:
        fields += [("stag", "u1"), ("step", f"V{k}")]
    fields += [("suffix", f"V{len(suffix)}"), ("value", "<f4")]
    rec = np.empty(n, dtype=np.dtype(fields))  # packed: itemsize is the event length
    if has_wall:
        rec["wtag"] = 9
        rec["wall"] = w
    if k:
        rec["stag"] = 0x10
        u = s.view(np.uint64)
        step = np.empty((n, k), dtype=np.uint8)
        for j in range(k):
            byte = (u >> np.uint64(7 * j)).astype(np.uint8) & 0x7F
            step[:, j] = byte | 0x80 if j < k - 1 else byte
        rec["step"] = step.view(f"V{k}").reshape(n)
    rec["suffix"] = np.frombuffer(suffix, dtype=f"V{len(suffix)}")[0]
    rec["value"] = f
    return rec.view(np.uint8).reshape(n, rec.dtype.itemsize)
