"""Symlinks in the log directory: never written through when they lead outside it.

A sub-run folder, a projector folder or file, the projector config, or an
event-file name that is a symlink leading outside the log directory is refused
with :class:`anyboard._paths.UnsafePathError` (a ``PermissionError`` naming the
link and its target), and nothing is written outside. Symlinks that stay inside
the log directory, and a log directory that is itself a symlink, work as plain
folders. Remote (fsspec) log directories are not affected.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import anyboard
from anyboard import SummaryWriter, WriteError
from anyboard._paths import UnsafePathError, check_inside
from anyboard.io import event_file, remote

pytestmark = pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt", reason="POSIX symlinks")


def _tree(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` (relative name -> bytes), not following symlinks."""
    out = {}
    for root, _dirs, files in os.walk(path):
        for name in files:
            full = Path(root, name)
            out[str(full.relative_to(path))] = full.read_bytes()
    return out


def _steps(run_dir: Path, tag: str) -> list[int]:
    return [e.step for e in anyboard.iter_run_events(str(run_dir)) for v in e.summary.value if v.tag == tag]


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    """``(logdir, outside)``: an empty log directory and a folder beside it holding one file."""
    logdir, outside = tmp_path / "logs", tmp_path / "outside"
    logdir.mkdir()
    outside.mkdir()
    (outside / "keep.txt").write_text("not yours")
    return logdir, outside


# -- sub-runs ------------------------------------------------------------------------------


_SUB_RUNS = {
    "add_scalars": ("loss_a", lambda w: w.add_scalars("loss", {"a": 1.0}, 0)),
    "add_hparams": ("trial", lambda w: w.add_hparams({"lr": 0.1}, {"acc": 0.5}, run_name="trial")),
    "add_hparams nested": ("grid", lambda w: w.add_hparams({"lr": 0.1}, {"acc": 0.5}, run_name="grid/lr0.1")),
}


@pytest.mark.parametrize("case", sorted(_SUB_RUNS))
def test_sub_run_folder_symlinked_outside_is_refused_and_nothing_is_written_there(dirs, case):
    logdir, outside = dirs
    name, call = _SUB_RUNS[case]
    link = logdir / name
    link.symlink_to(outside, target_is_directory=True)
    before = _tree(outside)
    with SummaryWriter(str(logdir), flush_secs=1000) as w:
        w.add_scalar("main", 1.0, 1)
        with pytest.raises(UnsafePathError) as info:
            call(w)
        assert isinstance(info.value, PermissionError)
        message = str(info.value)
        assert str(link) in message and str(outside) in message and "outside the log directory" in message
        w.add_scalar("main", 2.0, 2)  # the writer goes on
    assert _tree(outside) == before
    assert _steps(logdir, "main") == [1, 2]


def test_a_dotdot_after_a_symlink_in_the_log_directory_path_is_checked_where_it_leads(tmp_path):
    """``link/../logs`` is where the system resolves it (``..`` taken after following ``link``),
    not the ``logs`` beside ``link`` that a textual clean-up of the path names."""
    real_parent = tmp_path / "deep"
    (real_parent / "realdir").mkdir(parents=True)
    (tmp_path / "linkdir").symlink_to(real_parent / "realdir", target_is_directory=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (real_parent / "logs").mkdir()
    (real_parent / "logs" / "a_k").symlink_to(outside, target_is_directory=True)
    logdir = str(tmp_path / "linkdir") + os.sep + ".." + os.sep + "logs"
    with SummaryWriter(logdir) as w:
        with pytest.raises(UnsafePathError, match="outside the log directory"):
            w.add_scalars("a", {"k": 1.0}, 0)
        w.add_scalar("main", 1.0, 1)
    assert os.listdir(outside) == []
    assert _steps(real_parent / "logs", "main") == [1]


def test_file_url_log_directory_is_checked_like_a_path(dirs):
    logdir, outside = dirs
    (logdir / "loss_a").symlink_to(outside, target_is_directory=True)
    (logdir / "00000").mkdir()
    (logdir / "00000" / "emb").symlink_to(outside, target_is_directory=True)
    with SummaryWriter("file://" + str(logdir)) as w:
        with pytest.raises(UnsafePathError, match="loss_a"):
            w.add_scalars("loss", {"a": 1.0}, 0)
        with pytest.raises(UnsafePathError, match="emb"):
            _embed(w)
    assert _tree(outside) == {"keep.txt": b"not yours"}


def test_symlink_to_a_folder_inside_the_log_directory_is_followed(dirs):
    logdir, outside = dirs
    (logdir / "shared").mkdir()
    (logdir / "loss_a").symlink_to(logdir / "shared", target_is_directory=True)
    (logdir / "alias").symlink_to("shared", target_is_directory=True)  # relative link, inside too
    with SummaryWriter(str(logdir)) as w:
        w.add_scalars("loss", {"a": 1.0}, 3)
        w.add_hparams({"lr": 0.1}, {"acc": 0.5}, run_name="alias/trial")
    assert _steps(logdir / "shared", "loss") == [3]
    assert any("tfevents" in n for n in os.listdir(logdir / "shared" / "trial"))
    assert _tree(outside) == {"keep.txt": b"not yours"}


def test_log_directory_that_is_itself_a_symlink_works(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    with SummaryWriter(str(link)) as w:
        w.add_scalar("x", 1.0, 1)
        w.add_scalars("loss", {"a": 2.0}, 2)
        w.add_hparams({"lr": 0.1}, {"acc": 0.5}, run_name="trial")
        w.add_embedding(np.eye(3), metadata=["a", "b", "c"], label_img=np.zeros((3, 1, 2, 4)), tag="emb")
    assert _steps(real, "x") == [1]
    assert _steps(real / "loss_a", "loss") == [2]
    assert (real / "00000" / "emb" / "sprite.png").is_file()
    assert "emb:00000" in (real / "projector_config.pbtxt").read_text()


def test_sub_run_turned_into_a_symlink_while_running_fails_in_the_background_then_recovers(dirs):
    """The file is opened on the writer thread (after a close): WriteError on the caller, nothing lost."""
    logdir, outside = dirs
    w = SummaryWriter(str(logdir), flush_secs=1000)
    w.add_scalars("loss", {"a": 0.0}, 0)
    w.close()
    shutil.rmtree(logdir / "loss_a")
    (logdir / "loss_a").symlink_to(outside, target_is_directory=True)
    w.add_scalars("loss", {"a": 1.0}, 1)  # reopens the writer; the sub-run's file opens on the thread
    with pytest.raises(WriteError) as info:
        w.flush()
    assert isinstance(info.value.__cause__, UnsafePathError)
    assert str(logdir / "loss_a") in str(info.value)
    (logdir / "loss_a").unlink()  # (while it stays, each retry on the thread fails the same way)
    w.add_scalar("main", 1.0, 1)  # the writer stays usable
    w.add_scalars("loss", {"a": 2.0}, 2)
    w.flush()
    w.close()
    assert _tree(outside) == {"keep.txt": b"not yours"}
    assert _steps(logdir / "loss_a", "loss") == [1, 2]  # step 1 was kept while the open failed
    assert _steps(logdir, "main") == [1]


# -- event files ---------------------------------------------------------------------------


@pytest.mark.parametrize("dangling", [False, True])
def test_event_file_name_planted_as_a_symlink_is_not_written_through(dirs, monkeypatch, dangling):
    logdir, outside = dirs
    target = outside / ("missing" if dangling else "keep.txt")
    planted = "events.out.tfevents.0000000001.planted"
    (logdir / planted).symlink_to(target)
    names = iter([planted])
    real_ordered_name = event_file.ordered_name
    monkeypatch.setattr(
        event_file, "ordered_name", lambda existing, suffix="": next(names, None) or real_ordered_name(existing, suffix)
    )
    f = event_file.LocalFile(str(logdir))  # O_CREAT | O_EXCL (| O_NOFOLLOW): never through a link
    try:
        f.write(b"record")
    finally:
        f.close()
    assert os.path.basename(f.path) != planted and not os.path.islink(f.path)
    assert Path(f.path).read_bytes() == b"record"
    assert _tree(outside) == {"keep.txt": b"not yours"}  # a dangling link's target was not created either


def test_local_file_refuses_a_directory_below_root_leading_outside(dirs):
    logdir, outside = dirs
    (logdir / "run").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafePathError, match="outside the log directory"):
        event_file.LocalFile(str(logdir / "run" / "deeper"), root=str(logdir))
    assert _tree(outside) == {"keep.txt": b"not yours"}
    factory = remote.event_file_factory(str(logdir / "run"), root=str(logdir))
    with pytest.raises(UnsafePathError):
        factory()
    assert _tree(outside) == {"keep.txt": b"not yours"}


# -- the projector -------------------------------------------------------------------------


_PROJECTOR_PATHS = ["00000", "00000/emb", "00000/emb/tensors.tsv", "00000/emb/metadata.tsv", "00000/emb/sprite.png"]


def _embed(w: SummaryWriter) -> None:
    w.add_embedding(np.eye(3), metadata=["a", "b", "c"], label_img=np.zeros((3, 1, 2, 2)), tag="emb")


@pytest.mark.parametrize("rel", [*_PROJECTOR_PATHS, "projector_config.pbtxt"])
def test_projector_folder_or_file_symlinked_outside_is_refused_and_nothing_is_written_there(dirs, rel):
    logdir, outside = dirs
    link = logdir.joinpath(*rel.split("/"))
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.suffix:  # a file: the link points at an outside file
        link.symlink_to(outside / "keep.txt")
    else:
        link.symlink_to(outside, target_is_directory=True)
    with SummaryWriter(str(logdir)) as w:
        with pytest.raises(UnsafePathError) as info:
            _embed(w)
        assert str(link) in str(info.value) and "outside the log directory" in str(info.value)
        w.add_scalar("main", 1.0, 1)
    assert _tree(outside) == {"keep.txt": b"not yours"}
    assert os.path.islink(link)  # left as it was, not replaced either
    if rel != "projector_config.pbtxt":
        assert not (logdir / "projector_config.pbtxt").exists()  # nothing half-written into the config
    else:
        assert not (logdir / "00000").exists()  # the config is checked before the embedding's files are written


def test_projector_rewrite_with_a_stale_file_symlinked_outside_is_refused(dirs):
    logdir, outside = dirs
    with SummaryWriter(str(logdir)) as w:
        _embed(w)
        sprite = logdir / "00000" / "emb" / "sprite.png"
        sprite.unlink()
        sprite.symlink_to(outside / "keep.txt")
        with pytest.raises(UnsafePathError):
            w.add_embedding(np.eye(3), tag="emb")  # would delete the stale sprite.png
    assert os.path.islink(sprite) and _tree(outside) == {"keep.txt": b"not yours"}


def test_projector_symlinks_inside_the_log_directory_are_followed(dirs):
    logdir, outside = dirs
    (logdir / "store").mkdir()
    (logdir / "00000").symlink_to("store", target_is_directory=True)
    with SummaryWriter(str(logdir)) as w:
        _embed(w)
    assert (logdir / "store" / "emb" / "tensors.tsv").read_text() == "1\t0\t0\n0\t1\t0\n0\t0\t1\n"
    assert _tree(outside) == {"keep.txt": b"not yours"}


def test_add_embedding_leaves_no_lock_file(dirs):
    logdir, _ = dirs
    with SummaryWriter(str(logdir)) as w:
        _embed(w)
        w.add_embedding(np.ones((2, 2)), tag="second")
    top = sorted(os.listdir(logdir))
    assert not [n for n in top if n.endswith(".lock") or n.startswith(".tmp-")], top
    assert "projector_config.pbtxt" in top


# -- check_inside itself, and remote log directories ------------------------------------------


def test_check_inside_accepts_missing_and_inside_paths_and_refuses_paths_outside_root(dirs):
    logdir, outside = dirs
    check_inside(logdir, logdir)
    check_inside(logdir, logdir / "not" / "yet" / "there")
    (logdir / "a").mkdir()
    (logdir / "a" / "up").symlink_to("..", target_is_directory=True)  # back to the log directory: inside
    check_inside(logdir, logdir / "a" / "up" / "a" / "file")
    with pytest.raises(UnsafePathError, match="not inside the log directory"):
        check_inside(logdir, outside / "x")
    (logdir / "a" / "out").symlink_to(os.path.relpath(outside, logdir / "a"), target_is_directory=True)
    with pytest.raises(UnsafePathError, match=str(logdir / "a" / "out")):
        check_inside(logdir, logdir / "a" / "out" / "x")
    (logdir / "loop").symlink_to("loop")  # a symlink loop leads nowhere: no hang, the OS refuses it (ELOOP)
    with pytest.raises(OSError, match="loop"):
        event_file.LocalFile(str(logdir / "loop" / "x"), root=str(logdir))


def test_remote_log_directory_with_sub_runs_and_embeddings_is_unaffected():
    pytest.importorskip("fsspec")
    url = "memory://anyboard-symlinks/run"
    with SummaryWriter(url) as w:
        w.add_scalars("loss", {"a": 1.0}, 1)
        w.add_embedding(np.eye(2), tag="emb")
    names = remote.listdir(remote.join(url, "loss_a"))
    assert any("tfevents" in n for n in names)
    assert b"emb:00000" in remote.read_bytes(remote.join(url, "projector_config.pbtxt"))


def _no_directory_locks(monkeypatch) -> None:
    """flock as on NFS: a directory cannot be locked (EBADF), a file can."""
    import errno
    import fcntl
    import stat

    real_flock = fcntl.flock

    def flock(fd, operation):
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        return real_flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", flock)


def test_where_a_directory_cannot_be_locked_the_config_merge_locks_a_file_and_keeps_every_entry(dirs, monkeypatch):
    import threading

    logdir, _ = dirs
    _no_directory_locks(monkeypatch)
    with SummaryWriter(str(logdir)) as w:
        threads = [
            threading.Thread(target=w.add_embedding, args=(np.eye(2),), kwargs={"tag": f"t{i}"}) for i in range(6)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    config = (logdir / "projector_config.pbtxt").read_text()
    assert all(f"t{i}:00000" in config for i in range(6))
    assert (logdir / "projector_config.pbtxt.lock").is_file()  # the fallback lock file, left for the next writer


def test_lock_file_symlinked_outside_is_refused_where_a_directory_cannot_be_locked(dirs, monkeypatch):
    logdir, outside = dirs
    _no_directory_locks(monkeypatch)
    (logdir / "projector_config.pbtxt.lock").symlink_to(outside / "created-through-the-link")
    with SummaryWriter(str(logdir)) as w, pytest.raises(UnsafePathError, match="lock"):
        _embed(w)
    assert _tree(outside) == {"keep.txt": b"not yours"}
