"""Timing writers side by side: fresh writer per repetition, interleaved, every file read back.

Measured for each workload, writer and repetition (default constructor arguments):

- caller µs/call: wall time of the logging loop / calls; caller CPU µs: the loop thread's own
  CPU time / calls; p50 and p99 of single calls (light workloads: in a separate, shorter
  pass, so that the timer does not inflate the mean; burst workloads: none);
- e2e events/s: values logged / time from the first call until ``close()`` returned;
- CPU s: process CPU time (all threads) over the same window;
- bytes written, and peak memory (growth of the resident set's high-water mark, Linux only);
- every file written is read back with :func:`anyboard.iter_events` (framing and both CRCs
  of every record) and the number of logged values is checked, so a fast but wrong writer
  cannot win.

Writers run interleaved (A B C, then B C A, ...) in one process, so drift of a shared machine
hits all of them alike. Each timed repetition starts once the process's other threads have gone
idle (:func:`quiesce`): a writer's leftovers, such as OpenBLAS's worker spinning for ~0.1 s on a
second core after a peer's ``values.dot(values)``, are not timed as part of the next writer's run.
"""

from __future__ import annotations

import gc
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from anyboard.bench.workloads import CallArgs, Workload

IMPLS = ("anyboard", "tensorboardX", "torch")
PEERS = ("tensorboardX", "torch")

Log = Callable[[str], None]


def writer_class(impl: str) -> Any:
    """The SummaryWriter class of ``impl`` (raises ImportError if it is not installed)."""
    import importlib

    modules = {"anyboard": "anyboard", "tensorboardX": "tensorboardX", "torch": "torch.utils.tensorboard"}
    if impl not in modules:
        raise ValueError(f"unknown writer {impl!r}; expected one of {', '.join(IMPLS)}")
    return importlib.import_module(modules[impl]).SummaryWriter


class Storage:
    """Where the benchmark's log directories go: a local folder or an fsspec URL.

    ``base=None``: a fresh temporary folder, removed by :meth:`close`. A URL
    (``s3://bucket/prefix``, ``memory://x``) is written through fsspec by anyboard; a peer
    that cannot write there is skipped (see :func:`available`).
    """

    def __init__(self, base: str | None = None, storage_options: dict[str, Any] | None = None) -> None:
        self.is_url = base is not None and "://" in base and not base.startswith("file://")
        self.storage_options = dict(storage_options or {})
        self._own_temp = base is None
        if base is None:
            base = tempfile.mkdtemp(prefix="anyboard-bench-")
        elif base.startswith("file://"):
            base = base[len("file://") :]
        self.base = base.rstrip("/") if self.is_url else os.path.abspath(base)
        self._fs: Any = None
        if self.is_url:
            import fsspec

            self._fs, _ = fsspec.core.url_to_fs(self.base, **self.storage_options)
        else:
            os.makedirs(self.base, exist_ok=True)

    def check_writable(self) -> None:
        """Raise ``OSError`` if a log directory cannot be made and written under a local base
        (a URL is probed by :func:`can_write_to`)."""
        if self.is_url:
            return
        path = self.new_dir("bench-probe")
        try:
            with open(os.path.join(path, "probe"), "wb") as f:
                f.write(b"probe")
        finally:
            self.remove(path)

    def new_dir(self, prefix: str) -> str:
        """A fresh, empty log directory under the base."""
        if self.is_url:
            return f"{self.base}/{prefix}-{uuid.uuid4().hex[:12]}"
        return tempfile.mkdtemp(prefix=prefix + "-", dir=self.base)

    def remove(self, path: str) -> None:
        if self.is_url:
            try:
                self._fs.rm(path, recursive=True)
            except FileNotFoundError:
                pass
        else:
            shutil.rmtree(path, ignore_errors=True)

    def event_files(self, path: str) -> list[tuple[str, int]]:
        """``(path, size)`` of every event file under ``path``."""
        if self.is_url:
            try:
                found = self._fs.find(path, detail=True)
            except FileNotFoundError:
                return []
            protocol = self.base.split("://", 1)[0]
            out = []
            for name, info in sorted(found.items()):
                if "tfevents" in name.rsplit("/", 1)[-1]:
                    full = name if "://" in name else f"{protocol}://{name.lstrip('/')}"
                    out.append((full, int(info.get("size") or 0)))
            return out
        files = []
        for root, _, names in os.walk(path):
            for name in sorted(names):
                if "tfevents" in name:
                    full = os.path.join(root, name)
                    files.append((full, os.path.getsize(full)))
        return files

    def iter_events(self, path: str) -> Iterator[Any]:
        from anyboard import iter_events

        if not self.is_url:
            yield from iter_events(path)
            return
        with self._fs.open(path, "rb") as f:
            yield from iter_events(path, fileobj=f)

    def writer_kwargs(self, impl: str) -> dict[str, Any]:
        if impl == "anyboard" and self.is_url and self.storage_options:
            return {"storage_options": self.storage_options}
        return {}

    def close(self) -> None:
        if self._own_temp:
            shutil.rmtree(self.base, ignore_errors=True)


# -- measurement ----------------------------------------------------------------------------------


def _status_kb(field_name: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _other_threads_ns() -> dict[str, int] | None:
    """CPU time (ns) of each of this process's threads but the calling one (Linux); None elsewhere."""
    me = str(threading.get_native_id())
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return None
    out = {}
    for task in tasks:
        if task == me:
            continue
        try:
            with open(f"/proc/self/task/{task}/schedstat") as f:
                out[task] = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # ended meanwhile, or no schedstat: not counted
    return out


def quiesce(step_s: float = 0.02, limit_s: float = 1.0, busy_ns: int = 1_000_000) -> float:
    """Wait until no other thread of this process ran ``busy_ns`` in one ``step_s`` (at most ``limit_s``).

    Returns the seconds waited: 0.0 where ``/proc/self/task`` cannot be read, at least one step
    otherwise (a thread whose ``schedstat`` cannot be read is not watched). A thread a library leaves
    spinning (OpenBLAS's, for ~0.1 s after a BLAS call) would share the cores with the next
    writer's timed run and slow whichever writer follows, not the one that started it.
    """
    start = time.perf_counter()
    before = _other_threads_ns()
    if before is None:
        return 0.0
    while time.perf_counter() - start < limit_s:
        time.sleep(step_s)
        now = _other_threads_ns() or {}
        if all(ns - before.get(task, 0) < busy_ns for task, ns in now.items()):
            break
        before = now
    return time.perf_counter() - start


@dataclass
class Run:
    """One repetition of one workload by one writer."""

    caller_us: float
    caller_cpu_us: float
    e2e_s: float
    events_per_s: float
    cpu_s: float
    bytes: int
    peak_mb: float | None
    p50_us: float | None = None
    p99_us: float | None = None
    verified_values: int = 0


@dataclass
class Result:
    """Every repetition of one workload, by writer; writers that could not run, with why."""

    runs: dict[str, list[Run]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def verify(storage: Storage, logdir: str, expected_values: int, tag_hint: str) -> tuple[int, int]:
    """Read every event file under ``logdir`` back; return (values, bytes). Raises on a mismatch."""
    values = 0
    size = 0
    for path, nbytes in storage.event_files(logdir):
        size += nbytes
        first = True
        for event in storage.iter_events(path):  # checks framing and both CRCs of every record
            if first:
                if not event.file_version.startswith("brain.Event"):
                    raise RuntimeError(f"{path}: first record is not a file_version event")
                first = False
            values += len(event.summary.value)
    if values != expected_values:
        raise RuntimeError(f"{logdir}: read back {values} values of {tag_hint}, expected {expected_values}")
    return values, size


def run_once(impl: str, wl: Workload, call: CallArgs, calls: int, storage: Storage) -> Run:
    """Time ``calls`` calls on a fresh writer in a fresh directory, then verify the files."""
    cls = writer_class(impl)
    logdir = storage.new_dir(f"bench-{impl}")
    try:
        writer = cls(logdir, **storage.writer_kwargs(impl))
        method = getattr(writer, wl.method)
        args = [call(i) for i in range(calls)]
        for a in args[: wl.warm_calls]:
            method(*a)
        if wl.warm_calls:
            writer.flush()
            time.sleep(wl.warm_pause_s)
        timed_single = not wl.light and not wl.burst
        lat: list[int] = []
        gc.collect()
        quiesce()
        have_peak = _reset_peak_rss()
        rss0 = _status_kb("VmRSS")
        t0 = time.perf_counter()
        p0 = time.process_time()
        c0 = time.thread_time()
        if timed_single:
            clock = time.perf_counter_ns
            for a in args:
                s = clock()
                method(*a)
                lat.append(clock() - s)
        else:
            for a in args:
                method(*a)
        t1 = time.perf_counter()
        c1 = time.thread_time()
        writer.close()
        t2 = time.perf_counter()
        p2 = time.process_time()
        hwm = _status_kb("VmHWM")
        peak = (hwm - rss0) / 1024 if have_peak and hwm is not None and rss0 is not None else None
        values, size = verify(storage, logdir, (calls + min(wl.warm_calls, calls)) * wl.values_per_call, wl.name)
        run = Run(
            caller_us=(t1 - t0) / calls * 1e6,
            caller_cpu_us=(c1 - c0) / calls * 1e6,
            e2e_s=t2 - t0,
            events_per_s=calls * wl.values_per_call / (t2 - t0),
            cpu_s=p2 - p0,
            bytes=size,
            peak_mb=peak,
            verified_values=values,
        )
        if lat:
            arr = np.array(lat) / 1e3
            run.p50_us, run.p99_us = float(np.percentile(arr, 50)), float(np.percentile(arr, 99))
        return run
    finally:
        storage.remove(logdir)


def latency_pass(impl: str, wl: Workload, call: CallArgs, calls: int, storage: Storage) -> tuple[float, float]:
    """p50/p99 of single calls (µs), timer overhead subtracted."""
    cls = writer_class(impl)
    logdir = storage.new_dir(f"bench-lat-{impl}")
    clock = time.perf_counter_ns
    try:
        writer = cls(logdir, **storage.writer_kwargs(impl))
        method = getattr(writer, wl.method)
        args = [call(i) for i in range(calls)]
        empty = []
        for _ in range(2000):
            s = clock()
            empty.append(clock() - s)
        overhead = float(np.median(empty))
        lat = []
        for a in args:
            s = clock()
            method(*a)
            lat.append(clock() - s)
        writer.close()
        arr = (np.array(lat) - overhead) / 1e3
        return float(np.percentile(arr, 50)), float(np.percentile(arr, 99))
    finally:
        storage.remove(logdir)


def available(impl: str, wl: Workload) -> str | None:
    """Why ``impl`` cannot run ``wl`` (None if it can)."""
    try:
        cls = writer_class(impl)
    except ImportError as exc:
        return f"not installed ({exc})"
    if not hasattr(cls, wl.method):
        return f"{impl} has no {wl.method}"
    if wl.needs_torch_input:
        try:
            import torch  # noqa: F401
        except ImportError:
            return "torch not installed (input tensors)"
    return None


def can_write_to(impl: str, storage: Storage) -> str | None:
    """Why ``impl`` cannot write to ``storage`` (None if a small write and read-back work)."""
    if not storage.is_url:
        return None
    logdir = storage.new_dir(f"bench-probe-{impl}")
    # A writer without fsspec support may take the URL for a relative local path
    # ("memory:/bench/..."): it probes from a scratch folder, so nothing lands in the user's one.
    scratch = tempfile.mkdtemp(prefix="anyboard-bench-probe-")
    here = os.getcwd()
    os.chdir(scratch)
    try:
        writer = writer_class(impl)(logdir, **storage.writer_kwargs(impl))
        writer.add_scalar("probe", 1.0, 0)
        writer.close()
        verify(storage, logdir, 1, "probe")
    except Exception as exc:  # noqa: BLE001 - any failure means: skip this writer here
        return f"cannot write to {storage.base} ({type(exc).__name__}: {str(exc)[:120]})"
    finally:
        os.chdir(here)
        shutil.rmtree(scratch, ignore_errors=True)
        storage.remove(logdir)
    return None


def bench_workload(
    wl: Workload,
    impls: tuple[str, ...],
    reps: int | None,
    log: Log,
    storage: Storage,
    *,
    latency: bool = True,
    unavailable: dict[str, str] | None = None,
) -> Result:
    """Every repetition of ``wl`` by every writer in ``impls`` that can run it, interleaved.

    Before the repetitions each writer runs the workload once, shortened and untimed
    (imports, caches, first-call costs), except for bursts. ``latency``: for light
    workloads, a separate pass of single timed calls gives p50/p99.
    """
    result = Result()
    ready = []
    for impl in impls:
        why = (unavailable or {}).get(impl) or available(impl, wl)
        if why:
            result.skipped[impl] = why
        else:
            ready.append(impl)
            result.runs[impl] = []
    if not ready:
        return result
    call = wl.make_args()
    if not wl.burst:
        for impl in ready:  # warm-up: imports, caches, first-call costs
            run_once(impl, wl, call, max(1, min(wl.calls // 10, 1000)), storage)
    for rep in range(reps or wl.reps):
        order = ready[rep % len(ready) :] + ready[: rep % len(ready)]  # rotate who goes first
        for impl in order:
            run = run_once(impl, wl, call, wl.calls, storage)
            if wl.light and latency:
                run.p50_us, run.p99_us = latency_pass(impl, wl, call, min(wl.calls, 20_000), storage)
            result.runs[impl].append(run)
            log(
                f"  {wl.name:22s} rep {rep} {impl:12s} caller {run.caller_us:10.3f} µs  "
                f"e2e {run.e2e_s:8.3f} s  {run.events_per_s:12,.0f} ev/s  peak {run.peak_mb or 0:7.1f} MB"
            )
    return result


def import_times(reps: int, log: Log, impls: tuple[str, ...] = IMPLS) -> dict[str, list[float]]:
    """Seconds to import each writer in a fresh interpreter, interleaved."""
    stmts = {
        "anyboard": "from anyboard import SummaryWriter",
        "tensorboardX": "from tensorboardX import SummaryWriter",
        "torch": "from torch.utils.tensorboard import SummaryWriter",
    }
    stmts = {k: v for k, v in stmts.items() if k in impls}
    out: dict[str, list[float]] = {k: [] for k in stmts}
    # Every package is timed with its bytecode cache in place, as after its first import on a
    # user's machine: pip wrote the peers' .pyc at install, but an editable anyboard under
    # PYTHONDONTWRITEBYTECODE=1 was compiled from source on every import.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for stmt in stmts.values():
        subprocess.run([sys.executable, "-c", stmt], capture_output=True, env=env, timeout=300, check=False)
    for rep in range(reps):
        for impl, stmt in stmts.items():
            code = f"import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"
            proc = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300, check=False
            )
            if proc.returncode != 0:
                log(f"  import {impl} failed: {proc.stderr.strip().splitlines()[-1:] or proc.returncode}")
                continue
            out[impl].append(float(proc.stdout.strip().splitlines()[-1]))
        log(f"  import rep {rep}: " + ", ".join(f"{k} {v[-1]:.3f}s" for k, v in out.items() if v))
    return out


def machine(repo_dir: str | None = None) -> dict[str, Any]:
    """The machine, the packages' versions, and (given a checkout) anyboard's commit."""
    info: dict[str, Any] = {"python": sys.version.split()[0], "platform": platform.platform(), "nproc": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
    except OSError:
        pass
    info["loadavg_start"] = loadavg()
    versions = {}
    for mod in ("numpy", "google.protobuf", "torch", "tensorboard", "tensorboardX", "PIL", "crc32c", "anyboard"):
        try:
            m = __import__(mod, fromlist=["__version__"])
            versions[mod] = getattr(m, "__version__", "?")
        except ImportError:
            versions[mod] = "not installed"
    info["versions"] = versions
    if repo_dir is not None:
        try:
            head = subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"],
                check=False,
                cwd=repo_dir,
                capture_output=True,
                text=True,
                timeout=10,
            )
            dirty = subprocess.run(
                ["git", "status", "--porcelain", "--", "src"],
                check=False,
                cwd=repo_dir,
                capture_output=True,
                text=True,
                timeout=10,
            )
            if head.returncode == 0:
                info["anyboard_commit"] = head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
        except (OSError, subprocess.SubprocessError):
            pass
    return info


def loadavg() -> list[str] | None:
    try:
        with open("/proc/loadavg") as f:
            return f.read().split()[:3]
    except OSError:
        return None
