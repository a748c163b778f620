"""tfrecord framing.

One record on disk is::

    uint64 LE  length
    uint32 LE  masked_crc32c(length bytes)
    bytes      data               (a serialized Event)
    uint32 LE  masked_crc32c(data)
"""

from __future__ import annotations

import struct
import threading
from typing import Any

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


# -- many records at once (NumPy) --------------------------------------------------------------
#
# CRC-32C is affine over GF(2): for messages of one length L,
# crc(x) = crc(template) ^ lin(x ^ template), and the linear part of a byte v
# that sits d bytes before the end of the message is ZERO_SHIFT[d][v] (v's
# one-byte table entry pushed through d zero bytes). So the CRCs of many
# records that differ only in a few byte positions (a scalar event's wall
# time, step and value) cost one table lookup and one XOR per varying byte,
# vectorized over the records, instead of one crc32c call per record.

_POLY = 0x82F63B78  # CRC-32C, reflected


def _byte_table() -> Any:
    import numpy as np

    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(_POLY), table >> 1).astype(np.uint32)
    return table


_ZERO_SHIFT: tuple[Any, ...] = ()  # _ZERO_SHIFT[d][v]: linear CRC of byte v followed by d zero bytes
_ZERO_SHIFT_LOCK = threading.Lock()


def zero_shift(d: int) -> Any:
    """The table of the linear CRC-32C contribution of a byte ``d`` bytes before the end."""
    global _ZERO_SHIFT
    tables = _ZERO_SHIFT
    if d < len(tables):
        return tables[d]
    with _ZERO_SHIFT_LOCK:  # several writer threads may ask at once: extend a copy, publish it whole
        grown = list(_ZERO_SHIFT) or [_byte_table()]
        while len(grown) <= max(d, 63):
            t = grown[-1]
            grown.append(grown[0][t & 0xFF] ^ (t >> 8))
        _ZERO_SHIFT = tuple(grown)
        return grown[d]


def crc_columns(columns: list[tuple[Any, int]], template: bytes) -> Any:
    """Masked CRC-32C of many messages of ``len(template)`` bytes, as a uint32 array.

    Message ``i`` equals ``template`` except at the positions ``p`` named in
    ``columns``, a list of ``(bytes, p)`` where ``bytes`` (uint8, one per
    message) holds message ``i``'s byte at ``p``.
    """
    import numpy as np

    length = len(template)
    crc = None
    for col, p in columns:
        t = template[p]
        part = zero_shift(length - 1 - p).take(col ^ np.uint8(t) if t else col)
        if crc is None:
            crc = part
        else:
            crc ^= part
    base = np.uint32(_crc._crc32c(template))
    crc = np.full(len(columns[0][0]), base, dtype=np.uint32) if crc is None else crc ^ base
    crc64 = crc.astype(np.uint64)
    return ((((crc64 >> 15) | (crc64 << 17)) + _crc.MASK_DELTA) & 0xFFFFFFFF).astype("<u4")
