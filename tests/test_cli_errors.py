"""The ``anyboard`` command's answers to what a user can get wrong: one line on stderr, exit 2.

Storage that fails (an unknown protocol, missing credentials: any error of an fsspec backend),
a file that is not an event file, ``--run``/``--tag`` that match nothing (a warning), and an
empty selection exported to Parquet (typed columns, so it concatenates with a full one).
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import anyboard
from anyboard.cli import main


@pytest.fixture
def logs(tmp_path):
    path = str(tmp_path / "logs")
    with anyboard.SummaryWriter(path) as w:
        for i in range(3):
            w.add_scalar("loss", 1.0 / (i + 1), i)
            w.add_histogram("h", np.arange(10.0) + i, i)
            w.add_text("note", f"step {i}", i)
    return path


def _one_line_error(capsys, command: str) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"anyboard {command}: ") and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("command", [["ls"], ["dump"], ["export", "-o", "-"]])
def test_an_unknown_protocol_is_a_usage_error(command, capsys):
    assert main([command[0], "s3x://bucket/run", *command[1:]]) == 2
    err = _one_line_error(capsys, command[0])
    assert "cannot read 's3x://bucket/run'" in err and "Protocol not known: s3x" in err


class NoCredentialsError(Exception):
    """What botocore raises without credentials (any backend's own exception)."""


@pytest.fixture
def failing_storage():
    """A ``failfs://`` fsspec filesystem whose every listing fails as S3 without credentials does."""
    fsspec = pytest.importorskip("fsspec")
    from fsspec.implementations.memory import MemoryFileSystem

    class FailingFileSystem(MemoryFileSystem):
        protocol = "failfs"
        root_marker = ""
        store: dict = {}
        pseudo_dirs = [""]

        def _fail(self, *args, **kwargs):
            raise NoCredentialsError("Unable to locate credentials")

        ls = info = find = walk = exists = isdir = isfile = glob = _open = _fail

    fsspec.register_implementation("failfs", FailingFileSystem, clobber=True)
    yield "failfs://bucket/run"
    importlib.import_module("fsspec.registry")._registry.pop("failfs", None)


@pytest.mark.parametrize("command", [["ls"], ["dump"], ["export", "-o", "-"]])
def test_a_storage_backend_error_is_one_line_naming_the_url(failing_storage, command, capsys):
    assert main([command[0], failing_storage, *command[1:]]) == 2
    err = _one_line_error(capsys, command[0])
    assert f"cannot read '{failing_storage}': NoCredentialsError: Unable to locate credentials" in err


@pytest.mark.parametrize("content", [b"hello\n", b"x" * 100, b""])
@pytest.mark.parametrize("command", ["ls", "dump"])
def test_a_file_that_is_not_an_event_file_is_named(tmp_path, command, content, capsys):
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    assert main([command, str(path)]) == 2
    assert f"'{path}' is not an event file" in _one_line_error(capsys, command)


def test_an_event_file_under_any_name_is_still_read(logs, tmp_path, capsys):
    import os
    import shutil

    [name] = [n for n in os.listdir(logs) if "tfevents" in n]
    copy = tmp_path / "renamed.bin"
    shutil.copy(os.path.join(logs, name), copy)
    assert main(["ls", str(copy)]) == 0
    assert "loss" in capsys.readouterr().out


def test_run_and_tag_that_match_nothing_warn(logs, capsys):
    assert main(["export", logs, "-o", "-", "--run", "nope", "--run", ".", "--tag", "lost", "--tag", "loss"]) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "warning: --run 'nope' matched no scalars",
        "warning: --tag 'lost' matched no scalars",
    ]
    assert captured.out.count("\n") == 4  # the header and the three values of "loss"
    assert main(["dump", logs, "--run", "nope", "--tag", "h"]) == 0
    assert capsys.readouterr().err.splitlines() == [
        f"warning: --run 'nope' matched no run under {logs}",
        "warning: --tag 'h' matched no summary value",
    ]
    assert main(["dump", logs, "--tag", "h"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("kind", ["scalars", "histograms", "text", "hparams"])
def test_an_empty_parquet_export_has_the_types_of_a_full_one(logs, tmp_path, kind):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    if kind == "hparams":
        with anyboard.SummaryWriter(logs) as w:
            w.add_hparams({"lr": 0.1}, {"acc": 0.5}, run_name="session")
    empty = tmp_path / "empty"
    empty.mkdir()
    full, none = str(tmp_path / "full.parquet"), str(tmp_path / "none.parquet")
    assert main(["export", logs, "-o", full, "--kind", kind]) == 0
    assert main(["export", str(empty), "-o", none, "--kind", kind]) == 0
    full_schema, none_schema = pq.read_schema(full), pq.read_schema(none)
    assert pq.read_table(full).num_rows > 0 and pq.read_table(none).num_rows == 0
    assert none_schema.field("run").type == pa.string()
    for field in none_schema:
        assert field.type != pa.null(), field
        assert full_schema.field(field.name).type == field.type, field
    table = pa.concat_tables([pq.read_table(full).select(none_schema.names), pq.read_table(none)])
    assert table.num_rows == pq.read_table(full).num_rows
    if kind == "histograms":
        for name in ("edges", "counts"):
            assert pa.types.is_list(none_schema.field(name).type)
            assert none_schema.field(name).type.value_type == pa.float64()
