"""Serialized ``Event`` messages built without protobuf on the hot path.

``event_bytes`` writes exactly what ``Event(wall_time=w, step=s,
summary=<bytes>).SerializeToString()`` writes (fields 1, 2, 5), so a scalar
event costs a few byte concatenations instead of building nested messages.
It is defined once, in :mod:`anyboard._wire` (shared with the pure summary
builders, which import no ``io``), and re-exported here with the varint and
field encoders.
"""

from __future__ import annotations

import time

from anyboard._wire import event_bytes, length_prefix, step_field, varint, wall_field

__all__ = ["FILE_VERSION", "event_bytes", "header_events", "length_prefix", "step_field", "varint", "wall_field"]
from anyboard.proto.event_pb2 import Event, SessionLog, SourceMetadata

FILE_VERSION = "brain.Event:2"
WRITER_NAME = "anyboard"


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
