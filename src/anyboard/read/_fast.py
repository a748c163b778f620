"""Scalar events parsed straight from the protobuf wire format, many records at once.

Almost every record of a training log is one scalar. Protobuf serializes such an
``Event`` as (field keys in hex)::

    09 <wall_time: float64 LE>          omitted when 0.0
    10 <step: varint>                   omitted when 0
    2a <len> Summary {
      0a <len> Value {
        0a <len> <tag: UTF-8>
        15 <simple_value: float32 LE>                     v1 scalar
        | 42 <len> TensorProto { 08 01 [12 00] (2a|22) 04 <float32> }   v2 scalar, DT_FLOAT
        | 42 <len> TensorProto { 08 02 [12 00] (32|22) 08 <float64> }   v2 scalar, DT_DOUBLE
        [4a <len> SummaryMetadata]                        usually only on a tag's first value
      }
    }

:func:`parse_scalars` checks this layout for every record of a block with NumPy
gathers and comparisons (no protobuf object, no per-record Python code) and
decodes the matching ones. A record that deviates anywhere (several values,
another kind of value, unknown fields, odd encodings) is left to the protobuf
path, so the fast path only ever decides the cases it recognises exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from anyboard.read._scan import window

_U64 = np.uint64


def _varint(buf: Any, pos: Any, max_bytes: int) -> tuple[Any, Any, Any]:
    """Decode a varint at each of ``pos``: ``(value uint64, width int64, complete bool)``."""
    n = len(pos)
    value = np.zeros(n, dtype=_U64)
    width = np.zeros(n, dtype=np.int64)
    done = np.zeros(n, dtype=bool)
    for k in range(max_bytes):
        b = buf[pos + k]
        active = ~done
        value |= np.where(active, (b & 0x7F).astype(_U64) << _U64(7 * k), _U64(0))
        width += active
        done |= b < 0x80
        if done.all():
            break
    return value, width, done


def _gather(buf: Any, pos: Any, nbytes: int, dtype: str) -> Any:
    """The little-endian ``dtype`` value of ``nbytes`` bytes at each of ``pos``."""
    return window(buf, nbytes)[pos].view(dtype).ravel()


@dataclass
class ScalarRecords:
    """Decoded scalar records of one block (arrays of equal length, one entry per record).

    ``record`` indexes into the block's records; ``tag_start``/``tag_len`` and
    ``meta_start``/``meta_len`` are spans of the block's ``buf`` (``meta_len`` is -1 when
    the value has no metadata); ``simple`` is True for a v1 ``simple_value``.
    """

    record: Any
    wall_time: Any
    step: Any
    value: Any
    tag_start: Any
    tag_len: Any
    meta_start: Any
    meta_len: Any
    simple: Any


def _clip(pos: Any, limit: int) -> Any:
    return np.minimum(pos, limit)


BATCH = 8192  # records decoded together: bounds the temporaries (~30 int64 arrays of this length)


def parse_scalars(buf: Any, starts: Any, lengths: Any) -> ScalarRecords:
    """Decode the records of ``buf`` at ``starts``/``lengths`` that are single scalar events."""
    n = len(starts)
    if n <= BATCH:
        return _parse_batch(buf, starts, lengths)
    parts = [_parse_batch(buf, starts[i : i + BATCH], lengths[i : i + BATCH]) for i in range(0, n, BATCH)]
    for k, part in enumerate(parts):
        part.record += k * BATCH
    names = list(ScalarRecords.__dataclass_fields__)
    return ScalarRecords(**{f: np.concatenate([getattr(p, f) for p in parts]) for f in names})


def _parse_batch(buf: Any, starts: Any, lengths: Any) -> ScalarRecords:
    limit = len(buf) - 32  # buf ends with zero padding: gathers of up to 16 bytes at p <= limit stay inside
    ends = starts + lengths
    p = starts.copy()
    has_wall = buf[p] == 0x09
    wall_pos = p + 1
    p = p + 9 * has_wall
    p = _clip(p, limit)
    has_step = buf[p] == 0x10
    step, width, complete = _varint(buf, _clip(p + 1, limit), 10)
    ok = complete | ~has_step
    p = p + np.where(has_step, 1 + width, 0)
    p = _clip(p, limit)
    ok &= buf[p] == 0x2A
    slen, width, complete = _varint(buf, _clip(p + 1, limit), 5)
    ok &= complete
    p = _clip(p + 1 + width, limit)
    ok &= p + slen.astype(np.int64) == ends
    ok &= buf[p] == 0x0A
    vlen, width, complete = _varint(buf, _clip(p + 1, limit), 5)
    ok &= complete
    p = _clip(p + 1 + width, limit)
    ok &= p + vlen.astype(np.int64) == ends
    ok &= buf[p] == 0x0A
    tlen, width, complete = _varint(buf, _clip(p + 1, limit), 3)
    ok &= complete
    tag_start = _clip(p + 1 + width, limit)
    tag_len = tlen.astype(np.int64)
    ok &= tag_start + tag_len <= ends
    p = _clip(tag_start + tag_len, limit)
    key = buf[p]

    # v1: 15 <float32>
    simple = ok & (key == 0x15)
    after_simple = p + 5
    # v2: 42 <len> TensorProto
    tensor = ok & (key == 0x42)
    tl, width, complete = _varint(buf, _clip(p + 1, limit), 2)
    inner = _clip(p + 1 + width, limit)
    tensor &= complete
    after_tensor = inner + tl.astype(np.int64)
    dtype_ok = buf[inner] == 0x08
    dt = buf[_clip(inner + 1, limit)]
    q = inner + 2
    q = q + 2 * ((buf[_clip(q, limit)] == 0x12) & (buf[_clip(q + 1, limit)] == 0x00))
    q = _clip(q, limit)
    k2, n2 = buf[q], buf[_clip(q + 1, limit)]
    is_f32 = (dt == 1) & ((k2 == 0x2A) | (k2 == 0x22)) & (n2 == 4)
    is_f64 = (dt == 2) & ((k2 == 0x32) | (k2 == 0x22)) & (n2 == 8)
    tensor &= dtype_ok & (is_f32 | is_f64)
    tensor &= q + 2 + np.where(is_f64, 8, 4) == after_tensor

    after = np.where(simple, after_simple, after_tensor)
    candidate = simple | tensor
    # optional trailing metadata: 4a <len> ... ending the value
    a = _clip(after, limit)
    at_end = after == ends
    has_meta = (buf[a] == 0x4A) & ~at_end
    mlen, width, complete = _varint(buf, _clip(a + 1, limit), 3)
    meta_start = a + 1 + width
    meta_ok = has_meta & complete & (meta_start + mlen.astype(np.int64) == ends)
    candidate &= at_end | meta_ok

    rec = np.flatnonzero(candidate)
    simple_r = simple[rec]
    pv = np.where(simple_r, p[rec] + 1, q[rec] + 2)
    f32 = _gather(buf, _clip(pv, limit), 4, "<f4").astype(np.float64)
    f64_mask = ~simple_r & is_f64[rec]
    if f64_mask.any():
        f32[f64_mask] = _gather(buf, _clip(pv[f64_mask], limit), 8, "<f8")
    wall = np.where(has_wall[rec], _gather(buf, _clip(wall_pos[rec], limit), 8, "<f8"), 0.0)
    steps = np.where(has_step[rec], step[rec].view(np.int64), 0)
    meta_r = meta_ok[rec]
    return ScalarRecords(
        record=rec,
        wall_time=wall,
        step=steps,
        value=f32,
        tag_start=tag_start[rec],
        tag_len=tag_len[rec],
        meta_start=np.where(meta_r, meta_start[rec], 0),
        meta_len=np.where(meta_r, mlen[rec].astype(np.int64), -1),
        simple=simple_r,
    )


_WORD_MASKS = np.array([(1 << (8 * r)) - 1 for r in range(8)] + [(1 << 64) - 1], dtype=np.uint64)
_PEEL = 8  # distinct values found by comparison before falling back to a sort


def unique_spans(buf: Any, starts: Any, lengths: Any) -> tuple[list[bytes], Any]:
    """The distinct byte strings among the spans ``buf[s : s + l]``, and each span's index into them.

    Each span becomes exact 64-bit words (its bytes, zero-masked past its end) and a hash of
    them; spans are grouped by the hash (the first few groups by comparison, the rest by
    ``np.unique``) and every span is then compared word by word with its group's first
    span, so the grouping is exact. Should two different spans ever share a hash, the
    spans are grouped by sorting their bytes instead.
    """
    n = len(starts)
    inverse = np.zeros(n, dtype=np.int64)
    if n == 0:
        return [], inverse
    limit = len(buf) - 8
    words = []
    h = lengths.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    win = window(buf, 8)
    for k in range((int(lengths.max()) + 7) // 8):
        rem = np.clip(lengths - 8 * k, 0, 8)
        w = win[np.minimum(starts + 8 * k, limit)].view("<u8").ravel() & _WORD_MASKS[rem]
        words.append(w)
        h = (h ^ w) * np.uint64(0x100000001B3)
        h ^= h >> np.uint64(29)
    group = np.full(n, -1, dtype=np.int64)
    reps: list[int] = []
    for _ in range(_PEEL):
        left = np.flatnonzero(group < 0)
        if not len(left):
            break
        r = int(left[0])
        group[left[h[left] == h[r]]] = len(reps)
        reps.append(r)
    left = np.flatnonzero(group < 0)
    if len(left):
        _, first, inv = np.unique(h[left], return_index=True, return_inverse=True)
        group[left] = inv.ravel() + len(reps)
        reps.extend(left[first].tolist())
    rep = np.array(reps, dtype=np.int64)[group]
    exact = lengths == lengths[rep]
    for w in words:
        exact &= w == w[rep]
    if not exact.all():
        return _unique_spans_sorted(buf, starts, lengths)
    values = [bytes(buf[int(starts[r]) : int(starts[r]) + int(lengths[r])]) for r in reps]
    return values, group


def _unique_spans_sorted(buf: Any, starts: Any, lengths: Any) -> tuple[list[bytes], Any]:
    """:func:`unique_spans` by sorting the spans' bytes, one length at a time."""
    n = len(starts)
    inverse = np.empty(n, dtype=np.int64)
    values: list[bytes] = []
    lens, by_len = np.unique(lengths, return_inverse=True)
    for k, length in enumerate(lens.tolist()):
        members = np.flatnonzero(by_len.ravel() == k)
        if length == 0:
            inverse[members] = len(values)
            values.append(b"")
            continue
        rows = np.ascontiguousarray(window(buf, length)[starts[members]])
        keys = rows.view(f"V{length}").ravel()
        _, first, inv = np.unique(keys, return_index=True, return_inverse=True)
        inverse[members] = inv.ravel() + len(values)
        values.extend(rows[i].tobytes() for i in first.tolist())
    return values, inverse
