"""tfrecord framing.

One record on disk is::

    uint64 LE  length
    uint32 LE  masked_crc32c(length bytes)
    bytes      data               (a serialized Event)
    uint32 LE  masked_crc32c(data)
"""

from __future__ import annotations

import struct

from anyboard.io import crc as _crc
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
    """Return all ``payloads`` framed and concatenated (one write for a batch).

    The same bytes as ``b"".join(map(frame, payloads))``, with the header
    cache and the CRC mask inlined (this loop runs once per event).
    """
    raw_crc = _crc._crc32c
    delta = _crc.MASK_DELTA
    pack = _CRC.pack
    cache = _HEADER_CACHE
    parts: list[bytes] = []
    append = parts.append
    for data in payloads:
        n = len(data)
        head = cache.get(n)
        append(head if head is not None else _header(n))
        append(data)
        c = raw_crc(data)
        append(pack((((c >> 15) | (c << 17)) + delta) & 0xFFFFFFFF))
    return b"".join(parts)
