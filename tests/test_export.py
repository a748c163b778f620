"""``export_scalars_to_json`` (tensorboardX) and ``export_scalars`` / ``clear_scalar_dict`` (MXBoard).

The export reads the writer's own event files back (nothing is kept in RAM),
so these tests check that what comes out equals what was logged, in the
peers' JSON layout, with bounded memory, also after ``close()``.
"""

from __future__ import annotations

import gc
import json
import math
import os
import struct
import tracemalloc
import uuid

import numpy as np
import pytest

import anyboard
from anyboard._methods import export as export_module


def f32(x: float) -> float:
    """``x`` rounded to float32, as the event file stores it."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def load(path) -> dict:
    with open(path) as f:
        return json.load(f)


def test_export_scalars_to_json_exports_add_scalars_only(logdir, tmp_path):
    with anyboard.SummaryWriter(logdir) as w:
        for i in range(6):
            w.add_scalar("loss", 1.0 / (i + 1), i, walltime=1000.0 + i)
            w.add_scalars("run/lr", {"a": 0.1 * i, "b": -2.5 * i}, global_step=10 * i, walltime=2000.25 + i)
        w.export_scalars_to_json(tmp_path / "out.json")
    got = load(tmp_path / "out.json")
    key_a = os.path.join(logdir, "run_lr_a", "run/lr")
    key_b = os.path.join(logdir, "run_lr_b", "run/lr")
    assert list(got) == [key_a, key_b]  # the main run's add_scalar is not exported (tensorboardX)
    assert got[key_a] == [[2000.25 + i, 10 * i, f32(0.1 * i)] for i in range(6)]
    assert got[key_b] == [[2000.25 + i, 10 * i, f32(-2.5 * i)] for i in range(6)]


def test_export_all_scalars_every_encoding(logdir, tmp_path):
    with anyboard.SummaryWriter(logdir) as w:
        w.add_scalar("plain", 0.3, 1, walltime=10.5)
        w.add_scalar("plain", 7, 2, walltime=11.5)
        w.add_scalar("tensor", 2.5, 3, walltime=12.0, new_style=True)
        w.add_scalar("described", -1.25, 4, walltime=13.0, summary_description="d")
        w.add_scalar("mx", {"x": 1.5, "y": 2.5}, 5)  # MXBoard's dict value: add_scalars
        w.add_histogram("not_a_scalar", np.arange(10.0), 1)
        w.add_text("nor_text", "hello", 1)
        w.export_scalars(tmp_path / "all.json")
        w.export_scalars_to_json(tmp_path / "all2.json", only_add_scalars=False)
    got = load(tmp_path / "all.json")
    assert load(tmp_path / "all2.json") == got
    assert list(got) == [
        os.path.join(logdir, "plain"),
        os.path.join(logdir, "tensor"),
        os.path.join(logdir, "described"),
        os.path.join(logdir, "mx_x", "mx"),
        os.path.join(logdir, "mx_y", "mx"),
    ]
    assert got[os.path.join(logdir, "plain")] == [[10.5, 1, f32(0.3)], [11.5, 2, 7.0]]
    assert got[os.path.join(logdir, "tensor")] == [[12.0, 3, 2.5]]
    assert got[os.path.join(logdir, "described")] == [[13.0, 4, -1.25]]
    assert [row[1:] for row in got[os.path.join(logdir, "mx_y", "mx")]] == [[5, 2.5]]


def test_export_text_is_what_json_dump_writes(logdir, tmp_path):
    """Byte-for-byte the peers' ``json.dump(dict, f)`` output, NaN and infinities included."""
    values = [0.1, math.nan, math.inf, -math.inf, -0.0, 1e-30, 3.4e38]
    with anyboard.SummaryWriter(logdir) as w:
        for i, v in enumerate(values):
            w.add_scalars("m", {"k": v}, i - 3, walltime=1.5e9 + i / 7)
        w.add_scalars("m", {"k": 1.0}, 2**62, walltime=5.0)
        w.export_scalars_to_json(tmp_path / "o.json")
    text = (tmp_path / "o.json").read_text()
    rows = [[1.5e9 + i / 7, i - 3, f32(v)] for i, v in enumerate(values)] + [[5.0, 2**62, 1.0]]
    assert text == json.dumps({os.path.join(logdir, "m_k", "m"): rows})


def test_export_scalars_to_json_continues_where_the_last_one_stopped(logdir, tmp_path):
    with anyboard.SummaryWriter(logdir) as w:
        w.add_scalars("s", {"a": 1.0}, 1, walltime=1.0)
        w.export_scalars_to_json(tmp_path / "1.json")
        w.add_scalars("s", {"a": 2.0, "b": 3.0}, 2, walltime=2.0)
        w.export_scalars_to_json(tmp_path / "2.json")
        w.export_scalars_to_json(tmp_path / "3.json")
    a, b = os.path.join(logdir, "s_a", "s"), os.path.join(logdir, "s_b", "s")
    assert load(tmp_path / "1.json") == {a: [[1.0, 1, 1.0]]}
    assert load(tmp_path / "2.json") == {a: [[2.0, 2, 2.0]], b: [[2.0, 2, 3.0]]}
    assert load(tmp_path / "3.json") == {}


def test_export_scalars_repeats_until_clear_scalar_dict(logdir, tmp_path):
    with anyboard.SummaryWriter(logdir) as w:
        w.add_scalar("t", 1.0, 1, walltime=1.0)
        w.export_scalars(tmp_path / "1.json")
        w.export_scalars(tmp_path / "2.json")
        w.clear_scalar_dict()
        w.export_scalars(tmp_path / "3.json")
        w.add_scalar("t", 2.0, 2, walltime=2.0)
        w.export_scalars(tmp_path / "4.json")
    t = os.path.join(logdir, "t")
    assert load(tmp_path / "1.json") == load(tmp_path / "2.json") == {t: [[1.0, 1, 1.0]]}
    assert load(tmp_path / "3.json") == {}
    assert load(tmp_path / "4.json") == {t: [[2.0, 2, 2.0]]}


def test_export_works_after_close(logdir, tmp_path):
    w = anyboard.SummaryWriter(logdir)
    w.add_scalar("x", 4.0, 3, walltime=9.0)
    w.add_scalars("g", {"k": 5.0}, 3, walltime=9.0)
    w.close()
    w.export_scalars(tmp_path / "all.json")
    w.export_scalars_to_json(tmp_path / "sub.json")
    assert load(tmp_path / "all.json") == {
        os.path.join(logdir, "x"): [[9.0, 3, 4.0]],
        os.path.join(logdir, "g_k", "g"): [[9.0, 3, 5.0]],
    }
    assert load(tmp_path / "sub.json") == {os.path.join(logdir, "g_k", "g"): [[9.0, 3, 5.0]]}


def test_export_reads_only_this_writers_files(logdir, tmp_path):
    with anyboard.SummaryWriter(logdir) as old:
        old.add_scalar("x", 1.0, 1, walltime=1.0)
        old.add_scalars("g", {"k": 1.0}, 1, walltime=1.0)
    with anyboard.SummaryWriter(logdir) as w:
        w.add_scalar("x", 2.0, 2, walltime=2.0)
        w.add_scalars("g", {"k": 2.0}, 2, walltime=2.0)
        w.export_scalars(tmp_path / "o.json")
    assert load(tmp_path / "o.json") == {
        os.path.join(logdir, "x"): [[2.0, 2, 2.0]],
        os.path.join(logdir, "g_k", "g"): [[2.0, 2, 2.0]],
    }


def test_export_many_tags_keeps_each_series_whole(logdir, tmp_path, monkeypatch):
    """More rows than the buffer budget: several passes, each key's rows contiguous and in order."""
    monkeypatch.setattr(export_module, "ROW_BUDGET", 7)
    tags = [f"t{i}" for i in range(5)]
    with anyboard.SummaryWriter(logdir) as w:
        for step in range(12):
            for j, tag in enumerate(tags):
                w.add_scalar(tag, float(step * 10 + j), step, walltime=float(step))
        w.export_scalars(tmp_path / "o.json")
    got = load(tmp_path / "o.json")
    assert list(got) == [os.path.join(logdir, t) for t in tags]
    for j, tag in enumerate(tags):
        assert got[os.path.join(logdir, tag)] == [[float(s), s, float(s * 10 + j)] for s in range(12)]


def test_export_to_a_remote_logdir_and_url(tmp_path):
    root = f"memory://export-{uuid.uuid4().hex}"
    with anyboard.SummaryWriter(root) as w:
        w.add_scalar("x", 1.0, 1, walltime=1.0)
        w.flush()  # a second object: remote runs are several files
        w.add_scalar("x", 2.0, 2, walltime=2.0)
        w.add_scalars("g", {"k": 3.0}, 3, walltime=3.0)
        w.export_scalars(root + "/out.json")
    from anyboard.io import remote

    got = json.loads(remote.read_bytes(root + "/out.json"))
    assert got == {root + "/x": [[1.0, 1, 1.0], [2.0, 2, 2.0]], root + "/g_k/g": [[3.0, 3, 3.0]]}


def test_export_without_disk_writes_an_empty_object(tmp_path):
    with anyboard.SummaryWriter(str(tmp_path / "nothing"), write_to_disk=False) as w:
        w.add_scalars("g", {"k": 1.0}, 1)
        w.export_scalars_to_json(tmp_path / "o.json")
    assert load(tmp_path / "o.json") == {}


def test_export_bad_path_and_damaged_file(logdir, tmp_path):
    w = anyboard.SummaryWriter(logdir)
    w.add_scalar("x", 1.0, 1)
    with pytest.raises(TypeError, match=r"str or os\.PathLike"):
        w.export_scalars(123)
    w.close()
    (path,) = w.written_files()[""]
    with open(path, "rb") as f:
        data = bytearray(f.read())
    data[-6] ^= 0xFF  # inside the scalar event's payload: its data CRC no longer matches
    with open(path, "wb") as f:
        f.write(bytes(data))
    with pytest.raises(ValueError, match="damaged"):
        w.export_scalars(tmp_path / "o.json")


def test_export_of_200k_scalars_is_bounded_in_memory(logdir, tmp_path):
    """tracemalloc peak of the export is far below what holding the rows (as the peers do) takes."""
    n = 200_000
    with anyboard.SummaryWriter(logdir, max_queue=100_000) as w:
        for i in range(n // 2):
            w.add_scalar("a", float(i), i)
            w.add_scalar("b", -float(i), i)
        w.flush()
        gc.collect()
        tracemalloc.start()
        try:
            w.export_scalars(tmp_path / "big.json")
            _, export_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            base, _ = tracemalloc.get_traced_memory()
            held = [[1.5e9 + i, i, float(i)] for i in range(n)]  # the peers' scalar_dict rows
            held_bytes = tracemalloc.get_traced_memory()[0] - base
            del held
        finally:
            tracemalloc.stop()
    assert export_peak < held_bytes / 4, (export_peak, held_bytes)
    got = load(tmp_path / "big.json")
    assert [r[1:] for r in got[os.path.join(logdir, "a")]] == [[i, float(i)] for i in range(n // 2)]
    assert len(got[os.path.join(logdir, "b")]) == n // 2
