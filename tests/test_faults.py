"""Faults: crashes, full disks, deleted directories, slow disks, exits.

Whatever goes wrong, nothing already flushed is lost or corrupted, nothing
hangs (every child process and every wait has a timeout), and every failure
reaches the caller as a clear error it can catch and go on from.
"""

from __future__ import annotations

import errno
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
import warnings

import numpy as np
import pytest
import tbread

import anyboard
from anyboard import SummaryWriter, WriteError
from anyboard._methods import core as core_methods
from anyboard.io import event_file
from anyboard.io.events import event_bytes
from anyboard.io.reader import event_files, iter_records
from anyboard.io.records import frame
from anyboard.summary.scalar import simple_value_bytes

CHILD_TIMEOUT = 120


# -- helpers ------------------------------------------------------------------------------


def _script(tmp_path, code: str) -> str:
    path = os.path.join(str(tmp_path), f"child_{abs(hash(code)) % 10**8}.py")
    with open(path, "w") as f:
        f.write(textwrap.dedent(code))
    return path


def _run_child(tmp_path, code: str, *args: str, timeout: float = CHILD_TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, _script(tmp_path, code), *args], capture_output=True, text=True, timeout=timeout
    )


def _scalar_steps(run_dir: str, tag: str = "loss") -> list[int]:
    """Steps of ``tag`` in ``run_dir`` read by anyboard's reader (raises on any corrupt record)."""
    steps = []
    for event in anyboard.iter_run_events(run_dir):
        for value in event.summary.value:
            if value.tag == tag:
                assert value.simple_value == float(event.step) or value.tensor.float_val == [float(event.step)]
                steps.append(event.step)
    return steps


def _clean_file(path: str) -> int:
    """Assert the file is whole records only (no torn tail); return the record count."""
    end, n = 0, 0
    for offset, data in iter_records(path):
        end, n = offset + 16 + len(data), n + 1
    assert end == os.path.getsize(path), f"{path}: torn bytes after offset {end}"
    return n


def _in_thread(fn, timeout: float = 60):
    """Run ``fn`` in a thread; fail (instead of hanging) if it does not finish in time."""
    result: dict[str, object] = {}

    def target():
        try:
            result["value"] = fn()
        except BaseException as exc:
            result["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), f"{fn} did not return within {timeout} s"
    return result


# -- SIGKILL in the middle of heavy logging ------------------------------------------------

_HEAVY = """
import sys
from anyboard import SummaryWriter
w = SummaryWriter(sys.argv[1], max_queue=100, flush_secs=1000)
step = 0
while True:
    w.add_scalar("loss", float(step), step)
    w.add_histogram("h", [step, step + 1.0, -step], step) if step % 50 == 0 else None
    step += 1
    if step % 2000 == 0:
        w.flush()
        print(step - 1, flush=True)
"""


def _kill_after_flushes(tmp_path, logdir: str, flushes: int) -> int:
    proc = subprocess.Popen(
        [sys.executable, _script(tmp_path, _HEAVY), logdir], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    last = -1
    try:
        deadline = time.monotonic() + CHILD_TIMEOUT
        seen = 0
        while seen < flushes:
            left = deadline - time.monotonic()
            assert left > 0, "child never flushed"
            ready, _, _ = select.select([proc.stdout], [], [], left)
            assert ready, "child never flushed"
            line = proc.stdout.readline()
            assert line, f"child died: {proc.stderr.read()[-2000:]}"
            last, seen = int(line), seen + 1
        os.kill(proc.pid, signal.SIGKILL)  # mid-logging: the child never stops on its own
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return last


def test_sigkill_mid_logging_keeps_every_flushed_record_and_a_new_writer_continues(tmp_path):
    logdir = str(tmp_path / "logs")
    flushed = _kill_after_flushes(tmp_path, logdir, flushes=5)
    assert flushed >= 9999
    (old,) = event_files(logdir)
    steps = _scalar_steps(logdir)  # anyboard's reader: no error on whatever tail the kill left
    assert steps == list(range(len(steps))) and steps[-1] >= flushed
    # make the torn tail explicit: half of the next record, as a write cut short would leave it
    torn = frame(event_bytes(1.0, steps[-1] + 1, simple_value_bytes("loss", float(steps[-1] + 1))))
    with open(old, "ab") as f:
        f.write(torn[: len(torn) // 2])
    assert _scalar_steps(logdir) == steps

    # resume from the last checkpointed (flushed) step in the same directory
    resume = flushed + 1
    with SummaryWriter(logdir, purge_step=resume) as w:
        for step in range(resume, resume + 100):
            w.add_scalar("loss", float(step), step)
    new = [p for p in event_files(logdir) if p != old]
    assert len(new) == 1 and os.path.basename(new[0]) > os.path.basename(old)  # sorts after
    _clean_file(new[0])
    expected = list(range(resume + 100))
    # anyboard's reader sees both files (the old one's extra steps, then the resumed ones)
    assert _scalar_steps(logdir) == steps + list(range(resume, resume + 100))
    # TensorBoard's Python loader: purge_step drops the old file's steps >= resume
    assert [s for _, s, _ in tbread.python_scalars(logdir, "loss")] == expected
    assert [v for _, _, v in tbread.python_scalars(logdir, "loss")] == [float(s) for s in expected]
    # the Rust data server
    with tbread.TensorBoardServer(logdir, load_fast=True) as tb:
        got = tb.wait_for(lambda: (lambda r: r if r and r[-1][1] == expected[-1] else None)(tb.scalars(".", "loss")))
    assert [int(s) for _, s, _ in got] == expected
    assert [v for _, _, v in got] == [float(s) for s in expected]


def test_new_writer_file_sorts_after_a_file_another_process_wrote_this_second(tmp_path):
    """TensorBoard reads a run's files in name order: a restarted job's file must come last.

    A process with a larger pid (pids are not monotonic) wrote a file in the
    same second; the new writer's file must still sort after it.
    """
    logdir = tmp_path / "logs"
    logdir.mkdir()
    now = int(time.time())
    other = logdir / f"events.out.tfevents.{now:010d}.{event_file.HOST}.{2**22 + 1}.000000"
    other.write_bytes(frame(event_bytes(1.0, 5, simple_value_bytes("loss", 5.0))))
    with SummaryWriter(str(logdir)) as w:
        w.add_scalar("loss", 6.0, 6)
        mine = w.event_file_paths()[""]
    assert os.path.basename(mine) > other.name, (os.path.basename(mine), other.name)
    assert [s for _, s, _ in tbread.python_scalars(str(logdir), "loss")] == [5, 6]


def test_explicitly_truncated_record_is_skipped_by_all_python_readers(tmp_path):
    logdir = str(tmp_path / "logs")
    with SummaryWriter(logdir) as w:
        for step in range(20):
            w.add_scalar("loss", float(step), step)
    (path,) = event_files(logdir)
    offsets = [o for o, _ in iter_records(path)]
    with open(path, "r+b") as f:
        f.truncate(offsets[-1] + 12 + 3)  # header of the last record, a few payload bytes
    assert _scalar_steps(logdir) == list(range(19))
    assert [s for _, s, _ in tbread.python_scalars(logdir, "loss")] == list(range(19))


# -- file too large / disk full ----------------------------------------------------------------

_FSIZE = """
import json, os, resource, signal, sys
from anyboard import SummaryWriter, WriteError
from anyboard.io.reader import iter_records
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() fails with EFBIG instead of killing us
logdir = sys.argv[1]
w = SummaryWriter(logdir, max_queue=40, flush_secs=1000)
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (20000, hard))
accepted, errors = [], []
step = 0
while len(errors) < 4 and step < 20000:
    try:
        w.add_scalar("loss", float(step), step)
        accepted.append(step)
    except WriteError as e:
        errors.append(["add", step, repr(e.__cause__)])
    step += 1
    if step % 25 == 0:
        try:
            w.flush()
        except WriteError as e:
            errors.append(["flush", step, repr(e.__cause__)])
path = w.event_file_paths()[""]
end = 0
for off, data in iter_records(path):
    end = off + 16 + len(data)
clean_while_full = end == os.path.getsize(path) and end <= 20000
# the disk has room again: go on, and the kept batch is written
resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
for s in range(step, step + 50):
    w.add_scalar("loss", float(s), s)
    accepted.append(s)
w.flush()
w.close()
print(json.dumps({"accepted": accepted, "errors": errors, "clean": clean_while_full}))
"""


def test_file_too_large_raises_write_error_then_recovers_without_torn_records(tmp_path):
    logdir = str(tmp_path / "logs")
    proc = _run_child(tmp_path, _FSIZE, logdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["errors"], "the size limit was never reported"
    assert all("File too large" in e[2] or "EFBIG" in e[2] or "Errno 27" in e[2] for e in out["errors"]), out["errors"]
    assert out["clean"], "while the disk was full the file held a torn record"
    (path,) = event_files(logdir)
    _clean_file(path)
    # everything the caller was told was accepted is on disk, once, in order
    assert _scalar_steps(logdir) == out["accepted"]
    assert [s for _, s, _ in tbread.python_scalars(logdir, "loss")] == out["accepted"]


_FSIZE_CLOSE = """
import resource, signal, sys
from anyboard import SummaryWriter, WriteError
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
w = SummaryWriter(sys.argv[1], flush_secs=1000)
w.add_scalar("loss", 0.0, 0)
w.flush()
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
for s in range(1, 2000):
    try:
        w.add_scalar("loss", float(s), s)
    except WriteError:
        pass
try:
    w.close()
    print("closed")
except WriteError as e:
    print("close raised", repr(e.__cause__))
w.close()  # idempotent
print("done", w.closed)
"""


def test_close_on_a_full_disk_returns(tmp_path):
    logdir = str(tmp_path / "logs")
    proc = _run_child(tmp_path, _FSIZE_CLOSE, logdir, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("done True")
    (path,) = event_files(logdir)
    _clean_file(path)
    steps = _scalar_steps(logdir)
    assert steps == list(range(len(steps))) and steps[0] == 0


# -- directory deleted, sub-run blocked ------------------------------------------------------


def test_logdir_deleted_mid_run_is_a_clear_error_and_close_returns(tmp_path):
    logdir = str(tmp_path / "logs")
    w = SummaryWriter(logdir, flush_secs=1000)
    w.add_scalar("loss", 0.0, 0)
    w.flush()
    shutil.rmtree(logdir)
    w.add_scalar("loss", 1.0, 1)
    with pytest.raises(WriteError) as info:
        w.flush()
    assert isinstance(info.value.__cause__, FileNotFoundError)
    assert "deleted" in str(info.value) and logdir in str(info.value)
    result = _in_thread(w.close, timeout=30)
    assert "error" not in result or isinstance(result["error"], WriteError)
    assert w.closed
    assert _in_thread(w.close, timeout=5) == {"value": None}


def test_logdir_deleted_mid_run_then_logging_goes_on_in_a_new_file_losing_nothing(tmp_path):
    """After the error, the writer recreates the directory and rewrites what the deleted file lost."""
    logdir = str(tmp_path / "logs")
    w = SummaryWriter(logdir, flush_secs=1000)
    w.add_scalar("loss", 0.0, 0)
    w.flush()
    shutil.rmtree(logdir)
    w.add_scalar("loss", 1.0, 1)  # written into the deleted file: must not be lost
    with pytest.raises(WriteError):
        w.flush()
    w.add_scalar("loss", 2.0, 2)
    w.flush()
    w.close()
    steps = _scalar_steps(logdir)
    assert steps == [1, 2], steps  # step 0 went with the deleted directory, 1 and 2 are in the new file
    names = [n for n in os.listdir(logdir) if "tfevents" in n]
    assert len(names) == 1
    first = next(anyboard.iter_events(os.path.join(logdir, names[0])))
    assert first.file_version == "brain.Event:2"


def test_logdir_deleted_at_exit_does_not_hang(tmp_path):
    code = """
    import shutil, sys
    from anyboard import SummaryWriter
    w = SummaryWriter(sys.argv[1])
    for s in range(50):
        w.add_scalar("loss", float(s), s)
    w.flush()
    shutil.rmtree(sys.argv[1])
    for s in range(50, 100):
        w.add_scalar("loss", float(s), s)
    print("exiting")
    """
    proc = _run_child(tmp_path, code, str(tmp_path / "logs"), timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "exiting"


def test_file_where_a_sub_run_directory_must_go_is_a_clear_error_and_earlier_data_survives(tmp_path):
    logdir = tmp_path / "logs"
    logdir.mkdir()
    blocker = logdir / "loss_b"
    blocker.write_text("not a directory")
    w = SummaryWriter(str(logdir), flush_secs=1000)
    w.add_scalar("sentinel", 1.0, 1)
    w.add_scalars("loss", {"a": 1.0}, 1)
    with pytest.raises(OSError) as info:
        w.add_scalars("loss", {"a": 2.0, "b": 2.0}, 2)
    assert str(blocker) in str(info.value)
    w.add_scalar("sentinel", 2.0, 2)  # the writer goes on
    w.add_scalars("loss", {"a": 3.0}, 3)
    w.close()
    assert blocker.read_text() == "not a directory"
    assert _scalar_steps(str(logdir), "sentinel") == [1, 2]
    assert [s for _, s, _ in tbread.python_scalars(str(logdir), "sentinel")] == [1, 2]
    # the failed call logged nothing (no half of an add_scalars)
    assert _scalar_steps(str(logdir / "loss_a"), "loss") == [1, 3]


def _failing_writes(monkeypatch) -> dict[str, bool]:
    """Make every event-file write raise EIO while the returned ``{"on": ...}`` flag is true."""
    original = event_file.LocalFile.write
    failing = {"on": True}

    def write(self, data):
        if failing["on"]:
            raise OSError(errno.EIO, "Input/output error (injected)")
        return original(self, data)

    monkeypatch.setattr(event_file.LocalFile, "write", write)
    return failing


def test_unwritable_event_file_mid_run_reports_and_keeps_earlier_data(tmp_path, monkeypatch):
    """An I/O error on write (EIO) is reported once per failure, and earlier records stay."""
    logdir = str(tmp_path / "logs")
    w = SummaryWriter(logdir, flush_secs=1000)
    w.add_scalar("loss", 0.0, 0)
    w.flush()
    failing = _failing_writes(monkeypatch)
    w.add_scalar("loss", 1.0, 1)
    with pytest.raises(WriteError, match="Input/output error"):
        w.flush()
    with pytest.raises(WriteError):  # the kept batch is retried, and fails again
        w.add_scalar("loss", 2.0, 2)
        w.flush()
    failing["on"] = False
    w.add_scalar("loss", 3.0, 3)
    w.flush()
    w.close()
    steps = _scalar_steps(logdir)
    assert steps[0] == 0 and steps[1] == 1 and steps[-1] == 3 and steps == sorted(steps)


def test_a_failing_disk_keeps_the_memory_bound_and_a_call_that_raises_is_not_written(tmp_path, monkeypatch):
    """Every write fails while 1 MiB texts keep coming (on_full="block", bound 10 MiB): the calls
    raise once the bound is reached, the backlog stays within it, and after the disk recovers
    exactly the calls that returned are in the file (a raised call used to be queued anyway)."""
    logdir = str(tmp_path / "logs")
    bound = 10 << 20
    w = SummaryWriter(logdir, max_pending_bytes=bound, flush_secs=0.05)
    w.add_scalar("loss", 0.0, 0)
    w.flush()
    failing = _failing_writes(monkeypatch)
    returned, raised, peak = [], [], 0
    for i in range(60):
        error = _in_thread(lambda i=i: w.add_text("t", "z" * (1 << 20), i)).get("error")
        if error is None:
            returned.append(i)
        else:
            assert isinstance(error, WriteError), error
            raised.append(i)
        peak = max(peak, w._core._pending_bytes())
    assert raised, "the failing disk was never reported"
    assert peak <= bound + (2 << 20), f"backlog {peak / 2**20:.1f} MiB over the {bound >> 20} MiB bound"
    failing["on"] = False
    w.close()
    texts = [e.step for e in anyboard.iter_run_events(logdir) for v in e.summary.value if v.tag == "t"]
    assert sorted(texts) == returned


def test_a_disk_with_room_for_part_of_the_backlog_takes_that_part(tmp_path, monkeypatch):
    """Batches kept after failed writes are retried one by one: a disk that frees room for some
    of them takes those (the whole backlog was retried as one write, which needed room for all)."""
    logdir = str(tmp_path / "logs")
    w = SummaryWriter(logdir, flush_secs=1000)
    w.add_scalar("loss", 0.0, 0)
    w.flush()
    original = event_file.LocalFile.write
    room = {"left": 0}

    def write(self, data):
        if len(data) > room["left"]:
            raise OSError(errno.ENOSPC, "No space left on device (injected)")
        room["left"] -= len(data)
        return original(self, data)

    monkeypatch.setattr(event_file.LocalFile, "write", write)
    text = "x" * (300 << 10)
    for i in range(4):
        w.add_text("t", text, i)
        with pytest.raises(WriteError, match="No space left"):
            w.flush()

    def written() -> list[int]:
        return [e.step for e in anyboard.iter_run_events(logdir) for v in e.summary.value if v.tag == "t"]

    assert written() == []
    room["left"] = 700 << 10  # room for two of the four texts
    with pytest.raises(WriteError, match="No space left"):
        w.flush()
    assert written() == [0, 1]
    room["left"] = 1 << 30
    w.close()
    assert written() == [0, 1, 2, 3]
    assert _scalar_steps(logdir) == [0]


@pytest.mark.parametrize(
    ("code", "kind"),
    [(errno.ENOSPC, OSError), (errno.EDQUOT, OSError), (errno.EACCES, PermissionError), (errno.EIO, OSError)],
    ids=["disk-full", "quota", "permission-denied", "io-error"],
)
def test_write_error_on_the_caller_names_the_event_file(tmp_path, monkeypatch, code, kind):
    """The ``OSError`` of a failed write carries the file's path, so the caller's ``WriteError`` names it."""
    logdir = str(tmp_path / "logs")
    w = SummaryWriter(logdir, flush_secs=1000)
    w.add_scalar("loss", 0.0, 0)
    w.flush()
    (path,) = w.written_files()[""]
    inode = os.stat(path).st_ino
    real_write = os.write
    failing = {"on": True}

    def write(fd, data):
        if failing["on"] and os.fstat(fd).st_ino == inode:
            raise OSError(code, os.strerror(code))  # as the kernel reports it: no file name
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    w.add_scalar("loss", 1.0, 1)
    with pytest.raises(WriteError) as info:
        w.flush()
    cause = info.value.__cause__
    assert isinstance(cause, kind) and cause.errno == code and cause.filename == path
    assert path in str(info.value) and os.strerror(code) in str(info.value)
    failing["on"] = False
    w.add_scalar("loss", 2.0, 2)
    w.flush()  # the kept batch is written once the disk works again
    w.close()
    assert _scalar_steps(logdir) == [0, 1, 2]


def test_directory_removed_error_names_the_event_file(tmp_path):
    logdir = str(tmp_path / "logs")
    w = SummaryWriter(logdir, flush_secs=1000)
    w.add_scalars("loss", {"a": 0.0}, 0)
    w.flush()
    (path,) = w.written_files()["loss_a"]
    shutil.rmtree(os.path.dirname(path))
    w.add_scalars("loss", {"a": 1.0}, 1)
    with pytest.raises(WriteError) as info:
        w.flush()
    assert isinstance(info.value.__cause__, FileNotFoundError) and path in str(info.value)
    w.close()


# -- a producer much faster than the disk -----------------------------------------------------


def _slow_disk(monkeypatch, delay: float) -> None:
    original = event_file.LocalFile.write

    def slow_write(self, data):
        time.sleep(delay)
        return original(self, data)

    monkeypatch.setattr(event_file.LocalFile, "write", slow_write)


def _produce(w: SummaryWriter, n: int, size: int, *, scalars: bool = True) -> int:
    """Log ``n`` histograms of ``size``-byte arrays (and scalars); return the most memory held after a call.

    Measured with tracemalloc after each call (what stays allocated: the
    queue), not its peak (which includes the encoder's transient work).
    """
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        most = 0
        for step in range(n):
            w.add_histogram("h", np.full(size // 8, float(step)), step)
            if scalars:
                w.add_scalar("loss", float(step), step)
            most = max(most, tracemalloc.get_traced_memory()[0] - base)
    finally:
        tracemalloc.stop()
    return most


def test_fast_producer_blocks_within_the_memory_bound(tmp_path, monkeypatch):
    bound = 1 << 20
    n, size = 150, 100_000  # 15 MB of arrays through a 1 MB bound
    # control: with a bound far above the data and the writer thread stalled, the queue grows
    # past 8 MB (so the check below can fail)
    stalled = threading.Event()
    binning = core_methods._histogram_bytes

    def stalled_histogram(*args):
        stalled.wait(60)
        return binning(*args)

    monkeypatch.setattr(core_methods, "_histogram_bytes", stalled_histogram)
    unbounded = SummaryWriter(str(tmp_path / "control"), max_pending_bytes=1 << 30, max_queue=5)
    try:
        grown = _produce(unbounded, n, size, scalars=False)
    finally:
        stalled.set()
    unbounded.close()
    monkeypatch.setattr(core_methods, "_histogram_bytes", binning)
    assert grown > 8 * bound
    _slow_disk(monkeypatch, 0.02)

    logdir = str(tmp_path / "logs")
    w = SummaryWriter(logdir, max_pending_bytes=bound, on_full="block", max_queue=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # blocking never warns
        most = _produce(w, n, size)
    w.close()
    assert most < 4 * bound, f"queued memory reached {most} bytes with a {bound}-byte bound"
    assert w.dropped == 0
    assert _scalar_steps(logdir) == list(range(n))
    hist_steps = [e.step for e in anyboard.iter_run_events(logdir) for v in e.summary.value if v.tag == "h"]
    assert hist_steps == list(range(n))


def test_bytes_kept_for_a_deleted_file_stay_within_the_memory_bound(tmp_path):
    """What each file wrote since its last check is kept (to rewrite it if the file was deleted)
    until the next flush, every flush_secs (120 s): up to 32 MiB per sub-run, outside
    max_pending_bytes (62 MiB for 40 add_scalars keys under a 4 MiB bound). The writer now
    checks its files early once they keep an eighth of the bound."""
    bound = 4 << 20
    w = SummaryWriter(str(tmp_path), max_pending_bytes=bound)
    keys = [f"k{j}" for j in range(40)]
    for i in range(20000):
        w.add_scalars("m", dict.fromkeys(keys, float(i)), i)
    core = w._core
    deadline = time.monotonic() + 60
    while (any(s.queue for s in core._streams) or core._pending_bytes() > 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    kept = sum(s.unchecked_bytes for s in core._streams)
    w.close()
    assert kept <= bound, f"{kept / 2**20:.1f} MiB kept unchecked beside a {bound >> 20} MiB bound"
    assert sorted(e.step for e in anyboard.iter_run_events(str(tmp_path / "m_k7")) if e.summary.value) == list(
        range(20000)
    )


def test_fast_producer_drops_within_the_memory_bound_and_counts(tmp_path, monkeypatch):
    _slow_disk(monkeypatch, 0.05)
    logdir = str(tmp_path / "logs")
    bound = 1 << 20
    n, size = 150, 100_000
    w = SummaryWriter(logdir, max_pending_bytes=bound, on_full="drop", max_queue=5)
    with pytest.warns(RuntimeWarning, match="max_pending_bytes") as caught:
        most = _produce(w, n, size, scalars=False)
    w.close()
    assert len([c for c in caught if "max_pending_bytes" in str(c.message)]) == 1  # warned once
    assert most < 4 * bound, f"queued memory reached {most} bytes with a {bound}-byte bound"
    assert 0 < w.dropped < n
    on_disk = [e.step for e in anyboard.iter_run_events(logdir) for v in e.summary.value if v.tag == "h"]
    assert on_disk == sorted(set(on_disk))  # in order, none twice
    assert len(on_disk) + w.dropped == n  # what was not dropped is on disk
    assert on_disk[0] == 0


def test_drop_counts_match_with_several_sub_runs(tmp_path, monkeypatch):
    """With add_scalars' sub-runs sharing the bound, dropped + written == logged, per call."""
    _slow_disk(monkeypatch, 0.01)
    logdir = str(tmp_path / "logs")
    n = 400
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        w = SummaryWriter(logdir, max_pending_bytes=4096, on_full="drop", max_queue=3)
        for step in range(n):
            w.add_scalars("m", {"a": float(step), "b": float(step)}, step)
            w.add_scalar("loss", float(step), step)
        w.close()
    written = 0
    for run in ("m_a", "m_b"):
        written += len(_scalar_steps(os.path.join(logdir, run), "m"))
    written += len(_scalar_steps(logdir, "loss"))
    assert w.dropped > 0
    assert written + w.dropped == 3 * n


# -- interpreter exit ---------------------------------------------------------------------------


def test_exit_without_close_writes_everything(tmp_path):
    code = """
    import sys
    from anyboard import SummaryWriter
    w = SummaryWriter(sys.argv[1])  # default flush_secs=120: only the exit can write these
    for s in range(50):
        w.add_scalar("loss", float(s), s)
    """
    logdir = str(tmp_path / "logs")
    proc = _run_child(tmp_path, code, logdir, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _scalar_steps(logdir) == list(range(50))
    assert [s for _, s, _ in tbread.python_scalars(logdir, "loss")] == list(range(50))


def test_exit_without_close_with_sub_runs_and_an_unreferenced_writer(tmp_path):
    code = """
    import sys
    from anyboard import SummaryWriter
    def log():
        w = SummaryWriter(sys.argv[1] + "/gone")  # dropped without close: collected at return
        for s in range(50):
            w.add_scalar("loss", float(s), s)
    log()
    keep = SummaryWriter(sys.argv[1] + "/kept")
    for s in range(50):
        keep.add_scalars("m", {"a": float(s)}, s)
        keep.add_scalar("loss", float(s), s)
    """
    logdir = str(tmp_path / "logs")
    proc = _run_child(tmp_path, code, logdir, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _scalar_steps(os.path.join(logdir, "gone")) == list(range(50))
    assert _scalar_steps(os.path.join(logdir, "kept")) == list(range(50))
    assert _scalar_steps(os.path.join(logdir, "kept", "m_a"), "m") == list(range(50))


def test_exit_from_a_sigterm_handler_writes_everything_queued(tmp_path):
    code = """
    import signal, sys, time
    from anyboard import SummaryWriter
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(3))
    w = SummaryWriter(sys.argv[1])
    step = 0
    while True:
        w.add_scalar("loss", float(step), step)
        step += 1
        if step == 2000:
            print("ready", flush=True)
    """
    logdir = str(tmp_path / "logs")
    proc = subprocess.Popen(
        [sys.executable, _script(tmp_path, code), logdir], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        ready, _, _ = select.select([proc.stdout], [], [], CHILD_TIMEOUT)
        assert ready and proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGTERM)  # lands anywhere inside the logging loop
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
    assert proc.returncode == 3, err[-2000:]
    (path,) = event_files(logdir)
    _clean_file(path)
    steps = _scalar_steps(logdir)
    assert steps == list(range(len(steps))) and steps[-1] >= 1999


def test_exception_inside_with_block_writes_everything_and_propagates(tmp_path):
    logdir = str(tmp_path / "logs")
    with pytest.raises(RuntimeError, match="boom"), SummaryWriter(logdir) as w:
        for s in range(50):
            w.add_scalar("loss", float(s), s)
        raise RuntimeError("boom")
    assert w.closed
    assert _scalar_steps(logdir) == list(range(50))


def test_uncaught_exception_at_top_level_still_writes_and_exits(tmp_path):
    code = """
    import sys
    from anyboard import SummaryWriter
    w = SummaryWriter(sys.argv[1])
    for s in range(50):
        w.add_scalar("loss", float(s), s)
    raise RuntimeError("boom")
    """
    logdir = str(tmp_path / "logs")
    proc = _run_child(tmp_path, code, logdir, timeout=60)
    assert proc.returncode == 1 and "boom" in proc.stderr
    assert _scalar_steps(logdir) == list(range(50))


def test_exit_while_blocked_on_a_slow_disk_does_not_hang(tmp_path):
    code = """
    import sys, threading, time
    from anyboard import SummaryWriter
    from anyboard.io import event_file
    original = event_file.LocalFile.write
    def slow(self, data):
        time.sleep(0.01)
        return original(self, data)
    event_file.LocalFile.write = slow
    w = SummaryWriter(sys.argv[1], max_pending_bytes=2048, on_full="block", max_queue=2)
    def produce():
        for s in range(10**9):
            w.add_scalar("loss", float(s), s)
    threading.Thread(target=produce, daemon=True).start()
    time.sleep(0.5)
    print("exiting", flush=True)
    """
    logdir = str(tmp_path / "logs")
    proc = _run_child(tmp_path, code, logdir, timeout=90)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (path,) = event_files(logdir)
    _clean_file(path)
    steps = _scalar_steps(logdir)
    assert steps == list(range(len(steps))) and len(steps) > 10
