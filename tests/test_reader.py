"""anyboard's own event-file reader on intact, torn and corrupt files.

Needs no TensorBoard (runs in the protobuf-floor environment too).
"""

from __future__ import annotations

import io
import os
import struct

import pytest

import anyboard
from anyboard.io.reader import event_files, iter_events, iter_records
from anyboard.io.records import frame, frame_many
from anyboard.proto.event_pb2 import Event
from anyboard.proto.summary_pb2 import Summary


def _events(n: int) -> list[bytes]:
    out = [Event(wall_time=1.0, file_version="brain.Event:2").SerializeToString()]
    for i in range(1, n):
        summary = Summary(value=[Summary.Value(tag="loss", simple_value=float(i))])
        out.append(Event(wall_time=1.0 + i, step=i, summary=summary).SerializeToString())
    return out


def _write(path: str, data: bytes) -> str:
    with open(path, "wb") as f:
        f.write(data)
    return path


def _offsets(payloads: list[bytes]) -> list[int]:
    offsets, pos = [], 0
    for p in payloads:
        offsets.append(pos)
        pos += 16 + len(p)
    return offsets


def test_intact_file_reads_every_record_with_offsets(tmp_path):
    payloads = _events(6)
    path = _write(str(tmp_path / "events.out.tfevents.1"), frame_many(payloads))
    assert list(iter_records(path)) == list(zip(_offsets(payloads), payloads))
    events = list(iter_events(path))
    assert events[0].file_version == "brain.Event:2"
    assert [e.step for e in events[1:]] == [1, 2, 3, 4, 5]
    # an open file object is read the same way
    with open(path, "rb") as f:
        assert [d for _, d in iter_records("named", fileobj=f)] == payloads


def test_empty_file_yields_nothing(tmp_path):
    path = _write(str(tmp_path / "events.out.tfevents.0"), b"")
    assert list(iter_events(path)) == []


@pytest.mark.parametrize("cut", [1, 5, 11, 12, 13, 20, -4, -1])
def test_torn_final_record_ends_cleanly(tmp_path, cut):
    payloads = _events(5)
    whole = frame_many(payloads)
    last = frame(payloads[-1])
    keep = len(whole) - len(last) + (cut if cut > 0 else len(last) + cut)
    path = _write(str(tmp_path / "events.out.tfevents.torn"), whole[:keep])
    got = [d for _, d in iter_records(path)]
    assert got == payloads[:-1]


def test_huge_length_in_torn_header_is_a_torn_tail_not_an_allocation(tmp_path):
    payloads = _events(3)
    raw = struct.pack("<Q", (1 << 62))
    from anyboard.io.crc import masked_crc32c

    header = raw + struct.pack("<I", masked_crc32c(raw))
    path = _write(str(tmp_path / "events.out.tfevents.big"), frame_many(payloads) + header + b"abc")
    assert [d for _, d in iter_records(path)] == payloads


def _corrupt(tmp_path, payloads, index, mutate):
    buf = bytearray(frame_many(payloads))
    offset = _offsets(payloads)[index]
    mutate(buf, offset, len(payloads[index]))
    return _write(str(tmp_path / "events.out.tfevents.bad"), bytes(buf)), offset


def _read_until_error(path):
    good = []
    with pytest.raises(anyboard.RecordError) as info:
        for event in iter_events(path):
            good.append(event)  # noqa: PERF402 - list() would drop the events read before the error
    return good, info.value


def test_bad_length_crc_raises_with_path_and_offset_after_good_records(tmp_path):
    payloads = _events(6)

    def mutate(buf, off, n):
        buf[off + 8] ^= 0x01  # the stored length CRC

    path, offset = _corrupt(tmp_path, payloads, 3, mutate)
    good, err = _read_until_error(path)
    assert [e.SerializeToString() for e in good] == payloads[:3]
    assert err.path == path and err.offset == offset and offset > 0
    assert path in str(err) and f"offset {offset}" in str(err) and "length CRC" in str(err)


def test_bad_length_bytes_raise_length_crc_error(tmp_path):
    payloads = _events(4)

    def mutate(buf, off, n):
        buf[off] ^= 0x02  # the length itself; its CRC no longer matches

    path, offset = _corrupt(tmp_path, payloads, 2, mutate)
    good, err = _read_until_error(path)
    assert len(good) == 2 and err.offset == offset and "length CRC" in err.reason


def test_bad_data_crc_raises_with_path_and_offset_after_good_records(tmp_path):
    payloads = _events(6)

    def mutate(buf, off, n):
        buf[off + 12 + n] ^= 0xFF  # the data CRC

    path, offset = _corrupt(tmp_path, payloads, 4, mutate)
    good, err = _read_until_error(path)
    assert [e.SerializeToString() for e in good] == payloads[:4]
    assert (err.path, err.offset) == (path, offset)
    assert "data CRC" in str(err) and str(offset) in str(err)


def test_flipped_payload_bit_is_a_data_crc_error(tmp_path):
    payloads = _events(5)

    def mutate(buf, off, n):
        buf[off + 12 + n - 1] ^= 0x10  # a bit of the float value; CRC now stale

    path, offset = _corrupt(tmp_path, payloads, 2, mutate)
    good, err = _read_until_error(path)
    assert len(good) == 2 and err.offset == offset and "data CRC" in err.reason


def test_unparsable_payload_with_valid_crc_raises_record_error(tmp_path):
    payloads = [*_events(3), b"\xff\xff\xff\xff", *_events(2)[1:]]
    path = _write(str(tmp_path / "events.out.tfevents.junk"), frame_many(payloads))
    good, err = _read_until_error(path)
    assert len(good) == 3
    assert err.offset == _offsets(payloads)[3] and err.path == path
    assert "not an Event" in str(err)
    # the record layer alone is fine with it: only iter_events parses
    assert len(list(iter_records(path))) == len(payloads)


def test_record_error_is_a_value_error():
    err = anyboard.RecordError("/x/y", 40, "data CRC mismatch")
    assert isinstance(err, ValueError)
    assert str(err) == "/x/y: corrupt record at byte offset 40: data CRC mismatch"


def test_iter_run_events_reads_files_in_name_order_and_skips_others(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "sub").mkdir()  # a directory, not an event file
    _write(str(run / "notes.txt"), b"not events")
    files = {
        "events.out.tfevents.0000000002.h.1.000001": [10, 11],
        "events.out.tfevents.0000000001.h.1.000000": [0, 1, 2],
        "events.out.tfevents.0000000002.h.1.000002": [20],
    }
    for name, steps in files.items():
        payloads = [Event(wall_time=1.0, step=s, file_version="x").SerializeToString() for s in steps]
        _write(str(run / name), frame_many(payloads))
    _write(str(run / "sub" / "events.out.tfevents.9.h.1.000000"), frame(Event(step=99).SerializeToString()))
    assert [os.path.basename(p) for p in event_files(run)] == sorted(files)
    assert [e.step for e in anyboard.iter_run_events(run)] == [0, 1, 2, 10, 11, 20]


def test_fileobj_errors_name_the_given_path():
    buf = bytearray(frame_many(_events(2)))
    buf[-1] ^= 1
    with pytest.raises(anyboard.RecordError) as info:
        list(iter_events("s3://bucket/run/events.out.tfevents.x", fileobj=io.BytesIO(bytes(buf))))
    assert info.value.path == "s3://bucket/run/events.out.tfevents.x"
    assert info.value.offset == 16 + len(_events(2)[0])
