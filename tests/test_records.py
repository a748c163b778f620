"""CRC-32C, tfrecord framing and the hand-rolled protobuf encoders.

Needs no TensorBoard: runs in the protobuf-floor environment too
(``scripts/protobuf_floor.sh``).
"""

from __future__ import annotations

import math
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from watchdog import frequent_thread_switches

from anyboard.io.crc import crc32c, masked_crc32c
from anyboard.io.events import FILE_VERSION, event_bytes, header_events, varint
from anyboard.io.records import FOOTER_SIZE, HEADER_SIZE, frame, frame_many
from anyboard.proto.event_pb2 import Event, SessionLog
from anyboard.proto.summary_pb2 import Summary
from anyboard.summary.scalar import simple_value_bytes

# Research doc §1.1 test vectors (RFC 3720 and TensorBoard's tf_record.rs doc test).
RECORD_HEX = "1800000000000000a37f4b22090000803899d6d7411a0d627261696e2e4576656e743a32124b36ab"


def test_crc32c_known_vectors():
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(b"\xff" * 32) == 0x62A8AB43  # RFC 3720 B.4
    assert crc32c(bytes(range(32))) == 0x46DD794E  # RFC 3720 B.4
    assert crc32c(b"") == 0
    assert masked_crc32c(b"\x1a\x11CRC test, one two") == 0x5794D08A
    assert masked_crc32c(struct.pack("<Q", 24)) == 0x224B7FA3


def test_masked_crc_is_the_documented_rotation_plus_delta():
    for data in (b"", b"a", bytes(32), b"brain.Event:2" * 7, bytes(range(256))):
        crc = crc32c(data)
        assert masked_crc32c(data) == ((((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF)
    # memoryview and bytearray inputs give the same answer as bytes
    assert masked_crc32c(memoryview(b"abc")) == masked_crc32c(bytearray(b"abc")) == masked_crc32c(b"abc")


def test_full_forty_byte_record_matches_tensorboard_vector():
    event = Event(wall_time=1599759586.0, file_version="brain.Event:2")
    data = event.SerializeToString()
    record = frame(data)
    assert len(record) == 40
    assert record.hex() == RECORD_HEX
    assert struct.unpack_from("<I", record, 36)[0] == 0xAB364B12
    assert frame_many([data]) == record


def _unframe(buf: bytes) -> list[bytes]:
    out = []
    pos = 0
    while pos < len(buf):
        (length,) = struct.unpack_from("<Q", buf, pos)
        assert struct.unpack_from("<I", buf, pos + 8)[0] == masked_crc32c(buf[pos : pos + 8])
        data = buf[pos + HEADER_SIZE : pos + HEADER_SIZE + length]
        assert len(data) == length
        assert struct.unpack_from("<I", buf, pos + HEADER_SIZE + length)[0] == masked_crc32c(data)
        out.append(data)
        pos += HEADER_SIZE + length + FOOTER_SIZE
    assert pos == len(buf)
    return out


@pytest.mark.parametrize("n", [0, 1, 2, 17, 300])
def test_frame_many_round_trips(n):
    rng = np.random.default_rng(n)
    payloads = [rng.bytes(int(rng.integers(0, 300))) for _ in range(n)]
    payloads += [b"", b"x" * 20000] if n else []  # empty and > 16 KiB records
    buf = frame_many(payloads)
    assert _unframe(buf) == payloads
    assert buf == b"".join(frame(p) for p in payloads)


def test_frame_header_cache_does_not_mix_lengths():
    # Same length twice (cached header) and many distinct lengths: every header is right.
    for length in [*list(range(200)), 200, 3, 5000, 3, 1 << 20]:
        data = b"\x07" * length
        rec = frame(data)
        assert rec[:8] == struct.pack("<Q", length)
        assert _unframe(rec) == [data]


TAGS = [
    "loss",
    "a",
    "train/loss/with/many/slashes",
    "x" * 100,  # the longest tag of the fast path
    "y" * 101,  # the first tag of the protobuf path
    "z" * 127,
    "w" * 128,
    "v" * 5000,
    "Verlust/λ/損失/😀",
    "é" * 60,  # 120 UTF-8 bytes, 60 characters
    "tab\tand\nnewline",
]
VALUES = [0.0, -0.0, 1.0, -1.5, 1 / 3, 1e-45, 3.4028234663852886e38, 1e-300, math.inf, -math.inf, 123456.789]
STEPS = [0, 1, 127, 128, 16383, 16384, 2**31, 2**53 + 1, 2**63 - 1, -1, -(2**63), -16384]


@pytest.mark.parametrize("tag", TAGS)
def test_simple_value_bytes_is_byte_identical_to_protobuf(tag):
    for value in VALUES:
        expected = Summary(value=[Summary.Value(tag=tag, simple_value=value)]).SerializeToString()
        assert simple_value_bytes(tag, value) == expected, (tag, value)
        # twice: the second call uses the cached prefix
        assert simple_value_bytes(tag, value) == expected, (tag, value)


def test_simple_value_bytes_float32_overflow_becomes_inf():
    for value, inf in ((1e39, math.inf), (-1e39, -math.inf), (1e300, math.inf), (-1.7976931348623157e308, -math.inf)):
        data = simple_value_bytes("big", value)
        assert data == Summary(value=[Summary.Value(tag="big", simple_value=inf)]).SerializeToString()
        assert Summary.FromString(data).value[0].simple_value == inf


def test_simple_value_bytes_nan_parses_as_nan():
    data = simple_value_bytes("nan", math.nan)
    assert math.isnan(Summary.FromString(data).value[0].simple_value)


def test_simple_value_bytes_empty_tag_parses_back():
    # protobuf omits an empty proto3 string; writing it explicitly is equivalent on the wire
    parsed = Summary.FromString(simple_value_bytes("", 2.5))
    assert parsed.value[0].tag == "" and parsed.value[0].simple_value == 2.5


@pytest.mark.parametrize("step", STEPS)
def test_event_bytes_is_byte_identical_to_protobuf(step):
    for wall in (1599759586.0, 1.5, -3.0, 1e10, 1700000000.123456):
        for tag in ("loss", "v" * 5000, "損失"):
            summary = Summary(value=[Summary.Value(tag=tag, simple_value=0.25)])
            sb = summary.SerializeToString()
            expected = Event(wall_time=wall, step=step, summary=summary).SerializeToString()
            got = event_bytes(wall, step, sb)
            assert got == expected, (wall, step, tag)
            parsed = Event.FromString(got)
            assert (parsed.wall_time, parsed.step, parsed.summary) == (wall, step, summary)


def test_event_bytes_zero_wall_time_parses_back():
    # protobuf omits wall_time=0.0; event_bytes writes it explicitly: same message on the wire
    parsed = Event.FromString(event_bytes(0.0, 7, b""))
    assert parsed.wall_time == 0.0 and parsed.step == 7 and parsed.HasField("summary")


def test_event_bytes_with_large_summary_uses_multibyte_length():
    summary = Summary(value=[Summary.Value(tag=f"t{i}", simple_value=i) for i in range(3000)])
    sb = summary.SerializeToString()
    assert len(sb) > 16384
    assert event_bytes(12.0, 3, sb) == Event(wall_time=12.0, step=3, summary=summary).SerializeToString()


def test_varint_matches_protobuf_int64():
    for value in [v for v in STEPS if v] + [2**7 - 1, 2**14, 2**21, 2**35 + 7]:
        wire = Event(step=value).SerializeToString()
        assert wire == b"\x10" + varint(value)


def test_header_events():
    records = header_events(wall_time=1234.5)
    assert len(records) == 1
    first = Event.FromString(records[0])
    assert first.file_version == FILE_VERSION == "brain.Event:2"
    assert first.wall_time == 1234.5 and first.step == 0
    purged = [Event.FromString(r) for r in header_events(wall_time=1.0, purge_step=5)]
    assert purged[0].file_version == "brain.Event:2"
    assert [(e.step, e.session_log.status) for e in purged[1:]] == [(5, SessionLog.START)] * 2


def _batch_cases():
    import random
    import time

    rng = random.Random(0)
    tags = ["train/loss", "", "a" * 150, "é/ü\ud800x", "acc", "x" * 99, "y" * 100, "z" * 101]
    specials = [
        0.0,
        -0.0,
        1.5,
        math.nan,
        -math.nan,
        math.inf,
        -math.inf,
        3.5e38,
        3.4028235e38,
        3.4028236e38,
        1e300,
        -1e300,
        1e-46,
        struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000123))[0],
    ]
    steps = [0, 1, 127, 128, 16383, 16384, 2**21 - 1, 2**21, 2**63 - 1, -1, -(2**63)]
    walls = [0.0, -0.0, time.time(), math.nan, 1.0, -5.0]
    for trial in range(120):
        n = rng.choice([1, 2, 5, 50, 700])
        mixed = trial % 3
        items = []
        for i in range(n):
            tag = rng.choice(tags) if mixed else tags[0]
            wall = rng.choice(walls) if mixed else 1.7e9 + i
            step = rng.choice([*steps, rng.randrange(-(2**63), 2**63)]) if mixed == 1 else i
            value = rng.choice([*specials, rng.uniform(-1000000.0, 1000000.0)])
            items.append((wall, step, tag, value))
        yield items
    # Hand-made adversarial runs.
    big = 3.5e38  # float32 overflow -> inf
    steps = [5, 4, 3, 200, 100, 0, -1, 2**40, 1]
    values = [1.0, big, -big, 0.0, -0.0, math.nan, 2.5, 1e-46, -1e300]
    yield [(1.7e9, s, "loss", v) for s, v in zip(steps, values)]
    # step varint length changing within one tag (1, 2, 3, ... 9, 10 bytes) and back
    steps = [1, 127, 128, 16383, 16384, 2**21, 2**28, 2**35, 2**42, 2**49, 2**56, 2**63 - 1, -5, 3, 0, 128]
    yield [(1.0 + i, s, "t", float(i)) for i, s in enumerate(steps)]
    # mixed tags interleaved, decreasing steps, +-0.0 and NaN wall times, long and non-ASCII tags
    tags = ["a", "損失/λ", "v" * 300, "", "é" * 60, "a"]
    yield [
        (rng.choice([0.0, -0.0, math.nan, 1.7e9]), 1000 - 7 * i, tags[i % len(tags)], (-1.0) ** i * i)
        for i in range(60)
    ]
    # one item; one item with every optional field omitted or at its extreme
    yield [(0.0, 0, "", 0.0)]
    yield [(-0.0, -(2**63), "x" * 101, -math.inf)]


@pytest.fixture(params=["compiled", "numpy"])
def backend(request, monkeypatch):
    """Framing and scalar columns through the compiled loops (_native.c) or the NumPy/itemgetter code."""
    import os

    from anyboard._methods import core
    from anyboard.io import records

    if request.param == "compiled" and (records._native_frame_rows is None or core._native_columns is None):
        if os.environ.get("ANYBOARD_REQUIRE_NATIVE"):
            pytest.fail("anyboard._native is not compiled, and ANYBOARD_REQUIRE_NATIVE is set")
        pytest.skip("compiled framing not built")
    if request.param == "numpy":
        monkeypatch.setattr(records, "_native_frame_rows", None)
        monkeypatch.setattr(core, "_native_columns", None)
    return request.param


def _group_framing(items):
    from anyboard.io.records import frame_row_groups
    from anyboard.summary.scalar import simple_value_payload_groups

    walls, steps, tags, values = zip(*items)
    groups = simple_value_payload_groups(walls, steps, list(tags), values)
    return groups, frame_row_groups(len(items), groups)


def test_scalar_payload_groups_framed_are_byte_identical_to_framing_each_event(backend):
    from anyboard.summary.scalar import simple_value_event

    for items in _batch_cases():
        groups, got = _group_framing(items)
        assert got == frame_many([simple_value_event(*it) for it in items])
        # each group is one layout; its rows are the unframed events of its positions, in order
        seen = np.concatenate([idx for idx, _ in groups])
        assert sorted(seen.tolist()) == list(range(len(items)))
        for idx, rows in groups:
            assert rows.dtype == np.uint8 and rows.ndim == 2 and rows.shape[0] == len(idx)
            assert (np.diff(idx) > 0).all()
            for j, i in enumerate(idx.tolist()):
                assert bytes(rows[j]) == simple_value_event(*items[i])


def test_scalar_rows_batch_encoder_matches_one_by_one(backend):
    # The method layer's batch encoder gives unframed row groups; io frames them (frame_row_groups).
    from anyboard._methods.core import _SCALAR, _scalar_event, _scalar_rows
    from anyboard.io.records import frame_row_groups

    for items in _batch_cases():
        queued = [(_SCALAR, *it) for it in items]
        assert frame_row_groups(len(queued), _scalar_rows(queued)) == frame_many([_scalar_event(*it) for it in items])


@pytest.mark.parametrize("length", [0, 1, 3, 4, 40, 129, 20000])
def test_frame_rows_matches_frame_many(length, backend):
    from anyboard.io.records import frame_rows

    rng = np.random.default_rng(length)
    for n in (1, 2, 33):
        rows = rng.integers(0, 256, (n, length), dtype=np.uint8)
        if n > 1:
            rows[1] = 0  # trailing zero bytes must stay
        out = frame_rows(rows)
        assert out.dtype == np.uint8 and out.shape == (n, HEADER_SIZE + length + FOOTER_SIZE)
        assert out.tobytes() == frame_many([bytes(r) for r in rows])
        # a non-contiguous view of the rows frames the same
        wide = np.zeros((n, length + 3), dtype=np.uint8)
        wide[:, 1 : 1 + length] = rows
        assert frame_rows(wide[:, 1 : 1 + length]).tobytes() == out.tobytes()


def test_frame_row_groups_scatters_records_back_in_order(backend):
    from anyboard.io.records import frame_row_groups

    rng = np.random.default_rng(7)
    for total in (1, 2, 10, 500):
        lengths = rng.choice([0, 5, 17, 300], total)
        payloads = [rng.bytes(int(n)) for n in lengths]
        groups = []
        for n in np.unique(lengths):
            idx = np.flatnonzero(lengths == n)
            rows = np.frombuffer(b"".join(payloads[i] for i in idx), dtype=np.uint8).reshape(len(idx), int(n))
            groups.append((idx, rows))
        rng.shuffle(groups)
        assert frame_row_groups(total, groups) == frame_many(payloads)
    assert frame_row_groups(0, []) == b""


def test_frame_row_groups_rejects_groups_that_do_not_fit(backend):
    from anyboard.io.records import frame_row_groups

    rows = np.zeros((2, 3), dtype=np.uint8)
    with pytest.raises(ValueError):
        frame_row_groups(3, [(np.arange(2), rows)])  # one record missing
    with pytest.raises(ValueError):
        frame_row_groups(2, [(np.array([1, 0]), rows)])  # one group out of order
    with pytest.raises(ValueError):
        frame_row_groups(4, [(np.arange(2), rows), (np.array([3]), rows[:1])])  # position 2 missing


def test_layering_summary_scalar_and_io_records():
    # summary.scalar builds events and never imports anyboard.io; io.records frames bytes,
    # knows no summary type, imports NumPy only inside its batch functions, and computes
    # no CRC of its own (every CRC comes from the crc32c package).
    import ast
    from pathlib import Path

    import anyboard.io.records as records_mod
    import anyboard.summary.scalar as scalar_mod

    def imports(path, top_level_only):
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
        names = []
        for node in tree.body if top_level_only else ast.walk(tree):
            if isinstance(node, ast.Import):
                names += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names.append(node.module or "")
        return names

    assert not [m for m in imports(scalar_mod.__file__, False) if m.startswith("anyboard.io")]
    assert not [m for m in imports(records_mod.__file__, False) if m.startswith("anyboard.summary")]
    assert "numpy" not in imports(records_mod.__file__, True)
    source = Path(records_mod.__file__).read_text(encoding="utf-8")
    assert "0x82F63B78" not in source.upper().replace("0X", "0x")  # the CRC-32C polynomial: no table CRC
    # The C source: beside the package in a checkout, or where the floor script says (wheels do not carry it).
    candidates = [Path(records_mod.__file__).parents[1] / "_native.c"]
    if os.environ.get("ANYBOARD_SOURCE_DIR"):
        candidates.append(Path(os.environ["ANYBOARD_SOURCE_DIR"]) / "_native.c")
    native_path = next((p for p in candidates if p.exists()), None)
    assert native_path is not None, f"the C source is in none of {candidates}"
    native = native_path.read_text(encoding="utf-8").upper()
    assert "82F63B78" not in native and "1EDC6F41" not in native  # nor in the compiled loops: crc is passed in


def test_scalar_batches_built_by_many_threads_at_once_are_right(backend):
    # Several writer threads encode batches at once (the step table is built lazily).
    import threading

    from anyboard.summary.scalar import simple_value_event

    items = [(1.7e9 + i, i * 1000003 % 20000, "t" * (i % 40), i * 0.25) for i in range(300)]
    expected = frame_many([simple_value_event(*it) for it in items])
    results = []
    with frequent_thread_switches():
        for _ in range(5):

            def run() -> None:
                results.append(_group_framing(items)[1])
                results.append(frame_many([simple_value_event(*it) for it in items]))

            threads = [threading.Thread(target=run) for _ in range(6)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    assert len(results) == 60 and all(r == expected for r in results)


def _native_or_skip():
    import os

    from anyboard.io import records

    if records._native_frame_rows is None:
        if os.environ.get("ANYBOARD_REQUIRE_NATIVE"):
            pytest.fail("anyboard._native is not compiled, and ANYBOARD_REQUIRE_NATIVE is set")
        pytest.skip("compiled framing not built")
    from anyboard import _native

    return _native


def test_compiled_framing_takes_every_crc_from_the_function_it_is_given():
    from anyboard.io.crc import crc32c as real_crc
    from anyboard.io.records import _header

    native = _native_or_skip()
    rows = np.arange(12, dtype=np.uint8).reshape(3, 4)
    seen = []

    def crc(data):
        seen.append(bytes(data))
        return real_crc(data)

    out = np.zeros((3, 20), np.uint8)
    native.frame_rows(rows, _header(4), crc, out)
    assert seen == [bytes(r) for r in rows]
    assert out.tobytes() == frame_many([bytes(r) for r in rows])
    # placed at given starts, other bytes untouched
    wide = np.full(70, 0xEE, np.uint8)
    native.frame_rows(rows[::-1].copy(), _header(4), real_crc, wide, np.array([50, 25, 0], np.int64))
    assert wide[:20].tobytes() + wide[25:45].tobytes() + wide[50:].tobytes() == out.tobytes()
    assert (wide[20:25] == 0xEE).all() and (wide[45:50] == 0xEE).all()


def test_compiled_framing_checks_its_arguments_and_passes_crc_errors_on():
    from anyboard.io.crc import crc32c as real_crc
    from anyboard.io.records import _header

    native = _native_or_skip()
    rows = np.zeros((2, 4), np.uint8)
    out = np.zeros((2, 20), np.uint8)
    with pytest.raises(TypeError, match="uint8"):
        native.frame_rows(rows.astype(np.float32), _header(4), real_crc, out)
    with pytest.raises(ValueError, match="12 bytes"):
        native.frame_rows(rows, b"short", real_crc, out)
    with pytest.raises(TypeError, match="callable"):
        native.frame_rows(rows, _header(4), None, out)
    with pytest.raises(ValueError, match="16 bytes per row"):
        native.frame_rows(rows, _header(4), real_crc, np.zeros(39, np.uint8))
    with pytest.raises(ValueError, match="not fit"):
        native.frame_rows(rows, _header(4), real_crc, out, np.array([0, 21], np.int64))
    with pytest.raises(ValueError, match="multiple"):
        native.frame_rows(np.zeros(5, np.uint8), _header(4), real_crc, out, np.array([0, 20], np.int64))
    with pytest.raises(TypeError, match="int64"):
        native.frame_rows(rows, _header(4), real_crc, out, np.array([0, 20], np.int32))
    with pytest.raises(ZeroDivisionError):
        native.frame_rows(rows, _header(4), lambda data: 1 // 0, out)
    with pytest.raises(TypeError):
        native.frame_rows(rows, _header(4), lambda data: "not an int", out)


def test_compiled_scalar_columns_match_the_items_and_refuse_other_forms():
    from anyboard._methods.core import _SCALAR

    native = _native_or_skip()
    items = [(_SCALAR, 1.5 + i, (-1) ** i * 2 ** (i % 50) * 1000, f"t{i % 3}", i / 7) for i in range(60)]
    items.append((_SCALAR, -0.0, 2**63 - 1, "é", float("nan")))
    walls, steps, tags, values = native.scalar_columns(items)
    assert np.frombuffer(walls, np.float64).tolist() == [it[1] for it in items]
    assert np.frombuffer(steps, np.int64).tolist() == [it[2] for it in items]
    assert tags == [it[3] for it in items] and all(a is b for a, b in zip(tags, (it[3] for it in items)))
    got = np.frombuffer(values, np.float64)
    assert got[:-1].tolist() == [it[4] for it in items[:-1]] and np.isnan(got[-1])
    assert native.scalar_columns([]) == (b"", b"", [], b"")
    for bad in [
        (_SCALAR, 1.0, 1, "t"),
        (_SCALAR, 1, 1, "t", 1.0),
        (_SCALAR, 1.0, 1.0, "t", 1.0),
        (_SCALAR, 1.0, 1, b"t", 1.0),
        (_SCALAR, 1.0, True, "t", 1.0),
        [_SCALAR, 1.0, 1, "t", 1.0],
    ]:
        with pytest.raises(TypeError, match="item 1"):
            native.scalar_columns([items[0], bad])
    with pytest.raises(OverflowError):
        native.scalar_columns([(_SCALAR, 1.0, 2**63, "t", 1.0)])
    with pytest.raises(TypeError):
        native.scalar_columns(tuple(items))


def test_text_event_is_byte_identical_to_protobuf():
    # add_text's one-string events are written without protobuf objects (summary.text.text_event);
    # they must be the bytes protobuf writes for the same Event.
    import random

    from anyboard.proto.event_pb2 import Event
    from anyboard.summary.text import text, text_event

    rng = random.Random(11)
    alphabet = "abc xyz\n\t*_#|<>&\"'\\" + "éλ損失🙂\u200b\x00\x7f"
    strings = ["", "a", "x" * 127, "x" * 128, "é" * 10_000, "y" * 70_000, "**bold** and `code`\n\n| a | b |"]
    strings += ["".join(rng.choice(alphabet) for _ in range(rng.choice([1, 5, 60, 300]))) for _ in range(60)]
    tags = ["notes", "", "a/b/c", "損失", "t" * 200]
    steps = [0, 1, 127, 128, 16383, 16384, 2**40, 2**63 - 1, -1, -(2**63)]
    walls = [0.0, -0.0, 1.7e9, math.nan, 5.5, -3.0]
    for i, s in enumerate(strings):
        tag, step, wall = tags[i % len(tags)], steps[i % len(steps)], walls[i % len(walls)]
        expected = Event(wall_time=wall, step=step, summary=text(tag, s)).SerializeToString()
        assert text_event(wall, step, tag, s) == expected, (tag, step, wall, s[:20])


def test_the_event_envelope_is_encoded_in_one_place():
    # Fields 1 (wall_time) and 2 (step) of an Event are written by anyboard._wire alone; every
    # event holding a summary is wrapped by its event_bytes (io.events re-exports it).
    import anyboard
    from anyboard import _wire
    from anyboard.io import events

    assert events.event_bytes is _wire.event_bytes
    root = Path(anyboard.__file__).parent
    pieces = ("WALL_HEAD", "STEP_FIELDS", "wall_field", "step_field")
    users = sorted(
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if path.name != "_wire.py" and any(p in path.read_text(encoding="utf-8") for p in pieces)
    )
    assert users == ["io/events.py"]  # its re-exports


@pytest.mark.parametrize("wall", [0.0, -0.0, 1.7e9, float("nan")])
@pytest.mark.parametrize("step", [0, 1, 127, 128, 16383, 16384, 2**40, -1, -(2**63)])
def test_scalar_and_text_events_are_the_envelope_around_their_summary(wall, step):
    from anyboard.proto.event_pb2 import Event
    from anyboard.proto.summary_pb2 import Summary
    from anyboard.summary.scalar import simple_value_bytes, simple_value_event
    from anyboard.summary.text import text, text_event

    for tag in ("loss", "", "é/" * 70):
        summary = simple_value_bytes(tag, 0.25)
        expected = Event(wall_time=wall, step=step, summary=Summary.FromString(summary)).SerializeToString()
        assert simple_value_event(wall, step, tag, 0.25) == event_bytes(wall, step, summary) == expected
        message = text(tag, "some *text*", "tensor")
        expected = Event(wall_time=wall, step=step, summary=message).SerializeToString()
        assert text_event(wall, step, tag, "some *text*") == expected


def test_only_io_frames_records():
    # The method layer and the summary builders hand over unframed events; tfrecord framing is io's.
    import ast

    import anyboard

    root = Path(anyboard.__file__).parent
    framing = {"frame", "frame_many", "frame_rows", "frame_row_groups", "masked_crc32c", "crc32c"}
    offenders = []
    for package in ("_methods", "summary"):
        for path in (root / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("anyboard.io"):
                    offenders += [f"{path.name}: {a.name}" for a in node.names if a.name in framing]
    assert not offenders
