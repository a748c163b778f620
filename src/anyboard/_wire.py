"""Protobuf wire-format pieces of an ``Event`` envelope, shared by ``io`` and ``summary``.

``Event`` fields 1 (``wall_time``, fixed64: key ``0x09``) and 2 (``step``,
varint: key ``0x10``) encoded exactly as protobuf serializes them: a field
holding its default (+0.0, 0) is omitted, a negative step is a 10-byte
two's-complement varint. Neither layer imports the other; both import this.
"""

from __future__ import annotations

import math
import struct

WALL_HEAD = struct.Struct("<Bd")  # key 0x09, then the float64 little-endian


def varint(value: int) -> bytes:
    """Encode a protobuf varint (negative int64 values as 10-byte two's complement)."""
    value &= 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


# Built without calling varint 16384 times (that took 7 ms of the import): one byte below
# 128, then two (low 7 bits with the continuation bit, then the rest).
SMALL_VARINTS = [bytes((i,)) for i in range(128)] + [bytes(((i & 0x7F) | 0x80, i >> 7)) for i in range(128, 1 << 14)]
"""``varint(i)`` for 0 <= i < 16384 (lengths and common steps)."""
STEP_FIELDS = [b""] + [b"\x10" + v for v in SMALL_VARINTS[1:]]
"""The encoded ``step`` field for steps 0..16383 (empty for the default 0)."""


def length_prefix(n: int) -> bytes:
    """Varint length of a length-delimited field."""
    return SMALL_VARINTS[n] if n < 16384 else varint(n)


def step_field(step: int) -> bytes:
    """The encoded ``step`` field of an ``Event`` (empty for 0)."""
    return STEP_FIELDS[step] if 0 <= step < 16384 else b"\x10" + varint(step)


def wall_field(wall_time: float) -> bytes:
    """The encoded ``wall_time`` field of an ``Event`` (empty for +0.0, as protobuf writes it)."""
    if wall_time or math.copysign(1.0, wall_time) < 0:
        return WALL_HEAD.pack(9, wall_time)
    return b""


def event_bytes(wall_time: float, step: int, summary: bytes) -> bytes:
    """The serialized ``Event(wall_time=wall_time, step=step, summary=<summary>)``: the one envelope encoder.

    Fields 1 (``wall_time``), 2 (``step``) and 5 (``summary``, the serialized
    ``Summary`` given), byte for byte what protobuf writes. Every event
    holding a summary is wrapped here (the writer, ``summary.scalar``,
    ``summary.text``); the column builder of many scalar events
    (``summary.scalar.simple_value_payload_groups``) lays out the same fields
    and is tested against this.
    """
    n = len(summary)
    return b"".join(
        (
            WALL_HEAD.pack(9, wall_time) if wall_time else wall_field(wall_time),
            STEP_FIELDS[step] if 0 <= step < 16384 else b"\x10" + varint(step),
            b"\x2a",
            SMALL_VARINTS[n] if n < 16384 else varint(n),
            summary,
        )
    )
