"""The core ``SummaryWriter``: files, names, lifecycle, flushing, errors.

Read back through anyboard's own reader only, so this module needs no
TensorBoard (it runs in the protobuf-floor environment too); what TensorBoard
makes of the files is checked in ``test_readback_core.py``.
"""

from __future__ import annotations

import glob
import math
import os
import re
import socket
import subprocess
import sys
import textwrap
import time
from datetime import datetime

import pytest
from watchdog import no_hang

import anyboard
from anyboard.io.event_file import HOST
from anyboard.io.reader import event_files, iter_events
from anyboard.proto.event_pb2 import Event, SessionLog
from anyboard.proto.summary_pb2 import Summary

NAME_RE = re.compile(r"^events\.out\.tfevents\.(\d{10})\.(.+)\.(\d+)\.(\d+)(.*)$")


def scalars(run_dir) -> list[tuple[str, int, float, float]]:
    """``(tag, step, value, wall_time)`` of every simple_value in a run, in file order."""
    out = []
    for e in anyboard.iter_run_events(run_dir):
        for v in e.summary.value:
            if v.WhichOneof("value") == "simple_value":
                out.append((v.tag, e.step, v.simple_value, e.wall_time))
    return out


# -- file names and headers ---------------------------------------------------


def test_event_file_name_format_and_first_record(logdir):
    before = int(time.time())
    with anyboard.SummaryWriter(logdir, filename_suffix=".v1") as w:
        w.add_scalar("loss", 0.5, 1)
        path = w.event_file_paths()[""]
    after = int(time.time())
    files = event_files(logdir)
    assert files == [path]
    m = NAME_RE.match(os.path.basename(path))
    assert m, os.path.basename(path)
    stamp, host, pid, counter, suffix = m.groups()
    assert before <= int(stamp) <= after
    assert host == HOST and HOST  # the host name, made a safe path component
    assert socket.gethostname().replace("/", "%2f") == HOST or "%" in HOST or HOST == "localhost"
    assert int(pid) == os.getpid()
    assert len(counter) >= 6 and suffix == ".v1"
    events = list(iter_events(path))
    assert events[0].file_version == "brain.Event:2"
    assert events[0].step == 0 and abs(events[0].wall_time - time.time()) < 60
    assert [(e.step, e.summary.value[0].tag) for e in events[1:]] == [(1, "loss")]


def test_names_unique_and_sorted_in_creation_order_within_one_second(logdir):
    paths = []
    writers = []
    for i in range(60):  # far more than fit in one second's worth of distinct timestamps
        w = anyboard.SummaryWriter(logdir)
        w.add_scalar("i", i, i)
        paths.append(w.event_file_paths()[""])
        writers.append(w)
    for w in writers:
        w.close()
    names = [os.path.basename(p) for p in paths]
    assert len(set(names)) == 60
    assert sorted(names) == names  # TensorBoard reads a run's files in name order
    assert event_files(logdir) == paths
    assert [s for _, s, _, _ in scalars(logdir)] == list(range(60))


def test_two_writers_in_same_second_same_directory_lose_nothing(logdir):
    a = anyboard.SummaryWriter(logdir, max_queue=3)
    b = anyboard.SummaryWriter(logdir, max_queue=5)
    assert a.event_file_paths()[""] != b.event_file_paths()[""]
    for i in range(500):
        a.add_scalar("a", i, i)
        b.add_scalar("b", -i, i)
        if i % 97 == 0:
            a.flush()
    a.close()
    b.close()
    got = scalars(logdir)
    assert sorted(s for t, s, _, _ in got if t == "a") == list(range(500))
    assert sorted(s for t, s, _, _ in got if t == "b") == list(range(500))
    assert len(got) == 1000
    assert all(v == (s if t == "a" else -s) for t, s, v, _ in got)
    for path in event_files(logdir):
        assert next(iter_events(path)).file_version == "brain.Event:2"


# -- log directory arguments --------------------------------------------------


def test_default_logdir_runs_stamp_host_comment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    t0 = datetime.now().replace(microsecond=0)
    w = anyboard.SummaryWriter(comment="_lr=0.1")
    t1 = datetime.now()
    w.add_scalar("x", 1.0)
    w.close()
    head, name = os.path.split(w.get_logdir())
    assert head == "runs"
    host = socket.gethostname()
    assert name.endswith(f"_{host}_lr=0.1") or "%" in name
    stamp = name[: len("Jan01_00-00-00")]
    parsed = datetime.strptime(f"{t0.year} {stamp}", "%Y %b%d_%H-%M-%S")  # with a year: Feb 29 parses
    assert t0 <= parsed <= t1
    assert os.listdir(tmp_path) == ["runs"] and os.listdir(tmp_path / "runs") == [name]
    assert scalars(tmp_path / "runs" / name)[0][:3] == ("x", 0, 1.0)


def test_comment_with_separator_stays_one_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with anyboard.SummaryWriter(comment="/../evil") as w:
        w.add_scalar("x", 1.0)
    assert os.listdir(tmp_path) == ["runs"]
    (name,) = os.listdir(tmp_path / "runs")
    assert "/" not in name and event_files(tmp_path / "runs" / name)


def test_comment_is_ignored_when_logdir_given(tmp_path):
    logdir = str(tmp_path / "exact")
    with anyboard.SummaryWriter(logdir, comment="_ignored") as w:
        w.add_scalar("x", 1.0)
        assert w.get_logdir() == logdir == w.logdir
    assert os.listdir(tmp_path) == ["exact"]


def test_log_dir_and_logdir_spellings(tmp_path):
    for kwargs, sub in (({"log_dir": str(tmp_path / "torch")}, "torch"), ({"logdir": str(tmp_path / "tbx")}, "tbx")):
        with anyboard.SummaryWriter(**kwargs) as w:
            w.add_scalar("x", 2.0, 3)
        assert w.get_logdir() == str(tmp_path / sub)
        assert scalars(tmp_path / sub)[0][:3] == ("x", 3, 2.0)
    with anyboard.SummaryWriter(tmp_path / "pathlike") as w:  # os.PathLike works too
        assert w.get_logdir() == str(tmp_path / "pathlike")
    same = str(tmp_path / "same")
    anyboard.SummaryWriter(logdir=same, log_dir=same).close()
    with pytest.raises(ValueError, match="logdir"):
        anyboard.SummaryWriter(logdir=str(tmp_path / "a"), log_dir=str(tmp_path / "b"))


def test_mxboard_and_tensorboardx_keywords_accepted(logdir):
    with anyboard.SummaryWriter(logdir=logdir, max_queue=5, flush_secs=30, filename_suffix="", verbose=False) as w:
        w.add_scalar("loss", value=1.5, global_step=2)
    assert scalars(logdir)[0][:3] == ("loss", 2, 1.5)
    with pytest.raises(TypeError, match="no_such_option"):
        anyboard.SummaryWriter(logdir, no_such_option=1)


def test_mxboard_value_dict_and_tuples_become_sub_runs(logdir):
    with anyboard.SummaryWriter(logdir) as w:
        w.add_scalar("acc", value={"train": 0.5, "val": 0.25}, global_step=1, walltime=100.0)
        w.add_scalar("acc", value=("train", 0.75), global_step=2, walltime=101.0)
        w.add_scalar("acc", value=[("train", 1.0), ("val", 0.5)], global_step=3, walltime=102.0)
        w.add_scalar("acc", {"val": 0.125}, 4, 103.0)  # positional dict works too
    entries = sorted(os.listdir(logdir))
    assert entries[:2] == ["acc_train", "acc_val"] and len(entries) == 3  # + the main run's (header-only) file
    assert [e.file_version for e in anyboard.iter_run_events(logdir)] == ["brain.Event:2"]
    assert [x[:4] for x in scalars(os.path.join(logdir, "acc_train"))] == [
        ("acc", 1, 0.5, 100.0),
        ("acc", 2, 0.75, 101.0),
        ("acc", 3, 1.0, 102.0),
    ]
    assert [x[:4] for x in scalars(os.path.join(logdir, "acc_val"))] == [
        ("acc", 1, 0.25, 100.0),
        ("acc", 3, 0.5, 102.0),
        ("acc", 4, 0.125, 103.0),
    ]


def test_add_scalar_without_value_names_the_tag(logdir):
    with anyboard.SummaryWriter(logdir) as w, pytest.raises(TypeError, match="'lonely'"):
        w.add_scalar("lonely")


# -- flushing -----------------------------------------------------------------


def test_flush_really_drains_before_close(logdir):
    w = anyboard.SummaryWriter(logdir, flush_secs=3600, max_queue=100_000)
    try:
        for i in range(1000):
            w.add_scalar("x", i * 0.5, i, walltime=1000.0 + i)
        w.add_scalars("m", {"a": 1.0, "b": 2.0}, 7)
        w.add_text("t", "hello", 1)
        w.flush()
        got = scalars(logdir)
        assert [(s, v, wall) for _, s, v, wall in got] == [(i, i * 0.5, 1000.0 + i) for i in range(1000)]
        assert scalars(os.path.join(logdir, "m_a"))[0][:3] == ("m", 7, 1.0)
        assert scalars(os.path.join(logdir, "m_b"))[0][:3] == ("m", 7, 2.0)
        texts = [e for e in anyboard.iter_run_events(logdir) if e.summary.value and e.summary.value[0].tag == "t"]
        assert texts and texts[0].summary.value[0].tensor.string_val == [b"hello"]
        # and again: a second flush only adds what came after the first
        w.add_scalar("x", -1.0, 1000)
        w.flush()
        assert len(scalars(logdir)) == 1001
    finally:
        w.close()


def test_flush_secs_timer_flushes_on_its_own(logdir):
    w = anyboard.SummaryWriter(logdir, flush_secs=0.2, max_queue=100_000)
    try:
        for i in range(5):
            w.add_scalar("timer", float(i), i)
        deadline = time.monotonic() + 20
        while len(scalars(logdir)) < 5:  # nobody calls flush(): only the timer can write these
            assert time.monotonic() < deadline, "flush_secs timer never wrote the pending events"
            time.sleep(0.05)
        assert [s for _, s, _, _ in scalars(logdir)] == list(range(5))
    finally:
        w.close()


def test_max_queue_wakes_writer_without_flush(logdir):
    w = anyboard.SummaryWriter(logdir, flush_secs=3600, max_queue=10)
    try:
        for i in range(50):
            w.add_scalar("q", float(i), i)
        deadline = time.monotonic() + 20
        while len(scalars(logdir)) < 50 - 10:  # at most max_queue - 1 may still be pending
            assert time.monotonic() < deadline, "reaching max_queue never woke the writer"
            time.sleep(0.05)
    finally:
        w.close()


# -- lifecycle ----------------------------------------------------------------


def test_close_idempotent_flush_after_close_is_a_no_op_and_logging_reopens(logdir):
    """The peers' lifecycle: flush() after close() does nothing; any add_* after it reopens and logs."""
    w = anyboard.SummaryWriter(logdir)
    w.add_scalar("x", 1.0, 0)
    assert not w.closed and "open" in repr(w)
    w.close()
    w.close()
    assert w.closed and "closed" in repr(w)
    w.flush()  # Lightning closes, then flushes
    assert w.closed and w.file_writer is None
    calls = (
        lambda: w.add_scalar("x", 2.0, 1),
        lambda: w.add_scalars("m", {"a": 1.0}, 1),
        lambda: w.add_histogram("h", [1.0, 2.0], 1),
        lambda: w.add_text("t", "x", 1),
        lambda: w.add_tensor("tt", [1, 2], 1),
        lambda: w.add_summary(Summary(value=[Summary.Value(tag="s", simple_value=3.0)]), 1),
        lambda: w.add_event(Event(step=1, summary=Summary(value=[Summary.Value(tag="e", simple_value=4.0)]))),
    )
    for call in calls:
        call()
        assert not w.closed
        w.close()
    files = sorted(glob.glob(os.path.join(logdir, "events.out.tfevents.*")))
    assert len(files) == 1 + len(calls) - 1  # add_scalars logs to its sub-run: no new main file then
    tags = [(v.tag, e.step) for path in files for e in anyboard.iter_events(path) for v in e.summary.value]
    assert {("x", 0), ("x", 1), ("h", 1), ("t", 1), ("tt", 1), ("s", 1), ("e", 1)} <= set(tags)
    assert [s for tag, s, _, _ in scalars(logdir) if tag == "x"] == [0, 1]
    assert [s for _, s, _, _ in scalars(os.path.join(logdir, "m_a"))] == [1]


def test_context_manager_closes_and_flushes(logdir):
    with anyboard.SummaryWriter(logdir, flush_secs=3600, max_queue=1000) as w:
        assert isinstance(w, anyboard.SummaryWriter)
        for i in range(20):
            w.add_scalar("cm", float(i), i)
    assert w.closed
    assert len(scalars(logdir)) == 20


def test_context_manager_closes_on_exception(logdir):
    with pytest.raises(KeyError), anyboard.SummaryWriter(logdir, max_queue=1000) as w:
        w.add_scalar("cm", 1.0, 1)
        raise KeyError("boom")
    assert w.closed and len(scalars(logdir)) == 1


EXIT_SCRIPT = textwrap.dedent(
    """
    import sys
    import anyboard

    KEEP = anyboard.SummaryWriter(sys.argv[1], flush_secs=3600, max_queue=1_000_000)
    for i in range(2000):
        KEEP.add_scalar("kept", float(i), i)
    KEEP.add_scalars("multi", {"a": 1.0, "b": 2.0}, 3)

    def scoped():  # a writer that becomes garbage before exit, never closed
        w = anyboard.SummaryWriter(sys.argv[2], flush_secs=3600, max_queue=1_000_000)
        for i in range(100):
            w.add_scalar("dropped_ref", float(i), i)

    scoped()
    print("done", flush=True)
    """
)


def test_writers_left_open_at_interpreter_exit_are_flushed(tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    proc = subprocess.run([sys.executable, "-c", EXIT_SCRIPT, a, b], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "done"
    assert "Traceback" not in proc.stderr
    assert [s for _, s, _, _ in scalars(a)] == list(range(2000))
    assert scalars(os.path.join(a, "multi_a"))[0][:3] == ("multi", 3, 1.0)
    assert scalars(os.path.join(a, "multi_b"))[0][:3] == ("multi", 3, 2.0)
    assert [s for _, s, _, _ in scalars(b)] == list(range(100))


# -- low-level API ------------------------------------------------------------


def test_add_event_add_summary_file_writer(logdir):
    with anyboard.SummaryWriter(logdir) as w:
        fw = w.file_writer
        assert isinstance(fw, anyboard.FileWriter)
        assert fw.get_logdir() == logdir
        assert isinstance(w._get_file_writer(), anyboard.FileWriter)
        summary = Summary(value=[Summary.Value(tag="ev", simple_value=1.0)])
        w.add_event(Event(wall_time=50.0, step=1, summary=summary))
        w.add_event(Event(wall_time=50.0, step=1, summary=summary), step=2, walltime=51.0)
        before = time.time()
        w.add_event(Event(step=3, summary=summary))  # no wall time: now
        after = time.time()
        w.add_summary(Summary(value=[Summary.Value(tag="su", simple_value=2.0)]), 4, 52.0)
        w.add_summary(Summary(value=[Summary.Value(tag="su", simple_value=3.0)]).SerializeToString(), 5, 53.0)
        w._get_file_writer().add_summary(Summary(value=[Summary.Value(tag="fw", simple_value=4.0)]), 6, 54.0)
        fw.add_event(Event(wall_time=55.0, step=7, session_log=SessionLog(status=SessionLog.CHECKPOINT)))
        fw.flush()
        got = scalars(logdir)
        with pytest.raises(TypeError, match="Event"):
            w.add_event("not an event")
        with pytest.raises(TypeError, match="Summary"):
            w.add_summary(42)
    assert [(t, s, v) for t, s, v, _ in got] == [
        ("ev", 1, 1.0),
        ("ev", 2, 1.0),
        ("ev", 3, 1.0),
        ("su", 4, 2.0),
        ("su", 5, 3.0),
        ("fw", 6, 4.0),
    ]
    walls = [wall for *_, wall in got]
    assert walls[:2] == [50.0, 51.0] and before <= walls[2] <= after and walls[3:] == [52.0, 53.0, 54.0]
    logs = [e for e in anyboard.iter_run_events(logdir) if e.HasField("session_log")]
    assert [(e.step, e.session_log.status) for e in logs] == [(7, SessionLog.CHECKPOINT)]


def test_add_event_rejects_non_finite_wall_time(logdir):
    # TensorBoard's Rust loader drops the rest of a file after a NaN wall time.
    with anyboard.SummaryWriter(logdir) as w:
        for bad in (math.nan, math.inf, -math.inf):
            with pytest.raises(ValueError, match="wall_time"):
                w.add_event(Event(wall_time=bad, step=1))
        w.add_event(Event(wall_time=math.nan, step=2), walltime=5.0)  # overridden: fine
        with pytest.raises(ValueError, match="finite"):
            w.add_event(Event(wall_time=1.0, step=3), walltime=math.nan)
    events = list(anyboard.iter_run_events(logdir))
    assert [(e.step, e.wall_time) for e in events[1:]] == [(2, 5.0)]


def test_add_summary_accepts_a_foreign_summary_class(logdir):
    class Foreign:  # e.g. tensorboardX's own generated Summary: same wire format
        def SerializeToString(self):
            return Summary(value=[Summary.Value(tag="foreign", simple_value=9.0)]).SerializeToString()

    with anyboard.SummaryWriter(logdir) as w:
        w.add_summary(Foreign(), 3, 1.0)
    assert scalars(logdir) == [("foreign", 3, 9.0, 1.0)]


# -- constructor options --------------------------------------------------------


def test_purge_step_writes_two_starts_in_every_run_file(logdir):
    with anyboard.SummaryWriter(logdir) as w:
        for i in range(10):
            w.add_scalar("x", float(i), i)
            w.add_scalars("m", {"a": float(i)}, i)
    with anyboard.SummaryWriter(logdir, purge_step=5) as w:
        w.add_scalar("x", 50.0, 5)
        w.add_scalars("m", {"a": 50.0}, 5)
        new_files = set(w.event_file_paths().values())
    assert len(new_files) == 2
    for path in new_files:
        events = list(iter_events(path))
        assert events[0].file_version == "brain.Event:2"
        assert [(e.step, e.session_log.status) for e in events[1:3]] == [(5, SessionLog.START)] * 2
        assert events[3].summary.value[0].simple_value == 50.0
    for run in (logdir, os.path.join(logdir, "m_a")):
        first = event_files(run)[0]
        assert not any(e.HasField("session_log") for e in iter_events(first))  # no purge_step: no START
    with pytest.raises(TypeError, match="purge_step"):
        anyboard.SummaryWriter(logdir, purge_step="5")


def test_filename_suffix_applies_to_sub_runs_and_is_made_safe(logdir):
    with anyboard.SummaryWriter(logdir, filename_suffix=".node0") as w:
        w.add_scalar("x", 1.0)
        w.add_scalars("m", {"a": 1.0, "b": 2.0})
    for run in (logdir, os.path.join(logdir, "m_a"), os.path.join(logdir, "m_b")):
        (path,) = event_files(run)
        assert path.endswith(".node0")
    other = os.path.join(logdir, "evil")
    with anyboard.SummaryWriter(other, filename_suffix="/../x") as w:
        w.add_scalar("x", 1.0)
    (path,) = event_files(other)
    assert os.path.dirname(path) == other and "/" not in os.path.basename(path)


def test_write_to_disk_false_writes_nothing(tmp_path):
    logdir = str(tmp_path / "nothing")
    with anyboard.SummaryWriter(logdir, write_to_disk=False) as w:
        for i in range(100):
            w.add_scalar("x", float(i), i)
        w.add_scalars("m", {"a": 1.0}, 0)
        w.add_histogram("h", [1.0, 2.0, 3.0], 0)
        w.add_text("t", "hi", 0)
        w.add_summary(Summary(), 0)
        w.flush()
        with pytest.raises(TypeError, match="'bad'"):
            w.add_scalar("bad", "not a number")  # still validated
    assert not os.path.exists(logdir)
    assert list(tmp_path.iterdir()) == []


def test_bad_constructor_arguments(logdir):
    with pytest.raises(ValueError, match="max_queue"):
        anyboard.SummaryWriter(logdir, max_queue=0)
    with pytest.raises(ValueError, match="flush_secs"):
        anyboard.SummaryWriter(logdir, flush_secs=0)
    with pytest.raises(ValueError, match="on_full"):
        anyboard.SummaryWriter(logdir, on_full="explode")
    with pytest.raises(TypeError, match="comment"):
        anyboard.SummaryWriter(logdir, comment=3)


def test_step_and_walltime_validation_names_the_tag(logdir):
    with anyboard.SummaryWriter(logdir) as w:
        with pytest.raises(TypeError, match="'s1'"):
            w.add_scalar("s1", 1.0, 1.5)
        with pytest.raises(TypeError, match="'s2'"):
            w.add_scalar("s2", 1.0, True)
        with pytest.raises(ValueError, match="'s3'"):
            w.add_histogram("s3", [1.0], 2**63)  # would wrap to -2**63 on disk
        with pytest.raises(ValueError, match="'s4'"):
            w.add_text("s4", "x", -(2**63) - 1)
        with pytest.raises(ValueError, match="'w1'"):
            w.add_scalar("w1", 1.0, 0, walltime=math.nan)
        with pytest.raises(TypeError, match="'w2'"):
            w.add_scalar("w2", 1.0, 0, walltime="now")
        with pytest.raises(TypeError, match="tag"):
            w.add_scalar(3, 1.0, 0)
        w.add_scalar("ok", 1.0, 2.0)  # an integral float step is accepted
        w.add_scalar("ok", 1.0, -(2**63))
        w.add_scalar("ok", 1.0, 2**63 - 1)
    assert [s for t, s, _, _ in scalars(logdir)] == [2, -(2**63), 2**63 - 1]


def test_add_scalar_step_outside_int64_raises(logdir):
    # add_scalar's fast path for int steps must range-check too: 2**63 would be
    # written as the varint of -2**63 (silently wrapped).
    with anyboard.SummaryWriter(logdir) as w:
        with pytest.raises(ValueError, match="'big'"):
            w.add_scalar("big", 1.0, 2**63)
        with pytest.raises(ValueError, match="'small'"):
            w.add_scalar("small", 1.0, -(2**63) - 1)
        with pytest.raises(ValueError, match="'multi'"):
            w.add_scalars("multi", {"a": 1.0}, 2**64)
    assert scalars(logdir) == []


def test_add_scalar_steps_either_side_of_the_fast_path_bound(logdir):
    # A tag seen before takes the fast path only for steps within +-(2**30 - 1); steps past
    # that take the checked path: all are written exactly, and int64 overflow still raises.
    from anyboard._methods.core import _FAST_STEP

    steps = [0, _FAST_STEP, _FAST_STEP + 1, -_FAST_STEP, -_FAST_STEP - 1, 2**62, -(2**63), 2**63 - 1, 7]
    with anyboard.SummaryWriter(logdir) as w:
        w.add_scalar("t", 0.5, 1)  # the tag is known from here on
        for i, step in enumerate(steps):
            w.add_scalar("t", float(i), step)
        with pytest.raises(ValueError, match=r"'t'.*int64"):
            w.add_scalar("t", 1.0, 2**63)
        with pytest.raises(ValueError, match=r"'t'.*int64"):
            w.add_scalar("t", 1.0, -(2**63) - 1)
    assert [(s, v) for _, s, v, _ in scalars(logdir)] == [(1, 0.5)] + [(s, float(i)) for i, s in enumerate(steps)]


# -- background write failures ------------------------------------------------


def _fail_writes(monkeypatch, stream):
    """Make the stream's file fail every write with ENOSPC until undone."""
    file = stream._file
    real = file.write
    state = {"fail": True, "calls": 0}

    def write(data):
        state["calls"] += 1
        if state["fail"]:
            raise OSError(28, "No space left on device (simulated)")
        return real(data)

    monkeypatch.setattr(file, "write", write)
    return state


def test_background_write_failure_reaches_caller_then_recovers(logdir, monkeypatch):
    w = anyboard.SummaryWriter(logdir, flush_secs=3600, max_queue=1000)
    try:
        state = _fail_writes(monkeypatch, w._main)
        for i in range(10):
            w.add_scalar("x", float(i), i)
        with pytest.raises(anyboard.WriteError) as info:
            no_hang(w.flush)
        assert isinstance(info.value, OSError)
        assert isinstance(info.value.__cause__, OSError) and info.value.__cause__.errno == 28
        assert state["calls"] >= 1
        assert scalars(logdir) == []  # nothing half-written
        state["fail"] = False
        for i in range(10, 20):
            w.add_scalar("x", float(i), i)
        no_hang(w.flush)  # the failed batch is retried with the new one
        assert [s for _, s, _, _ in scalars(logdir)] == list(range(20))
    finally:
        state["fail"] = False
        no_hang(w.close)
    assert [s for _, s, _, _ in scalars(logdir)] == list(range(20))


def test_background_write_failure_raised_by_next_logging_call(logdir, monkeypatch):
    w = anyboard.SummaryWriter(logdir, flush_secs=3600, max_queue=1)
    try:
        state = _fail_writes(monkeypatch, w._main)
        w.add_scalar("x", 0.0, 0)  # max_queue=1: wakes the thread, whose write fails
        deadline = time.monotonic() + 20
        raised = None
        i = 1
        while raised is None:
            assert time.monotonic() < deadline, "the background failure never reached a logging call"
            try:
                no_hang(lambda i=i: w.add_scalar("x", float(i), i))
                i += 1
            except anyboard.WriteError as exc:
                raised = exc
            time.sleep(0.01)
        assert isinstance(raised.__cause__, OSError)
        state["fail"] = False
        w.add_scalar("x", float(i), i)  # the writer is usable again
        no_hang(w.flush)
        steps = [s for _, s, _, _ in scalars(logdir)]
        assert steps == sorted(set(steps)) and steps[0] == 0 and steps[-1] == i
    finally:
        state["fail"] = False
        no_hang(w.close)


def test_close_reports_a_failure_that_never_clears_without_hanging(logdir, monkeypatch):
    w = anyboard.SummaryWriter(logdir, flush_secs=3600, max_queue=1000)
    _fail_writes(monkeypatch, w._main)
    w.add_scalar("x", 1.0, 1)
    with pytest.raises(anyboard.WriteError):
        no_hang(w.close)
    assert w.closed
    no_hang(w.close)  # idempotent, quiet the second time


def test_deleted_event_file_is_reported(logdir):
    w = anyboard.SummaryWriter(logdir, flush_secs=3600)
    try:
        w.add_scalar("x", 1.0, 0)
        w.flush()
        os.remove(w.event_file_paths()[""])
        w.add_scalar("x", 2.0, 1)
        with pytest.raises(anyboard.WriteError, match="deleted"):
            no_hang(w.flush)
    finally:
        try:
            no_hang(w.close)
        except anyboard.WriteError:
            pass


def test_unwritable_logdir_fails_on_the_caller(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a directory")
    with pytest.raises(OSError):
        anyboard.SummaryWriter(str(blocker / "run"))


def test_add_text_of_a_string_that_is_not_utf8_raises_naming_the_tag(logdir):
    with anyboard.SummaryWriter(logdir) as w:
        w.add_text("ok", "fine é", 1)
        with pytest.raises(ValueError, match=r"'bad'.*UTF-8"):
            w.add_text("bad", "lone \ud800 surrogate", 2)
        w.add_text("ok", "still fine", 3)
    texts = [
        (v.tag, e.step, v.tensor.string_val[0].decode())
        for e in anyboard.iter_run_events(logdir)
        for v in e.summary.value
    ]
    assert texts == [("ok", 1, "fine é"), ("ok", 3, "still fine")]
