"""Property tests: anyboard's reader on random, truncated and bit-flipped files.

The reader must never crash the process or loop: it returns every good
record before the damage, ends cleanly on a torn tail, and otherwise raises
:class:`anyboard.RecordError` naming the file and the exact byte offset of the
first bad record.
"""

from __future__ import annotations

import os
import struct
import time
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import anyboard
from anyboard.io.crc import masked_crc32c
from anyboard.io.reader import iter_events, iter_records
from anyboard.io.records import frame_many
from anyboard.proto.event_pb2 import Event
from anyboard.proto.summary_pb2 import Summary

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

_events = st.lists(
    st.builds(
        lambda step, tag, value: Event(
            wall_time=1.5 + step, step=step, summary=Summary(value=[Summary.Value(tag=tag, simple_value=value)])
        ).SerializeToString(),
        st.integers(0, 1 << 40),
        st.text(max_size=20),
        st.floats(allow_nan=False, width=32),
    ),
    min_size=1,
    max_size=8,
)


def _offsets(payloads: list[bytes]) -> list[int]:
    out, pos = [], 0
    for p in payloads:
        out.append(pos)
        pos += 16 + len(p)
    return out


def _write(tmp_path, data: bytes, name: str = "events.out.tfevents.fuzz") -> str:
    path = os.path.join(str(tmp_path), name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def _read_all(path: str, size: int) -> tuple[list[bytes], anyboard.RecordError | None]:
    """Read every event; return the good payloads and the error (if any). Bounded."""
    good: list[bytes] = []
    start = time.monotonic()
    try:
        for event in iter_events(path):
            good.append(event.SerializeToString())
            # each record takes at least 16 bytes: more records than that is a loop
            assert len(good) <= size // 16 + 1
    except anyboard.RecordError as err:
        return good, err
    finally:
        assert time.monotonic() - start < 30
    return good, None


@SETTINGS
@given(data=st.binary(max_size=4096))
def test_random_bytes_never_crash_or_loop(tmp_path, data):
    path = _write(tmp_path, data)
    _good, err = _read_all(path, len(data))
    if err is not None:
        assert err.path == path and path in str(err)
        assert 0 <= err.offset <= max(0, len(data) - 16)
        assert f"offset {err.offset}" in str(err)


@SETTINGS
@given(payloads=_events, junk=st.binary(max_size=512))
def test_good_records_then_random_junk(tmp_path, payloads, junk):
    data = frame_many(payloads)
    path = _write(tmp_path, data + junk)
    good, err = _read_all(path, len(data) + len(junk))
    # every good record comes back, in order, whatever follows
    assert good[: len(payloads)] == payloads
    if err is not None:
        assert err.offset >= len(data) and err.path == path


@SETTINGS
@given(payloads=_events, cut=st.floats(0, 1, exclude_max=True))
def test_truncated_anywhere_returns_complete_records_without_error(tmp_path, payloads, cut):
    data = frame_many(payloads)
    keep = int(len(data) * cut)
    path = _write(tmp_path, data[:keep])
    good, err = _read_all(path, keep)
    assert err is None
    ends = [o + 16 + len(p) for o, p in zip(_offsets(payloads), payloads)]
    assert good == payloads[: sum(1 for e in ends if e <= keep)]


@SETTINGS
@given(payloads=_events, pick=st.data())
def test_flipped_bit_in_record_k_raises_at_its_exact_offset(tmp_path, payloads, pick):
    data = bytearray(frame_many(payloads))
    k = pick.draw(st.integers(0, len(payloads) - 1), label="k")
    offset = _offsets(payloads)[k]
    pos = offset + pick.draw(st.integers(0, 16 + len(payloads[k]) - 1), label="byte in record")
    data[pos] ^= 1 << pick.draw(st.integers(0, 7), label="bit")
    path = _write(tmp_path, bytes(data))
    good, err = _read_all(path, len(data))
    assert good == payloads[:k]
    assert err is not None, "a flipped bit must be reported"
    assert (err.path, err.offset) == (path, offset)
    assert f"{path}: corrupt record at byte offset {offset}:" in str(err)
    assert "CRC" in err.reason


@SETTINGS
@given(payloads=_events, pick=st.data())
def test_flipped_bytes_then_truncated_never_crash(tmp_path, payloads, pick):
    data = bytearray(frame_many(payloads))
    for pos in pick.draw(st.lists(st.integers(0, len(data) - 1), max_size=5), label="positions"):
        data[pos] ^= pick.draw(st.integers(1, 255), label="mask")
    keep = pick.draw(st.integers(0, len(data)), label="keep")
    path = _write(tmp_path, bytes(data[:keep]))
    good, err = _read_all(path, keep)
    assert good == payloads[: len(good)]  # only genuine records are returned
    if err is not None:
        assert err.offset in _offsets(payloads)


def _header(length: int) -> bytes:
    raw = struct.pack("<Q", length)
    return raw + struct.pack("<I", masked_crc32c(raw))


@SETTINGS
@given(
    payloads=_events,
    length=st.one_of(st.integers(1 << 20, (1 << 64) - 1), st.sampled_from([(1 << 40) - 1, 1 << 33, (1 << 64) - 1])),
    rest=st.binary(max_size=64),
)
def test_valid_header_claiming_more_than_the_file_is_a_torn_tail_without_big_allocation(
    tmp_path, payloads, length, rest
):
    """A length with a valid CRC but beyond the end of the file: torn tail, memory bounded."""
    data = frame_many(payloads) + _header(length) + rest
    path = _write(tmp_path, data)
    tracemalloc.start()
    try:
        got = [d for _, d in iter_records(path)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got == payloads
    assert peak < 64 << 20, f"reader allocated {peak} bytes for a {len(data)}-byte file"


def test_record_error_offset_for_second_file_of_a_run(tmp_path):
    """iter_run_events names the damaged file, not the run, and yields the first file whole."""
    run = tmp_path / "run"
    run.mkdir()
    first = [Event(wall_time=1.0, step=i).SerializeToString() for i in range(3)]
    second = [Event(wall_time=2.0, step=10 + i).SerializeToString() for i in range(3)]
    _write(run, frame_many(first), "events.out.tfevents.0000000001.h.1.000000")
    buf = bytearray(frame_many(second))
    bad_offset = _offsets(second)[1]
    buf[bad_offset + 13] ^= 0x40
    path = _write(run, bytes(buf), "events.out.tfevents.0000000002.h.1.000001")
    steps = []
    with pytest.raises(anyboard.RecordError) as info:
        for event in anyboard.iter_run_events(run):
            steps.append(event.step)
    assert steps == [0, 1, 2, 10]
    assert info.value.path == path and info.value.offset == bad_offset
