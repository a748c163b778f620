"""Interpreter exit with a thread still logging, writers crossing processes, and call-time checks.

Each test failed on the code before these were handled: exit waited for a daemon thread's
endless backlog (60 s and gigabytes after the main thread returned), a forked multiprocessing
child lost what it logged after its last flush (it leaves through ``os._exit``), a writer passed
to a 'spawn' worker failed to pickle, and bad tags / wall times were accepted or raised a bare
``OverflowError``.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import anyboard
from anyboard import SummaryWriter

ROOT = Path(__file__).resolve().parents[1]


def _steps(run_dir: str, tag: str) -> list[int]:
    out = []
    for path in sorted(Path(run_dir).glob("events.out.tfevents.*")):
        out += [e.step for e in anyboard.iter_events(path) for v in e.summary.value if v.tag == tag]
    return out


def test_exit_with_a_daemon_thread_still_logging_is_prompt_and_keeps_what_was_queued(tmp_path):
    """The main thread returns while a daemon thread logs flat out: what was queued is written, exit is prompt."""
    logdir = tmp_path / "busy"
    script = textwrap.dedent(
        f"""
        import threading
        from anyboard import SummaryWriter

        w = SummaryWriter({str(logdir)!r})
        started = threading.Event()

        def spam():
            i = 0
            while True:
                w.add_scalar("spam", 1.0, i & 0xFFFFFF)
                i += 1
                if i == 10000:
                    started.set()

        threading.Thread(target=spam, daemon=True).start()
        started.wait()
        for i in range(100):
            w.add_text("before_exit", "x", i)  # queued before exit began: must be written
        """
    )
    # The old code took a minute here (it wrote the daemon's backlog until the 60 s exit timeout);
    # 45 s is a hang check with a wide margin on a loaded machine, not a speed measurement.
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=45)
    assert proc.returncode == 0, proc.stderr
    assert _steps(str(logdir), "before_exit") == list(range(100))
    assert _steps(str(logdir), "spam")[:10000] == list(range(10000))


def _run_children(children: list) -> None:
    """Start every ``multiprocessing`` child, wait for each, and check that it exited cleanly."""
    for c in children:
        c.start()
    for c in children:
        c.join(60)
        assert c.exitcode == 0


def _child_logs_without_flush(writer: SummaryWriter, k: int) -> None:
    for i in range(100):
        writer.add_scalar(f"child{k}", float(i), i)
    # no flush, no close: a multiprocessing child then leaves through os._exit


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs the fork start method")
def test_forked_multiprocessing_children_lose_nothing_without_flushing(tmp_path):
    logdir = str(tmp_path / "fork")
    writer = SummaryWriter(logdir)
    writer.add_scalar("parent", 1.0, 0)
    ctx = multiprocessing.get_context("fork")
    for trial in range(3):
        _run_children([ctx.Process(target=_child_logs_without_flush, args=(writer, 4 * trial + k)) for k in range(4)])
    writer.close()
    for k in range(12):
        assert _steps(logdir, f"child{k}") == list(range(100)), f"child {k} lost events"
    assert _steps(logdir, "parent") == [0]


_CHILD_WRITER: SummaryWriter | None = None


def _child_creates_a_writer(logdir: str, k: int, keep: bool) -> None:
    """A writer made in the child, kept in a global (no finalizer runs) or a local; no flush, no close."""
    global _CHILD_WRITER
    writer = SummaryWriter(logdir)
    if keep:
        _CHILD_WRITER = writer
    for i in range(100):
        writer.add_scalar(f"made{k}", float(i), i)


@pytest.mark.parametrize(
    "method", [m for m in ("fork", "forkserver", "spawn") if m in multiprocessing.get_all_start_methods()]
)
def test_writers_made_or_unpickled_in_a_child_lose_nothing_without_flushing(tmp_path, method):
    """A writer created by the child's target, or unpickled from its arguments (forkserver is
    Python 3.14's default on Linux): a fork or forkserver child leaves through os._exit, and
    only inherited writers used to be closed then."""
    logdir = str(tmp_path / method)
    writer = SummaryWriter(logdir)
    writer.add_scalar("parent", 1.0, 0)
    ctx = multiprocessing.get_context(method)
    children = [ctx.Process(target=_child_creates_a_writer, args=(logdir, k, k % 2 == 0)) for k in range(2)]
    children += [ctx.Process(target=_child_logs_without_flush, args=(writer, k)) for k in range(2)]
    _run_children(children)
    writer.close()
    for k in range(2):
        assert _steps(logdir, f"made{k}") == list(range(100)), f"the writer made in child {k} lost events"
        assert _steps(logdir, f"child{k}") == list(range(100)), f"the writer passed to child {k} lost events"


def _spawned_worker(writer: SummaryWriter, k: int) -> str:
    writer.add_scalar("spawned", float(k), k)
    writer.close()
    return writer.get_logdir()


def test_a_writer_passed_to_a_spawn_worker_opens_the_same_log_directory(tmp_path):
    logdir = str(tmp_path / "spawn")
    writer = SummaryWriter(logdir, max_queue=7, flush_secs=30, filename_suffix=".w")
    writer.add_scalar("spawned", -1.0, 99)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        dirs = pool.starmap(_spawned_worker, [(writer, k) for k in range(4)])
    writer.close()
    assert dirs == [logdir] * 4
    assert sorted(_steps(logdir, "spawned")) == [0, 1, 2, 3, 99]
    assert all(p.name.endswith(".w") for p in Path(logdir).glob("events.out.tfevents.*"))


@pytest.mark.parametrize(
    ("tag", "walltime", "message"),
    [
        ("", None, "non-empty"),
        ("a\nb", None, "control character"),
        ("nul\x00", None, "control character"),
        ("ok", 2**1100, "too large"),
        ("ok", -1.0, "walltime must be seconds since the epoch"),
        ("ok", 1e12, "walltime must be seconds since the epoch"),
    ],
    ids=["empty", "newline", "nul", "huge-int-walltime", "negative-walltime", "year-33658-walltime"],
)
def test_bad_tags_and_wall_times_raise_naming_what_was_expected(tmp_path, tag, walltime, message):
    with SummaryWriter(str(tmp_path)) as w:
        w.add_scalar("good", 1.0, 0)
        for call in (
            lambda: w.add_scalar(tag, 1.0, 1, walltime=walltime),
            lambda: w.add_text(tag, "x", 1, walltime=walltime),
        ):
            with pytest.raises(ValueError, match=message):
                call()
    assert _steps(str(tmp_path), "good") == [0]
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith("events.out.tfevents.")] == []


def test_nfc_and_nfd_spellings_of_a_tag_stay_two_series_as_in_tensorboard(tmp_path):
    """Documented: tags are kept exactly as given (TensorBoard compares them as strings)."""
    nfc, nfd = "caf\u00e9", "cafe\u0301"
    with SummaryWriter(str(tmp_path)) as w:
        w.add_scalar(nfc, 1.0, 0)
        w.add_scalar(nfd, 2.0, 0)
    assert _steps(str(tmp_path), nfc) == [0] and _steps(str(tmp_path), nfd) == [0]


def test_exit_handler_closes_a_writer_nobody_closed(tmp_path):
    """A writer left open and referenced until exit is flushed and closed by the exit handler."""
    logdir = tmp_path / "left-open"
    script = textwrap.dedent(
        f"""
        from anyboard import SummaryWriter
        KEEP = SummaryWriter({str(logdir)!r}, flush_secs=3600, max_queue=10**6)
        for i in range(1000):
            KEEP.add_scalar("x", float(i), i)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert _steps(str(logdir), "x") == list(range(1000))
    assert os.listdir(logdir)
