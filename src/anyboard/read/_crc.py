"""CRC-32C of many short records at once, in NumPy (no per-record Python call).

CRC-32C without its initial and final inversion is linear over GF(2), so for a
record of ``L`` bytes ``d[0..L-1]``::

    crc32c(d) = crc32c(zeros(L)) ^ T[L-1][d[0]] ^ T[L-2][d[1]] ^ ... ^ T[0][d[L-1]]

where ``T[k][b]`` is the register after the byte ``b`` followed by ``k`` zero
bytes, starting from a zero register. ``T`` (``uint32``, shape ``(K, 256)``) is
built once, 256 entries per row, and every record of one length is then
checked with one table lookup and one XOR per byte position, across all the
records of that length together. The result equals the ``crc32c`` package's
(tested), and the reader compares its masked value to the stored one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from anyboard.io.crc import MASK_DELTA

_POLY = 0x82F63B78  # CRC-32C (Castagnoli), reflected
_tables: Any = None  # uint32 (K, 256), grown on demand
_zero_crc: dict[int, int] = {}


def _byte_table() -> Any:
    t = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        t = np.where(t & 1, (t >> 1) ^ np.uint32(_POLY), t >> 1).astype(np.uint32)
    return t


def position_tables(length: int) -> Any:
    """``T`` with at least ``length`` rows (see the module docstring)."""
    global _tables
    if _tables is None or _tables.shape[0] < length:
        base = _byte_table()
        rows = max(length, 64 if _tables is None else 2 * _tables.shape[0])
        out = np.empty((rows, 256), dtype=np.uint32)
        out[0] = base
        for k in range(1, rows):
            prev = out[k - 1]
            out[k] = base[prev & 0xFF] ^ (prev >> 8)
        _tables = out
    return _tables


_byte_list: list[int] = []


def small_crc32c(data: bytes | memoryview) -> int:
    """CRC-32C of a few bytes (a record header, zeros) by table, without the ``crc32c`` package.

    Reading a log of short records then never imports that package (its import reads its
    own metadata: tens of milliseconds and megabytes, more than reading 1e5 scalars).
    """
    if not _byte_list:
        _byte_list.extend(_byte_table().tolist())
    table = _byte_list
    crc = 0xFFFFFFFF
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def small_masked_crc32c(data: bytes | memoryview) -> int:
    """:func:`small_crc32c`, masked as tfrecords store it."""
    crc = small_crc32c(data)
    return (((crc >> 15) | (crc << 17)) + MASK_DELTA) & 0xFFFFFFFF


def _crc_of_zeros(length: int) -> int:
    value = _zero_crc.get(length)
    if value is None:
        value = small_crc32c(bytes(length))
        _zero_crc[length] = value
    return value


def masked_crcs(buf: Any, starts: Any, length: int) -> Any:
    """Masked CRC-32C (``uint32``) of ``buf[s : s + length]`` for every ``s`` in ``starts``.

    Args:
        buf: ``uint8`` array holding the records.
        starts: ``int64`` array of start offsets into ``buf``; every record must lie inside it.
        length: the common length of these records (``>= 0``).
    """
    n = len(starts)
    acc = np.full(n, _crc_of_zeros(length), dtype=np.uint32)
    if length:
        tables = position_tables(length)
        rows = np.lib.stride_tricks.as_strided(buf, shape=(len(buf) - length + 1, length), strides=(1, 1))[starts]
        for j in range(length):
            acc ^= tables[length - 1 - j][rows[:, j]]
    # mask: ((crc >> 15) | (crc << 17)) + delta, modulo 2**32 (uint32 arithmetic wraps)
    rotated = (acc >> np.uint32(15)) | (acc << np.uint32(17))
    return rotated + np.uint32(MASK_DELTA)
