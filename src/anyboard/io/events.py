"""Serialized ``Event`` messages built without protobuf on the hot path.

``event_bytes`` writes exactly what ``Event(wall_time=w, step=s,
summary=<bytes>).SerializeToString()`` writes (fields 1, 2, 5), so a scalar
event costs a few byte concatenations instead of building nested messages.

The varint and field encoders live in :mod:`anyboard._wire` (shared with the
pure summary builders) and are re-exported here.
"""

from __future__ import annotations

import time

from anyboard._wire import SMALL_VARINTS, STEP_FIELDS, WALL_HEAD, length_prefix, step_field, varint, wall_field

__all__ = ["FILE_VERSION", "event_bytes", "header_events", "length_prefix", "step_field", "varint", "wall_field"]
from anyboard.proto.event_pb2 import Event, SessionLog, SourceMetadata

FILE_VERSION = "brain.Event:2"
WRITER_NAME = "anyboard"
_SMALL = SMALL_VARINTS
_STEP_FIELD = STEP_FIELDS
_HEAD = WALL_HEAD


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
