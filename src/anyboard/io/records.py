"""tfrecord framing.

One record on disk is::

    uint64 LE  length
    uint32 LE  masked_crc32c(length bytes)
    bytes      data               (a serialized Event)
    uint32 LE  masked_crc32c(data)
"""

from __future__ import annotations

import struct

from anyboard.io.crc import masked_crc32c

HEADER_SIZE = 12
FOOTER_SIZE = 4
_LEN = struct.Struct("<Q")
_CRC = struct.Struct("<I")
_HEADER_CACHE: dict[int, bytes] = {}


def _header(length: int) -> bytes:
    # The 12-byte header depends only on the length: cache it (scalar events
    # repeat a handful of lengths, so this saves one CRC per record).
    header = _HEADER_CACHE.get(length)
    if header is None:
        raw = _LEN.pack(length)
        header = raw + _CRC.pack(masked_crc32c(raw))
        if len(_HEADER_CACHE) < 4096:
            _HEADER_CACHE[length] = header
    return header


def frame(data: bytes) -> bytes:
    """Return ``data`` framed as one tfrecord."""
    return _header(len(data)) + data + _CRC.pack(masked_crc32c(data))


def frame_many(payloads: list[bytes]) -> bytes:
    """Return all ``payloads`` framed and concatenated (one write for a batch)."""
    crc = masked_crc32c
    pack = _CRC.pack
    header = _header
    parts: list[bytes] = []
    append = parts.append
    for data in payloads:
        append(header(len(data)))
        append(data)
        append(pack(crc(data)))
    return b"".join(parts)
