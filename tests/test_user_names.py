"""Names a user passes (add_scalars keys, run_name, embedding tags, FileWriter runs, filename_suffix)
under local and URL log directories: distinct names stay distinct files, none leaves the log
directory, and a refused one names its argument and leaves nothing behind."""

from __future__ import annotations

import os
import uuid

import fsspec
import numpy as np
import pytest

import anyboard
from anyboard.io import remote


def _memory_url(prefix: str) -> str:
    return f"memory://{prefix}-{uuid.uuid4().hex[:10]}/run"


def _scalars_under(url: str) -> dict[str, list[tuple[int, str, float]]]:
    """``{run path below url: [(step, tag, value)]}`` of every event object below ``url`` (fsspec)."""
    fs, root = fsspec.core.url_to_fs(url)
    out: dict[str, list[tuple[int, str, float]]] = {}
    for path in fs.find(root):
        if "tfevents" not in path.rsplit("/", 1)[-1]:
            continue
        run = path[len(root) :].strip("/").rsplit("/", 1)[0] if "/" in path[len(root) :].strip("/") else ""
        with fs.open(path, "rb") as f:
            for e in anyboard.iter_events(path, fileobj=f):
                for v in e.summary.value:
                    out.setdefault(run, []).append((e.step, v.tag, v.simple_value))
    return out


@pytest.mark.parametrize("keys", [["train::a", "train::b", "train"], ["a?versionId=1", "a"], ["x#1", "x"]])
def test_url_special_characters_in_names_give_distinct_objects(keys):
    """fsspec reads ``a::b`` as a chain of file systems (the path after ``::`` was dropped) and
    s3fs cuts keys at ``?versionId=``: the three keys had shared one object, losing flushes."""
    url = _memory_url("chars")
    with anyboard.SummaryWriter(url) as w:
        for step in range(3):
            w.add_scalars("loss", {k: float(i * 10 + step) for i, k in enumerate(keys)}, step)
            w.flush()
        runs = sorted(w.all_writers)
    got = _scalars_under(url)
    sub = {run: rows for run, rows in got.items() if run}
    assert len(sub) == len(keys), sorted(got)
    for i, _ in enumerate(keys):
        values = sorted(rows for rows in sub.values() if rows[0][2] == float(i * 10))
        assert values == [[(s, "loss", float(i * 10 + s)) for s in range(3)]]
    fs, _ = fsspec.core.url_to_fs(url)
    for run in runs:  # all_writers names the real directories
        assert fs.exists(fsspec.core.url_to_fs(run)[1])


def test_an_embedding_tag_with_a_chain_marker_keeps_its_files_on_a_url():
    url = _memory_url("emb")
    with anyboard.SummaryWriter(url) as w:
        w.add_embedding(np.eye(3, dtype=np.float32), metadata=["a", "b", "c"], tag="emb::v2")
    fs, root = fsspec.core.url_to_fs(url)
    config = fs.cat_file(f"{root}/projector_config.pbtxt").decode()
    paths = [
        line.split('"')[1] for line in config.splitlines() if line.strip().startswith(("tensor_path", "metadata_path"))
    ]
    assert len(paths) == 2
    for rel in paths:
        assert fs.exists(f"{root}/{rel}"), (rel, fs.find(root))
    assert "::" not in "".join(paths)


def test_run_name_dot_is_the_writers_own_run_as_for_the_peers(logdir):
    """``run_name="."`` (a common idiom: the peers join it onto the log directory) had made a
    sub-run ``%2e``, a separate run in the HParams dashboard."""
    with anyboard.SummaryWriter(logdir) as w:
        w.add_scalar("loss", 1.0, 0)
        w.add_hparams({"lr": 0.1}, {"hparam/acc": 0.5}, run_name=".")
        w.add_hparams({"lr": 0.2}, {"hparam/acc": 0.6}, run_name="./b/.")
    assert sorted(d for d in os.listdir(logdir) if os.path.isdir(os.path.join(logdir, d))) == ["b"]
    own = {v.tag for e in anyboard.iter_run_events(logdir) for v in e.summary.value}
    assert {"loss", "hparam/acc", "_hparams_/session_start_info"} <= own
    with (
        anyboard.SummaryWriter(logdir + "2") as w,
        pytest.raises(ValueError, match="run_name '/' is an absolute path outside"),
    ):
        w.add_hparams({"lr": 0.1}, {"hparam/acc": 0.5}, run_name="/")


def test_tensorboardx_layout_drops_dot_levels_as_tensorboardx_does(logdir):
    with anyboard.SummaryWriter(logdir, file_layout="tensorboardX") as w:
        w.add_scalars("./val", {"x": 1.0}, 0)
    assert os.listdir(logdir) != [] and os.path.isdir(os.path.join(logdir, "val", "x"))
    assert not os.path.exists(os.path.join(logdir, "%2e"))


@pytest.mark.parametrize("scheme", ["local", "memory"])
def test_a_filewriter_run_cannot_leave_a_url_log_directory(tmp_path, scheme):
    base = f"local://{tmp_path}/logs/run" if scheme == "local" else _memory_url("fw")
    w = anyboard.SummaryWriter(base)
    fw = anyboard.FileWriter(w, "../../escaped")
    assert fw.get_logdir() == remote.join(base, "%2e%2e/%2e%2e/escaped")
    fw.add_summary(anyboard.summary.scalar.scalar("x", 1.0), 0)
    w.close()
    if scheme == "local":
        assert sorted(os.listdir(tmp_path)) == ["logs"]
    else:
        fs, root = fsspec.core.url_to_fs(base)
        assert all(p.startswith(root + "/") for p in fs.find(root.rsplit("/", 1)[0]))


def test_refused_names_name_their_argument_and_leave_nothing(logdir):
    long = "k" * 300
    with anyboard.SummaryWriter(logdir) as w:
        with pytest.raises(ValueError, match=r"tag 'loss': add_scalars sub-run .* too long"):
            w.add_scalars("loss", {"ok": 1.0, long: 2.0}, 0)
        with pytest.raises(ValueError, match=r"add_hparams: run_name .* too long"):
            w.add_hparams({"a": 1}, {"m": 1.0}, run_name=long)
        with pytest.raises(ValueError, match=r"tag 'kkk.*add_embedding folder .* too long"):
            w.add_embedding(np.eye(2, dtype=np.float32), tag=long)
    # the first key's sub-run was not made either (every name is checked before any is opened)
    assert [d for d in os.listdir(logdir) if os.path.isdir(os.path.join(logdir, d))] == []
    with pytest.raises(TypeError, match="filename_suffix: expected a str"):
        anyboard.SummaryWriter(logdir + "-a", filename_suffix=1)
    with pytest.raises(ValueError, match=r"filename_suffix 'sss.* is too long: event file names would be up to"):
        anyboard.SummaryWriter(logdir + "-b", filename_suffix="s" * 220)
    assert not os.path.exists(logdir + "-a") and not os.path.exists(logdir + "-b")


def test_run_names_are_normalized_as_the_file_system_normalizes_the_peers(logdir):
    """torch's ``os.path.join(logdir, run_name)``: ``sub/..`` is the log directory, and an absolute
    path inside it (a widely copied workaround) is its sub-run; one outside is refused, not nested."""
    os.makedirs(logdir)
    with anyboard.SummaryWriter(logdir) as w:
        w.add_hparams({"lr": 0.1}, {"hparam/a": 1.0}, run_name="sub/..")
        w.add_hparams({"lr": 0.2}, {"hparam/b": 1.0}, run_name=os.path.join(os.path.abspath(logdir), "x", "y"))
        w.add_hparams({"lr": 0.3}, {"hparam/c": 1.0}, run_name="a/../../b")  # above the log directory: kept inside
        with pytest.raises(ValueError, match="absolute path outside the log directory"):
            w.add_hparams({"lr": 0.4}, {"hparam/d": 1.0}, run_name=os.path.dirname(os.path.abspath(logdir)))
    own = {v.tag for e in anyboard.iter_run_events(logdir) for v in e.summary.value}
    assert "hparam/a" in own
    assert sorted(os.listdir(logdir)) == [
        "%2e%2e",
        *sorted(n for n in os.listdir(logdir) if n.startswith("events")),
        "x",
    ]
    assert os.path.isdir(os.path.join(logdir, "x", "y")) and os.path.isdir(os.path.join(logdir, "%2e%2e", "b"))


def test_a_file_url_log_directory_names_runs_as_its_plain_path_does(tmp_path):
    """file:// writes go to the local disk: its names follow the local rules (a lone ':' kept, an
    absolute run_name inside it is its sub-run), as for the same directory spelled as a path."""
    made = {}
    for spelling in ("plain", "url"):
        root = tmp_path / spelling
        logdir = f"file://{root}" if spelling == "url" else str(root)
        with anyboard.SummaryWriter(logdir) as w:
            w.add_scalars("loss", {"a:b": 1.0}, 0)
            w.add_hparams({"lr": 0.1}, {"hparam/m": 1.0}, run_name=str(root / "trial"))
        made[spelling] = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_dir())
    assert made["plain"] == made["url"] == ["loss_a:b", "trial"]


@pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt", reason="POSIX symlinks")
def test_an_absolute_run_name_through_another_symlink_spelling_is_inside(tmp_path):
    (tmp_path / "real" / "exp").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    with anyboard.SummaryWriter(str(tmp_path / "link" / "exp")) as w:
        w.add_hparams({"lr": 0.1}, {"hparam/m": 1.0}, run_name=str(tmp_path / "real" / "exp" / "trial"))
    assert sorted(os.listdir(tmp_path / "real" / "exp")) == sorted(
        [n for n in os.listdir(tmp_path / "real" / "exp") if n.startswith("events")] + ["trial"]
    )


def test_a_run_name_on_another_windows_drive_is_refused_naming_run_name(monkeypatch):
    import ntpath

    from anyboard._methods import hparams

    monkeypatch.setattr(hparams, "os", type("os_on_windows", (), {"path": ntpath, "pardir": "..", "sep": "\\"}))
    with pytest.raises(ValueError, match=r"run_name 'D:\\\\elsewhere\\\\run' is an absolute path outside"):
        hparams._run_path("D:\\elsewhere\\run", "C:\\logs")
    assert hparams._run_path("C:\\logs\\a\\b", "C:\\logs") == "a/b"


def test_a_lone_colon_stays_in_url_names_as_the_peers_write_it():
    url = _memory_url("colon")
    with anyboard.SummaryWriter(url) as w:
        w.add_scalars("loss", {"val:top1": 1.0, "a::b": 2.0}, 0)
    fs, root = fsspec.core.url_to_fs(url)
    subruns = sorted(p.rsplit("/", 1)[-1] for p in fs.ls(root, detail=False) if "tfevents" not in p)
    assert subruns == ["loss_a%3a%3ab", "loss_val:top1"]


def test_a_suffix_with_a_chain_marker_on_a_url_is_read_back():
    """The event file's name is cut at '::' by fsspec when read through its URL: the writer wrote
    '...::zip' and anyboard's own reader found nothing."""
    url = _memory_url("suffix")
    with anyboard.SummaryWriter(url, filename_suffix="::zip") as w:
        w.add_scalar("loss", 2.0, 0)
    frame = anyboard.read_scalars(url)
    assert list(frame["value"]) == [2.0]
