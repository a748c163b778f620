"""Read event files back: records with CRC checks, then ``Event`` protos.

Rules (what a crash or a damaged file looks like to this reader):

- A final record cut short (a writer killed mid-write) ends the file cleanly:
  every complete record before it is returned, nothing is raised.
- A bad length CRC, a bad data CRC, or a payload that is not an ``Event``
  raises :class:`RecordError` naming the file and the byte offset of the bad
  record, after every good record before it has been yielded.
- The reader never allocates more than the file holds and never loops: a
  length larger than the rest of the file is a torn tail.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from typing import BinaryIO

from anyboard.io.crc import masked_crc32c
from anyboard.io.records import FOOTER_SIZE, HEADER_SIZE
from anyboard.proto.event_pb2 import Event

_LEN = struct.Struct("<Q")
_CRC = struct.Struct("<I")


class RecordError(ValueError):
    """A corrupt record: ``path`` and ``offset`` locate it."""

    def __init__(self, path: str, offset: int, reason: str) -> None:
        super().__init__(f"{path}: corrupt record at byte offset {offset}: {reason}")
        self.path = path
        self.offset = offset
        self.reason = reason


_CHUNK = 16 << 20


def _read_exact(f: BinaryIO, n: int) -> bytes:
    """Read up to ``n`` bytes (fewer only at end of file).

    Reads in chunks of at most 16 MiB, so a corrupt length claiming more than
    the file holds costs no more memory than the file's actual rest (one
    ``read(n)`` would allocate all ``n`` bytes up front).
    """
    chunks = []
    while n > 0:
        chunk = f.read(min(n, _CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def iter_records(path: str | os.PathLike[str], *, fileobj: BinaryIO | None = None) -> Iterator[tuple[int, bytes]]:
    """Yield ``(offset, data)`` for each intact record of the file at ``path``.

    ``fileobj`` may be given to read from an already open binary file (for
    example an fsspec file); ``path`` then only names it in errors.
    """
    name = os.fspath(path)
    f = fileobj if fileobj is not None else open(name, "rb")  # noqa: SIM115 - closed below
    try:
        offset = 0
        while True:
            header = _read_exact(f, HEADER_SIZE)
            if len(header) < HEADER_SIZE:
                return  # clean end of file, or a torn header
            (length,) = _LEN.unpack_from(header)
            (length_crc,) = _CRC.unpack_from(header, 8)
            if masked_crc32c(header[:8]) != length_crc:
                raise RecordError(name, offset, "length CRC mismatch")
            body = _read_exact(f, length + FOOTER_SIZE)
            if len(body) < length + FOOTER_SIZE:
                return  # torn tail: the writer died mid-record
            data = body[:length]
            (data_crc,) = _CRC.unpack_from(body, length)
            if masked_crc32c(data) != data_crc:
                raise RecordError(name, offset, "data CRC mismatch")
            yield offset, data
            offset += HEADER_SIZE + length + FOOTER_SIZE
    finally:
        if fileobj is None:
            f.close()


def iter_events(path: str | os.PathLike[str], *, fileobj: BinaryIO | None = None) -> Iterator[Event]:
    """Yield the ``Event`` protos of one event file, checking every CRC."""
    name = os.fspath(path)
    for offset, data in iter_records(name, fileobj=fileobj):
        event = Event()
        try:
            event.ParseFromString(data)
        except Exception as exc:  # noqa: BLE001 - protobuf raises DecodeError (and others on some backends)
            raise RecordError(name, offset, f"payload is not an Event ({exc})") from None
        yield event


def event_files(run_dir: str | os.PathLike[str]) -> list[str]:
    """Return the event files directly in ``run_dir``, in the order readers use (by name)."""
    base = os.fspath(run_dir)
    names = sorted(n for n in os.listdir(base) if "tfevents" in n and os.path.isfile(os.path.join(base, n)))
    return [os.path.join(base, n) for n in names]


def iter_run_events(run_dir: str | os.PathLike[str]) -> Iterator[Event]:
    """Yield the events of every event file directly in ``run_dir``, files in name order."""
    for path in event_files(run_dir):
        yield from iter_events(path)
