"""Masked CRC-32C, as tfrecord framing uses it.

``masked = ((crc >> 15 | crc << 17) + 0xA282EAD8) mod 2**32`` over the
Castagnoli CRC computed by the native ``crc32c`` package (never a pure-Python
loop: that costs ~6 µs per scalar record and ~13 ms per image).

The package is imported on the first CRC, not with anyboard: its ``__init__``
reads its own version through ``importlib.metadata``, 30-45 ms here, a fifth
of ``import anyboard`` (a process that imports anyboard but never writes,
such as a non-zero rank, never pays it).
"""

from __future__ import annotations

from collections.abc import Callable

Buffer = bytes | bytearray | memoryview
CrcFunction = Callable[[Buffer], int]


def _load() -> CrcFunction:
    global _crc32c
    from crc32c import crc32c as function

    _crc32c = function
    return function


def _first_crc(data: Buffer) -> int:
    """Stands for ``crc32c.crc32c`` until the package is imported (by this call)."""
    return _load()(data)


_crc32c: CrcFunction = _first_crc

MASK_DELTA = 0xA282EAD8


def crc32c(data: Buffer) -> int:
    """Return the unmasked CRC-32C of ``data``."""
    return _crc32c(data)


def masked_crc32c(data: Buffer) -> int:
    """Return the masked CRC-32C of ``data`` (the value stored in a record)."""
    crc = _crc32c(data)
    return (((crc >> 15) | (crc << 17)) + MASK_DELTA) & 0xFFFFFFFF
