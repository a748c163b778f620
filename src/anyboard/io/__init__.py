"""I/O layer: opaque event payloads in, tfrecord-framed event files out.

Nothing here knows about summary types: it moves serialized ``Event`` bytes,
frames them, and writes them from one background thread per writer.
"""

from __future__ import annotations

from anyboard.io.crc import masked_crc32c
from anyboard.io.reader import RecordError, iter_events, iter_records, iter_run_events
from anyboard.io.records import frame

__all__ = ["RecordError", "frame", "iter_events", "iter_records", "iter_run_events", "masked_crc32c"]
