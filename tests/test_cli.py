"""The ``anyboard`` command: ls, dump, export, through ``python -m anyboard`` and ``main([...])``."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from readref import tb_scalars

import anyboard
from anyboard.cli import main


@pytest.fixture
def logs(tmp_path):
    path = str(tmp_path / "logs")
    with anyboard.SummaryWriter(path) as w:
        for i in range(5):
            w.add_scalar("loss", 1.0 / (i + 1), i)
            w.add_scalars("grp", {"a": float(i)}, i)
            w.add_histogram("h", np.arange(10.0) + i, i)
            w.add_text("note", f"step {i}", i)
        w.add_hparams({"lr": 0.1}, {"hp/acc": 0.9}, run_name="session")
    return path


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "anyboard", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_ls_lists_runs_tags_kinds_counts_and_steps(logs, capsys):
    assert main(["ls", logs]) == 0
    out = capsys.readouterr().out
    lines = [line.split() for line in out.splitlines()]
    assert ["loss", "scalars", "5", "steps", "0..4"] in lines
    assert ["h", "histograms", "5", "steps", "0..4"] in lines
    assert ["note", "text", "5", "steps", "0..4"] in lines
    assert any(line[:2] == ["run", "grp_a"] for line in lines)
    assert any(line[:2] == ["run", "session"] for line in lines)


def test_dump_prints_every_event_and_filters_by_tag(logs):
    proc = _run("dump", logs, "--tag", "note")
    assert proc.returncode == 0, proc.stderr
    blocks = [b for b in proc.stdout.split("# run ") if b.strip()]
    assert len(blocks) == 5 and all('tag: "note"' in b for b in blocks)
    assert 'tag: "loss"' not in proc.stdout
    everything = _run("dump", logs).stdout
    assert 'file_version: "brain.Event:2"' in everything and 'tag: "loss"' in everything


def test_export_csv_to_stdout_matches_tensorboard(logs):
    proc = _run("export", logs, "-o", "-")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    got: dict = {}
    for r in rows:
        got.setdefault((r["run"], r["tag"]), []).append((int(r["step"]), float(r["wall_time"]), float(r["value"])))
    assert got == tb_scalars(logs)


@pytest.mark.parametrize("ext", [".csv", ".parquet", ".jsonl"])
def test_export_formats_by_extension(logs, tmp_path, ext, capsys):
    out = str(tmp_path / f"out{ext}")
    assert main(["export", logs, "-o", out, "--kind", "histograms"]) == 0
    if ext == ".parquet":
        pq = pytest.importorskip("pyarrow.parquet")
        table = pq.read_table(out).to_pydict()
        counts = table["counts"]
    elif ext == ".jsonl":
        with open(out, encoding="utf-8") as f:
            records = [json.loads(line) for line in f]
        counts = [r["counts"] for r in records]
    else:
        with open(out, encoding="utf-8", newline="") as f:
            counts = [json.loads(r["counts"]) for r in csv.DictReader(f)]
    assert len(counts) == 5 and all(sum(c) == 10 for c in counts)


def test_export_jsonl_is_strict_json_with_non_finite_values_as_null(tmp_path):
    logdir = str(tmp_path / "logs")
    values = [1.5, float("nan"), float("inf"), float("-inf")]
    with anyboard.SummaryWriter(logdir) as w:
        for i, v in enumerate(values):
            w.add_scalar("loss", v, i)
    out = str(tmp_path / "s.jsonl")
    assert main(["export", logdir, "-o", out]) == 0

    def refuse(token: str) -> None:
        raise ValueError(f"not strict JSON: {token}")

    with open(out, encoding="utf-8") as f:
        records = [json.loads(line, parse_constant=refuse) for line in f]
    assert [r["value"] for r in records] == [1.5, None, None, None]
    assert [r["step"] for r in records] == [0, 1, 2, 3]


def test_export_text_and_hparams(logs, tmp_path):
    out = str(tmp_path / "text.jsonl")
    assert main(["export", logs, "-o", out, "--kind", "text"]) == 0
    with open(out, encoding="utf-8") as f:
        assert [json.loads(line)["text"] for line in f] == [f"step {i}" for i in range(5)]
    out = str(tmp_path / "hp.csv")
    assert main(["export", logs, "-o", out, "--kind", "hparams"]) == 0
    with open(out, encoding="utf-8", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert row["run"] == "session" and float(row["lr"]) == 0.1 and float(row["hp/acc"]) == pytest.approx(0.9)


@pytest.mark.parametrize(
    "args, message",
    [
        (["ls", "{missing}"], "no log directory or event file"),
        (["dump", "{missing}"], "no log directory or event file"),
        (["export", "{logs}", "-o", "out.xlsx"], "cannot tell the format"),
        (["export", "{missing}", "-o", "-"], "no log directory or event file"),
        (["export", "{logs}", "-o", "{tmp}/no/such/dir/x.csv"], "no directory"),
        (["export", "{logs}", "-o", "{tmp}/adir.csv"], "it is a directory"),
        (["export", "{logs}", "-o", "{tmp}/adir.parquet"], "it is a directory"),
    ],
)
def test_user_errors_exit_2_without_traceback(logs, tmp_path, args, message):
    fill = {"missing": str(tmp_path / "missing"), "logs": logs, "tmp": str(tmp_path)}
    os.makedirs(tmp_path / "adir.csv")
    os.makedirs(tmp_path / "adir.parquet")
    proc = _run(*[a.format(**fill) for a in args])
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert main([a.format(**fill) for a in args]) == 2


def test_export_checks_the_output_before_reading(logs, tmp_path, monkeypatch, capsys):
    from anyboard import read

    def not_reached(*args, **kwargs):
        raise AssertionError("the logs were read before the output was checked")

    monkeypatch.setattr(read, "read_scalars", not_reached)
    os.makedirs(tmp_path / "adir.csv")
    assert main(["export", logs, "-o", str(tmp_path / "adir.csv")]) == 2
    assert main(["export", logs, "-o", str(tmp_path / "no" / "x.jsonl")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_export_parquet_writes_columns_that_mix_types_as_text(tmp_path):
    """A text logged as a str and as a table, an hparam a number in one session and a str in
    another: Parquet needs one type per column (pyarrow raised); CSV and JSONL kept both."""
    pq = pytest.importorskip("pyarrow.parquet")
    logdir = str(tmp_path / "logs")
    with anyboard.SummaryWriter(logdir) as w:
        w.add_text("note", "plain", 0)
        w.add_text("note", [["a", "b"], ["c", "d"]], 1)
        w.add_hparams({"lr": 0.1}, {"acc": 0.5}, run_name="a")
        w.add_hparams({"lr": "auto"}, {"acc": 0.75}, run_name="b")
    for kind in ("text", "hparams"):
        out = str(tmp_path / f"{kind}.parquet")
        proc = _run("export", logdir, "--kind", kind, "-o", out)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
        table = pq.read_table(out).to_pydict()
        csv_out = str(tmp_path / f"{kind}.csv")
        assert main(["export", logdir, "--kind", kind, "-o", csv_out]) == 0
        with open(csv_out, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        column = "text" if kind == "text" else "lr"
        assert table[column] == [r[column] for r in rows]  # the same text as the CSV's cells
    assert table["lr"] == ["0.1", "auto"] and table["acc"] == [0.5, 0.75]


def test_damaged_file_warns_on_stderr_and_strict_fails(logs, tmp_path):
    (path,) = [os.path.join(logs, n) for n in os.listdir(logs) if "tfevents" in n]
    with open(path, "rb") as f:
        raw = bytearray(f.read())
    raw[len(raw) // 2] ^= 0xFF
    with open(path, "wb") as f:
        f.write(bytes(raw))
    proc = _run("ls", logs)
    assert proc.returncode == 0 and "corrupt record at byte offset" in proc.stderr and path in proc.stderr
    proc = _run("ls", logs, "--strict")
    assert proc.returncode == 1 and "corrupt record" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("anyboard ls: ")


def test_progress_is_shown_for_slow_reads():
    from anyboard.cli.read import _Progress

    stream = io.StringIO()
    p = _Progress(stream, delay=0.0)
    p(50, 100)
    assert "50.0%" in stream.getvalue()
    quiet = io.StringIO()
    p = _Progress(quiet, delay=60.0)
    p(50, 100)
    assert quiet.getvalue() == ""


def test_help_lists_the_read_commands():
    proc = _run("--help")
    assert proc.returncode == 0
    for command in ("ls", "dump", "export"):
        assert command in proc.stdout
