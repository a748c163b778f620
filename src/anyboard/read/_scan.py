"""Find and CRC-check every record of an event file, a block of the file at a time.

An event file is a sequence of tfrecords (``uint64`` length, masked CRC of the
length, ``length`` data bytes, masked CRC of the data; :mod:`anyboard.io.records`).
:func:`scan_blocks` reads the file in blocks of about 1 MiB (so memory stays
bounded by a block plus what the caller keeps), walks the record headers in a
tight loop, and checks the CRCs in NumPy: every distinct length's header CRC
once, the data CRCs of short records by :func:`anyboard.read._crc.masked_crcs`,
long ones by the ``crc32c`` package.

The rules are those of :mod:`anyboard.io.reader` (and TensorBoard's loaders):
a record cut short at the end of the file (a writer killed mid-write) ends the
file silently; a bad length CRC or data CRC ends it with a :class:`Damage`
naming the byte offset, after every good record before it.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

from anyboard.io.crc import masked_crc32c
from anyboard.read._crc import masked_crcs, small_masked_crc32c

BLOCK = 1 << 20
PAD = 64  # zero bytes after the valid data of a block, so vectorized parsers may read a little past a record
_SHORT = 256  # records up to this many data bytes get their CRCs checked in NumPy, by length group
_GROUP = 8  # ... when at least this many share a length (else one crc32c call each)
_U64 = struct.Struct("<Q")


@dataclass
class Damage:
    """The first bad record of a file: ``offset`` is its byte offset, ``reason`` what is wrong."""

    path: str
    offset: int
    reason: str


@dataclass
class Block:
    """Intact records of one block of a file.

    ``buf`` is a ``uint8`` array (valid bytes followed by at least :data:`PAD` zero
    bytes); ``starts`` (``int64``) are the offsets in ``buf`` of each record's data and
    ``lengths`` (``int64``) their lengths; ``offsets`` (``int64``) the byte offset in the
    file of each record's header. ``index`` is the number of records before this block
    in the file.
    """

    buf: Any
    starts: Any
    lengths: Any
    offsets: Any
    index: int


def window(buf: Any, width: int) -> Any:
    """A read-only ``(len(buf) - width + 1, width)`` view of ``buf``: row ``p`` is ``buf[p : p + width]``.

    ``window(buf, w)[positions]`` gathers ``w`` bytes at each position in one fancy index.
    """
    return np.lib.stride_tricks.as_strided(buf, shape=(len(buf) - width + 1, width), strides=(1, 1), writeable=False)


def small_unique(values: Any) -> tuple[Any, Any, Any]:
    """``np.unique(values, return_inverse=True, return_counts=True)`` for non-negative ints,
    in O(n) through a count table when the values are small (record lengths)."""
    if len(values) and int(values.min()) >= 0 and int(values.max()) < (1 << 20):
        counts = np.bincount(values)
        uniq = np.flatnonzero(counts)
        lut = np.zeros(len(counts), dtype=np.int64)
        lut[uniq] = np.arange(len(uniq))
        return uniq, lut[values], counts[uniq]
    uniq, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    return uniq, inverse.ravel(), counts


_PROBE = 48  # records walked one by one before looking for a repeating pattern of lengths
_PERIOD = 16  # longest pattern looked for


def _walk(data: bytes | bytearray, valid: int) -> tuple[Any, int]:
    """Header offsets (``int64``) of the records lying wholly inside ``data[:valid]``, and where the next begins.

    Training logs repeat a short cycle of record lengths (one per tag, until a step
    gets a longer varint). After a short walk header by header, the last cycle is
    extrapolated over the rest of the block and every predicted header is checked
    at once: each predicted offset must hold exactly the predicted length. The
    records up to the first wrong prediction are taken (each one's successor is
    where its own length says, so the chain is the one a header-by-header walk
    finds), and the walk goes on from there.
    """
    unpack = _U64.unpack_from
    parts: list[Any] = []
    off = 0
    last = valid - 16  # a record needs at least 16 bytes
    buf = None
    while off <= last:
        seg: list[int] = []
        append = seg.append
        for _ in range(_PROBE):
            append(off)
            off += unpack(data, off)[0] + 16
            if off > last:
                break
        if off > valid:  # the last header's record runs past the valid bytes
            off = seg.pop()
            parts.append(seg)
            break
        parts.append(seg)
        if off > last or len(seg) < 2 * 2:
            continue
        sizes = [b - a for a, b in itertools.pairwise(seg)] + [off - seg[-1]]
        period = next(
            (p for p in range(1, min(_PERIOD, len(sizes) // 2) + 1) if sizes[-2 * p : -p] == sizes[-p:]),
            0,
        )
        if not period:
            continue
        pattern = np.array(sizes[-period:], dtype=np.int64)
        cycles = (valid - off) // int(pattern.sum()) + 1
        predicted = np.tile(pattern, cycles)
        heads = np.empty(len(predicted), dtype=np.int64)
        heads[0] = off
        np.cumsum(predicted[:-1], out=heads[1:])
        heads[1:] += off
        inside = heads + predicted <= valid
        heads, predicted = heads[inside], predicted[inside]
        if not len(heads):
            continue
        if buf is None:
            buf = np.frombuffer(data, dtype=np.uint8)
        actual = window(buf, 8)[heads].view("<u8").ravel()
        wrong = np.flatnonzero(actual != (predicted - 16).astype(np.uint64))
        m = int(wrong[0]) if len(wrong) else len(heads)
        if m:
            parts.append(heads[:m])
            off = int(heads[m - 1] + predicted[m - 1])
    if not parts:
        return np.zeros(0, dtype=np.int64), off
    return np.concatenate([np.asarray(x, dtype=np.int64) for x in parts]), off


def _check(path: str, buf: Any, heads: Any, base: int) -> tuple[int, Damage | None, Any]:
    """Number of leading records of ``heads`` whose CRCs are right, the first damage, and the lengths."""
    n = len(heads)
    if n == 0:
        return 0, None, heads
    # gather the 8-byte lengths and 4-byte CRCs (headers are unaligned: rows of a sliding window)
    raw = window(buf, 12)[heads]
    lengths = raw[:, :8].copy().view("<u8").ravel().astype(np.int64)
    stored_len_crc = raw[:, 8:12].copy().view("<u4").ravel()
    del raw
    bad = n
    reason = ""
    uniq, inverse, counts = small_unique(lengths)
    expected = np.array([small_masked_crc32c(_U64.pack(int(v))) for v in uniq], dtype=np.uint32)
    wrong = np.flatnonzero(expected[inverse] != stored_len_crc)
    if len(wrong):
        bad, reason = int(wrong[0]), "length CRC mismatch"
    starts = heads + 12
    ends = starts + lengths
    stored = window(buf, 4)[ends].view("<u4").ravel()
    first_bad_data = n
    short = lengths <= _SHORT
    scalar_rest = []
    order = np.argsort(inverse, kind="stable") if len(uniq) > 1 else np.arange(n)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    for k, length in enumerate(uniq.tolist()):
        members = order[bounds[k] : bounds[k + 1]]
        if length > _SHORT:
            continue
        if counts[k] < _GROUP:
            scalar_rest.append(members)
            continue
        wrong = np.flatnonzero(masked_crcs(buf, starts[members], length) != stored[members])
        if len(wrong):
            first_bad_data = min(first_bad_data, int(members[wrong[0]]))
    one_by_one = np.concatenate([np.flatnonzero(~short), *scalar_rest]) if scalar_rest else np.flatnonzero(~short)
    if len(one_by_one):
        view = memoryview(buf)
        for i in np.sort(one_by_one).tolist():
            if i >= first_bad_data:
                break
            s, length = int(starts[i]), int(lengths[i])
            crc = small_masked_crc32c(view[s : s + length]) if length <= _SHORT else masked_crc32c(view[s : s + length])
            if crc != int(stored[i]):
                first_bad_data = i
                break
    if first_bad_data < bad:
        bad, reason = first_bad_data, "data CRC mismatch"
    if bad < n:
        return bad, Damage(path, base + int(heads[bad]), reason), lengths
    return n, None, lengths


def scan_blocks(f: BinaryIO, path: str, size: int, damages: list[Damage], block: int = BLOCK) -> Iterator[Block]:
    """Yield the intact records of the open file ``f`` (``size`` bytes long) block by block.

    On a bad record, appends its :class:`Damage` to ``damages`` and stops (the records
    before it have been yielded). A torn final record ends the scan silently.
    """
    carry = b""
    pos = 0  # file offset of buf[0]
    index = 0
    want = block
    while True:
        n = max(0, min(want, size - pos) - len(carry))
        data = bytearray(len(carry) + n + PAD)  # read straight into the padded buffer: no second copy
        data[: len(carry)] = carry
        got = _read_into(f, memoryview(data)[len(carry) : len(carry) + n])
        if not got and not carry:
            return
        eof = got < n  # a file cut shorter than listed ends here too
        valid = len(carry) + got
        buf = np.frombuffer(data, dtype=np.uint8)
        at_end = eof or pos + valid >= size
        heads, next_off = _walk(data, valid)
        good, damage, lengths = _check(path, buf, heads, pos)
        if good:
            heads = heads[:good]
            yield Block(buf, heads + 12, lengths[:good], heads + pos, index)
            index += good
        if damage is not None:
            damages.append(damage)
            return
        if at_end:
            _tail(path, buf, next_off, valid, pos, damages)
            return
        # the record at next_off did not fit: carry its bytes into the next block
        carry = bytes(buf[next_off:valid])
        need = 16
        if valid - next_off >= 12:
            (length,) = _U64.unpack_from(data, next_off)
            header_ok = small_masked_crc32c(bytes(buf[next_off : next_off + 8])) == int(
                buf[next_off + 8 : next_off + 12].copy().view("<u4")[0]
            )
            if not header_ok:
                damages.append(Damage(path, pos + next_off, "length CRC mismatch"))
                return
            need = length + 16
            if pos + next_off + need > size:
                return  # torn tail: the record claims more than the file holds
        pos += next_off
        want = max(block, need)
        del buf


def _read_into(f: BinaryIO, view: memoryview) -> int:
    """Fill ``view`` from ``f`` (fewer bytes only at the end of the file); return how many were read."""
    done = 0
    readinto = getattr(f, "readinto", None)
    while done < len(view):
        if readinto is not None:
            k = readinto(view[done:])
        else:
            chunk = f.read(len(view) - done)
            k = len(chunk)
            view[done : done + k] = chunk
        if not k:
            break
        done += k
    return done


def _tail(path: str, buf: Any, off: int, valid: int, pos: int, damages: list[Damage]) -> None:
    """At the end of the file: a leftover with a whole header whose CRC is wrong is damage, else a torn tail."""
    if valid - off >= 12:
        header_ok = small_masked_crc32c(bytes(buf[off : off + 8])) == int(buf[off + 8 : off + 12].copy().view("<u4")[0])
        if not header_ok:
            damages.append(Damage(path, pos + off, "length CRC mismatch"))
