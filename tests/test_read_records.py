"""The bulk record machinery under anyboard.read: NumPy CRCs, the pattern walk, tag grouping,
damaged and torn files (against anyboard.io.reader and TensorBoard's loader)."""

from __future__ import annotations

import io
import os
import random
import struct
import warnings

import numpy as np
import pytest
from readref import frame_scalars, tb_scalars

import anyboard
import anyboard.testing
from anyboard.io.crc import masked_crc32c
from anyboard.io.reader import RecordError, iter_records
from anyboard.io.records import frame, frame_many
from anyboard.proto.event_pb2 import Event
from anyboard.proto.summary_pb2 import Summary
from anyboard.read import DamagedFileWarning, _crc, _fast, _scan, find_runs, iter_run_events, read_scalars, run_files


def test_numpy_crcs_equal_the_crc32c_package():
    rng = np.random.default_rng(0)
    buf = rng.integers(0, 256, 5000, dtype=np.uint8)
    for length in (0, 1, 7, 8, 37, 200):
        starts = rng.integers(0, len(buf) - length, 50).astype(np.int64)
        got = _crc.masked_crcs(buf, starts, length)
        want = [masked_crc32c(buf[s : s + length].tobytes()) for s in starts.tolist()]
        assert got.tolist() == want


def _event(step: int, tag: str, value: float) -> bytes:
    return Event(
        wall_time=1.0 + step, step=step, summary=Summary(value=[Summary.Value(tag=tag, simple_value=value)])
    ).SerializeToString()


@pytest.mark.parametrize("seed", range(6))
def test_pattern_walk_finds_exactly_the_records_of_a_header_by_header_walk(tmp_path, seed):
    rnd = random.Random(seed)
    payloads = []
    tags = ["a", "bb", "loss/train", "x" * rnd.randint(1, 40)]
    step = 0
    while len(payloads) < 3000:
        mode = rnd.random()
        if mode < 0.6:  # a periodic stretch
            for _ in range(rnd.randint(1, 400)):
                for t in tags[: rnd.choice((1, 2, 4))]:
                    payloads.append(_event(step, t, 1.0))
                step += rnd.choice((1, 1, 1, 50))
        else:  # noise: random lengths
            payloads.append(os.urandom(rnd.randint(0, 300)))
    data = frame_many(payloads)
    path = str(tmp_path / "events.out.tfevents.1")
    with open(path, "wb") as f:
        f.write(data)
    want = [off for off, _ in iter_records(path)]
    damages: list = []
    for block_size in (1 << 12, 1 << 16, 1 << 20):
        got = []
        with open(path, "rb") as f:
            for block in _scan.scan_blocks(f, path, len(data), damages, block=block_size):
                got.extend(block.offsets.tolist())
        assert got == want and not damages


def test_unique_spans_groups_exactly_and_the_sort_fallback_agrees():
    rng = np.random.default_rng(1)
    words = [b"loss", b"loss2", b"acc", b"a" * 30, b"a" * 29 + b"b", b"", b"\x00", b"\x00\x00"]
    text = b"".join(words)
    offsets = np.cumsum([0] + [len(w) for w in words])[:-1]
    pick = rng.integers(0, len(words), 500)
    buf = np.frombuffer(text + bytes(64), dtype=np.uint8)
    starts, lengths = offsets[pick].astype(np.int64), np.array([len(words[i]) for i in pick], dtype=np.int64)
    for fn in (_fast.unique_spans, _fast._unique_spans_sorted):
        values, inverse = fn(buf, starts, lengths)
        assert [values[i] for i in inverse.tolist()] == [words[i] for i in pick.tolist()]
        assert len(set(values)) == len(values)


# -- damaged files ------------------------------------------------------------------------------


def _scalar_payloads(n: int, tag: str = "t") -> list[bytes]:
    head = Event(wall_time=1.0, file_version="brain.Event:2").SerializeToString()
    return [head] + [_event(i, tag, float(i)) for i in range(n)]


def _corrupt_data(whole: bytes, payloads: list[bytes], index: int) -> tuple[bytes, int]:
    offset = sum(16 + len(p) for p in payloads[:index])
    raw = bytearray(whole)
    raw[offset + 12 + 3] ^= 0x40  # a payload bit: the data CRC no longer matches
    return bytes(raw), offset


def test_bad_data_crc_gives_the_records_before_it_then_one_warning_and_the_next_file(logdir):
    os.makedirs(logdir)
    payloads = _scalar_payloads(100)
    bad, offset = _corrupt_data(frame_many(payloads), payloads, 60)
    first = os.path.join(logdir, "events.out.tfevents.1")
    with open(first, "wb") as f:
        f.write(bad)
    with open(os.path.join(logdir, "events.out.tfevents.2"), "wb") as f:
        f.write(frame_many([Event(file_version="brain.Event:2").SerializeToString(), _event(500, "t", 5.0)]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cols = read_scalars(logdir, output="numpy")
    assert cols["step"].tolist() == [*range(59), 500]
    assert len(caught) == 1 and caught[0].category is DamagedFileWarning
    assert first in str(caught[0].message) and f"byte offset {offset}" in str(caught[0].message)
    with pytest.raises(RecordError) as info:
        read_scalars(logdir, output="numpy", strict=True)
    assert info.value.path == first and info.value.offset == offset
    # TensorBoard's Python loader stops at the same record and moves on to the next file
    assert frame_scalars(cols) == tb_scalars(logdir)


def test_bad_length_crc_and_a_payload_that_is_not_an_event(tmp_path):
    payloads = _scalar_payloads(30)
    whole = bytearray(frame_many(payloads))
    offset = sum(16 + len(p) for p in payloads[:10])
    whole[offset + 9] ^= 1  # the length CRC
    path = str(tmp_path / "events.out.tfevents.len")
    with open(path, "wb") as f:
        f.write(bytes(whole))
    with pytest.warns(DamagedFileWarning, match=f"byte offset {offset} .length CRC"):
        cols = read_scalars(path, output="numpy")
    assert cols["step"].tolist() == list(range(9))

    junk = b"\xff\xff\xff not a protobuf"
    path = str(tmp_path / "events.out.tfevents.junk")
    good = _scalar_payloads(5)
    with open(path, "wb") as f:
        f.write(frame_many(good) + frame(junk) + frame(_event(99, "t", 1.0)))
    with pytest.warns(DamagedFileWarning, match="not an Event"):
        cols = read_scalars(path, output="numpy")
    assert cols["step"].tolist() == list(range(5))


@pytest.mark.parametrize("cut", [1, 8, 12, 13, 30, -1])
def test_torn_tail_reads_silently(tmp_path, cut):
    payloads = _scalar_payloads(40)
    whole = frame_many(payloads)
    last = 16 + len(payloads[-1])
    keep = len(whole) - last + (cut if cut > 0 else last + cut)
    path = str(tmp_path / "events.out.tfevents.torn")
    with open(path, "wb") as f:
        f.write(whole[:keep])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cols = read_scalars(path, output="numpy")
    assert cols["step"].tolist() == list(range(39))


def test_a_huge_length_in_a_torn_header_is_not_an_allocation(tmp_path):
    raw = struct.pack("<Q", 1 << 62)
    path = str(tmp_path / "events.out.tfevents.big")
    with open(path, "wb") as f:
        f.write(frame_many(_scalar_payloads(3)) + raw + struct.pack("<I", masked_crc32c(raw)) + b"abc")
    assert read_scalars(path, output="numpy")["step"].tolist() == [0, 1, 2]


def test_large_records_across_block_boundaries(tmp_path, monkeypatch):
    monkeypatch.setattr(_scan, "BLOCK", 4096)
    payloads = [*_scalar_payloads(10), os.urandom(20000), _event(50, "t", 1.0)]
    path = str(tmp_path / "events.out.tfevents.large")
    with open(path, "wb") as f:
        f.write(frame_many(payloads))
    damages: list = []
    with open(path, "rb") as f:
        blocks = list(_scan.scan_blocks(f, path, os.path.getsize(path), damages, block=4096))
    offsets = [o for b in blocks for o in b.offsets.tolist()]
    assert offsets == [o for o, _ in iter_records(path)]


# -- the reusable run API ---------------------------------------------------------------------------


def test_find_runs_names_and_order(tmp_path):
    root = tmp_path / "logs"
    for rel in (
        "events.out.tfevents.2",
        "events.out.tfevents.1",
        "a/b/x.tfevents.y",
        "c/only.profile-empty.tfevents.profile-empty",
    ):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(frame_many(_scalar_payloads(1)))
    (root / "d").mkdir()
    (root / "d" / "notevents").write_bytes(b"")
    runs = find_runs(str(root))
    assert [r.name for r in runs] == [".", os.path.join("a", "b"), "c"]
    assert [os.path.basename(f.path) for f in runs[0].files] == ["events.out.tfevents.1", "events.out.tfevents.2"]
    assert runs[2].files == ()
    assert run_files(str(root))[1] == (os.path.join("a", "b"), [str(root / "a" / "b" / "x.tfevents.y")])


def test_iter_run_events_applies_the_purge(tmp_path):
    from anyboard.proto.event_pb2 import SessionLog

    root = tmp_path / "run"
    root.mkdir()
    start = Event(step=2, session_log=SessionLog(status=SessionLog.START)).SerializeToString()
    head = Event(file_version="brain.Event:2").SerializeToString()
    (root / "events.out.tfevents.1").write_bytes(
        frame_many([head, start] + [_event(i, "t", float(i)) for i in range(5)])
    )
    (root / "events.out.tfevents.2").write_bytes(frame_many([head, start, _event(2, "t", 22.0)]))
    (run,) = find_runs(str(root))
    events = [e for _, e in iter_run_events(run)]
    steps = [(e.step, e.summary.value[0].simple_value) for e in events if e.HasField("summary")]
    assert steps == [(0, 0.0), (1, 1.0), (2, 22.0)]
    assert sum(e.HasField("file_version") for e in events) == 2


def test_fileobj_reader_unchanged():
    data = frame_many(_scalar_payloads(3))
    assert [len(d) for _, d in iter_records("x", fileobj=io.BytesIO(data))] == [len(p) for p in _scalar_payloads(3)]


def test_a_file_shorter_than_listed_ends_without_looping(tmp_path):
    payloads = _scalar_payloads(20)
    data = frame_many(payloads)
    cut = len(data) - 5
    damages: list = []
    blocks = list(_scan.scan_blocks(io.BytesIO(data[:cut]), "x", len(data) + 1000, damages, block=64))
    assert sum(len(b.offsets) for b in blocks) == 20 and not damages


def test_small_table_crc_equals_the_crc32c_package():
    for data in (b"", b"\x00" * 8, b"\x1a\x11CRC test, one two", os.urandom(100)):
        assert _crc.small_masked_crc32c(data) == masked_crc32c(data)


def test_runs_reached_through_symlinks_are_listed_under_each_name_and_loops_are_not_followed(tmp_path):
    """As TensorBoard lists them: a run and an alias of it are two runs (the alias no longer hides
    the real one, or the real one the alias); a link back up the tree is not walked again."""
    from anyboard.read.runs import find_runs

    logs = tmp_path / "logs"
    with anyboard.SummaryWriter(str(logs / "b")) as w:
        w.add_scalar("x", 1.0, 0)
    (logs / "a").symlink_to(logs / "b", target_is_directory=True)
    (logs / "c").symlink_to(logs / "b", target_is_directory=True)
    (logs / "b" / "loop").symlink_to(logs, target_is_directory=True)  # back up the tree
    names = [run.name for run in find_runs(str(logs))]
    assert names == ["a", "b", "c"]
    dumped = anyboard.testing.dump(str(logs))
    assert [line for line in dumped.splitlines() if line.startswith("run ")] == ['run "a"', 'run "b"', 'run "c"']
