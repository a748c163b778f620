"""Serialized ``Event`` messages built without protobuf on the hot path.

``event_bytes`` writes exactly what ``Event(wall_time=w, step=s,
summary=<bytes>).SerializeToString()`` writes (fields 1, 2, 5), so a scalar
event costs a few byte concatenations instead of building nested messages.
"""

from __future__ import annotations

import math
import struct
import time

from anyboard.proto.event_pb2 import Event, SessionLog, SourceMetadata

_WALL = struct.Struct("<d")
FILE_VERSION = "brain.Event:2"
WRITER_NAME = "anyboard"


def varint(value: int) -> bytes:
    """Encode a protobuf varint (negative int64 values as 10-byte two's complement)."""
    value &= 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_SMALL = [varint(i) for i in range(1 << 14)]


def length_prefix(n: int) -> bytes:
    """Varint length of a length-delimited field."""
    return _SMALL[n] if n < 16384 else varint(n)


_STEP_FIELD = [b""] + [b"\x10" + v for v in _SMALL[1:]]  # step 0 is the default: omitted
_HEAD = struct.Struct("<Bd")


def step_field(step: int) -> bytes:
    """The encoded ``step`` field of an ``Event`` (empty for 0)."""
    return _STEP_FIELD[step] if 0 <= step < 16384 else b"\x10" + varint(step)


def wall_field(wall_time: float) -> bytes:
    """The encoded ``wall_time`` field of an ``Event`` (empty for +0.0, as protobuf writes it)."""
    if wall_time or math.copysign(1.0, wall_time) < 0:
        return _HEAD.pack(9, wall_time)
    return b""


def event_bytes(wall_time: float, step: int, summary: bytes) -> bytes:
    """Return a serialized ``Event`` holding a serialized ``Summary``."""
    n = len(summary)
    return b"".join(
        (
            _HEAD.pack(9, wall_time) if wall_time else wall_field(wall_time),
            _STEP_FIELD[step] if 0 <= step < 16384 else b"\x10" + varint(step),
            b"\x2a",
            _SMALL[n] if n < 16384 else varint(n),
            summary,
        )
    )


def header_events(wall_time: float | None = None, purge_step: int | None = None) -> list[bytes]:
    """The records that open every event file.

    First ``Event(file_version="brain.Event:2")``. With ``purge_step=P``, then
    two ``SessionLog(START)`` events at step ``P``: TensorBoard's Python loader
    treats the first START it ever sees in a run as the session start and
    only later ones as restarts, so one START purges nothing when no earlier
    file wrote one; two always purge every value with ``step >= P`` in all tags
    of the run. The Rust loader ignores ``SessionLog``; it drops a tag's
    values at steps ``>= s`` when a value at step ``s`` arrives, so rewritten
    tags are purged there too.
    """
    wall = time.time() if wall_time is None else wall_time
    first = Event(wall_time=wall, file_version=FILE_VERSION, source_metadata=SourceMetadata(writer=WRITER_NAME))
    records = [first.SerializeToString()]
    if purge_step is not None:
        start = Event(wall_time=wall, step=purge_step, session_log=SessionLog(status=SessionLog.START))
        records += [start.SerializeToString()] * 2
    return records
