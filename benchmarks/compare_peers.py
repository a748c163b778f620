"""Write throughput of anyboard against tensorboardX and torch.utils.tensorboard.

One process runs every writer side by side, interleaved (A B C A B C ...), so
machine drift hits all of them alike; the ratio columns are medians of the
per-repetition ratios against the best peer of that repetition.

Measured for each workload and writer (default constructor arguments):

- caller µs/call: wall time of the logging loop / calls; p50 and p99 of
  single calls (timed one by one in a separate, shorter pass for the light
  workloads so that the timer does not inflate the mean);
- e2e events/s: from the first call until ``close()`` returned;
- CPU s: process CPU time (all threads) over the same window;
- bytes written, and peak memory (growth of the resident set's high-water
  mark over the run, Linux only);
- every file written is read back with :func:`anyboard.iter_events`
  (framing and both CRCs of every record) and the number of logged values is
  checked, so a fast but wrong writer cannot win.

Usage::

    python benchmarks/compare_peers.py            # full run (~10+ minutes)
    python benchmarks/compare_peers.py --quick    # smaller N, 1 repetition
    python benchmarks/compare_peers.py --only scalar_1e5,hist_1e6_np --reps 5

Results go to ``benchmarks/results/`` (``latest.md``, ``latest.json`` and
``latest.png``) unless ``--out`` says otherwise.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
IMPLS = ("anyboard", "tensorboardX", "torch")
PEERS = ("tensorboardX", "torch")


# -- writers --------------------------------------------------------------------------------------


def writer_class(impl: str) -> Any:
    """The SummaryWriter class of ``impl``."""
    if impl == "anyboard":
        from anyboard import SummaryWriter
    elif impl == "tensorboardX":
        from tensorboardX import SummaryWriter
    elif impl == "torch":
        from torch.utils.tensorboard import SummaryWriter
    else:
        raise ValueError(f"unknown writer {impl!r}")
    return SummaryWriter


# -- inputs ---------------------------------------------------------------------------------------


def natural_image() -> np.ndarray:
    """A deterministic 3x256x256 uint8 picture: gradients plus +-8 noise (PNG-compressible)."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:256, 0:256].astype(np.float32)
    base = np.stack([x, y, (x + y) / 2]) + rng.integers(-8, 9, (3, 256, 256))
    return np.clip(base, 0, 255).astype(np.uint8)


@dataclass
class Workload:
    """One benchmark: ``calls`` calls of ``method``, logging ``values_per_call`` values each."""

    name: str
    method: str
    calls: int
    reps: int
    make_args: Callable[[], Callable[[int], tuple[Any, ...]]]
    values_per_call: int = 1
    light: bool = False  # time single calls in a separate pass
    needs_torch_input: bool = False
    note: str = ""
    # Untimed calls first, on the same writer, then flush() and a pause (the training
    # steps between two bursts of logging): the timed calls see the writer as a
    # training loop does after its first burst (warm buffers).
    warm_calls: int = 0
    warm_pause_s: float = 0.25


def _scalar_args() -> Callable[[int], tuple[Any, ...]]:
    return lambda i: ("train/loss", float(i) * 0.001, i)


def _scalars_args() -> Callable[[int], tuple[Any, ...]]:
    return lambda i: ("losses", {"a": 0.1 * i, "b": 0.2 * i, "c": 0.3 * i, "d": 0.4 * i}, i)


def _hist_args(n: int, torch_input: bool) -> Callable[[], Callable[[int], tuple[Any, ...]]]:
    def make() -> Callable[[int], tuple[Any, ...]]:
        data = np.random.default_rng(1).standard_normal(n).astype(np.float32)
        if torch_input:
            import torch

            data = torch.from_numpy(data)
        return lambda i: ("weights", data, i)

    return make


def _image_args(as_float: bool) -> Callable[[], Callable[[int], tuple[Any, ...]]]:
    def make() -> Callable[[int], tuple[Any, ...]]:
        import torch

        img = natural_image()
        data = torch.from_numpy(img.astype(np.float32) / 255.0) if as_float else torch.from_numpy(img)
        return lambda i: ("picture", data, i)

    return make


def _text_args() -> Callable[[int], tuple[Any, ...]]:
    text = "Epoch summary: **loss** went down, accuracy went up; see the plots."
    return lambda i: ("notes", text, i)


def workloads(quick: bool) -> list[Workload]:
    """Every workload; ``quick`` divides the call counts and uses one repetition."""
    q = 10 if quick else 1
    r = 1 if quick else None
    return [
        Workload("scalar_1e5", "add_scalar", 100_000 // q, r or 3, _scalar_args, light=True),
        Workload("scalar_1e6", "add_scalar", 1_000_000 // q, r or 2, _scalar_args, light=True),
        Workload("scalars_4keys", "add_scalars", 25_000 // q, r or 3, _scalars_args, 4, light=True),
        Workload("hist_1e4_np", "add_histogram", 2_000 // q, r or 3, _hist_args(10_000, False)),
        Workload("hist_1e4_torch", "add_histogram", 2_000 // q, r or 3, _hist_args(10_000, True), needs_torch_input=True),
        Workload("hist_1e6_np", "add_histogram", max(20 // q, 5), r or 3, _hist_args(1_000_000, False)),
        Workload(
            "hist_1e6_np_warm", "add_histogram", max(20 // q, 5), r or 3, _hist_args(1_000_000, False),
            warm_calls=max(20 // q, 5), note="20 untimed calls, a flush and a 0.25 s pause first (steady state)",
        ),
        Workload("hist_1e6_torch", "add_histogram", max(20 // q, 5), r or 3, _hist_args(1_000_000, True), needs_torch_input=True),
        Workload("image_u8", "add_image", max(100 // q, 10), r or 3, _image_args(False), needs_torch_input=True),
        Workload("image_f32", "add_image", max(100 // q, 10), r or 3, _image_args(True), needs_torch_input=True),
        Workload("text", "add_text", 10_000 // q, r or 3, _text_args, light=True),
    ]


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
    runs: dict[str, list[Run]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def verify(logdir: str, expected_values: int, tag_hint: str) -> tuple[int, int]:
    """Read every event file under ``logdir`` back; return (values, bytes). Raises on a mismatch."""
    from anyboard import iter_events

    values = 0
    size = 0
    files = 0
    for root, _, names in os.walk(logdir):
        for name in names:
            if "tfevents" not in name:
                continue
            path = os.path.join(root, name)
            size += os.path.getsize(path)
            files += 1
            first = True
            for event in iter_events(path):  # checks framing and both CRCs of every record
                if first:
                    if not event.file_version.startswith("brain.Event"):
                        raise RuntimeError(f"{path}: first record is not a file_version event")
                    first = False
                values += len(event.summary.value)
    if values != expected_values:
        raise RuntimeError(f"{logdir}: read back {values} values of {tag_hint}, expected {expected_values}")
    return values, size


def run_once(impl: str, wl: Workload, call: Callable[[int], tuple[Any, ...]], calls: int) -> Run:
    """Time ``calls`` calls on a fresh writer in a fresh directory, then verify the files."""
    cls = writer_class(impl)
    logdir = tempfile.mkdtemp(prefix=f"bench-{impl}-")
    try:
        writer = cls(logdir)
        method = getattr(writer, wl.method)
        args = [call(i) for i in range(calls)]
        for a in args[: wl.warm_calls]:
            method(*a)
        if wl.warm_calls:
            writer.flush()
            time.sleep(wl.warm_pause_s)
        timed_single = not wl.light
        lat: list[int] = []
        gc.collect()
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
        values, size = verify(logdir, (calls + min(wl.warm_calls, calls)) * wl.values_per_call, wl.name)
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
        shutil.rmtree(logdir, ignore_errors=True)


def latency_pass(impl: str, wl: Workload, call: Callable[[int], tuple[Any, ...]], calls: int) -> tuple[float, float]:
    """p50/p99 of single calls (µs), timer overhead subtracted."""
    cls = writer_class(impl)
    logdir = tempfile.mkdtemp(prefix=f"bench-lat-{impl}-")
    clock = time.perf_counter_ns
    try:
        writer = cls(logdir)
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
        shutil.rmtree(logdir, ignore_errors=True)


def available(impl: str, wl: Workload) -> str | None:
    """Why ``impl`` cannot run ``wl`` (None if it can)."""
    try:
        cls = writer_class(impl)
    except ImportError as exc:
        return f"not installed: {exc}"
    if not hasattr(cls, wl.method):
        return f"{impl} has no {wl.method}"
    if wl.needs_torch_input:
        try:
            import torch  # noqa: F401
        except ImportError:
            return "torch not installed (input tensors)"
    return None


def bench_workload(wl: Workload, impls: tuple[str, ...], reps: int | None, log: Callable[[str], None]) -> Result:
    result = Result()
    ready = []
    for impl in impls:
        why = available(impl, wl)
        if why:
            result.skipped[impl] = why
        else:
            ready.append(impl)
            result.runs[impl] = []
    if not ready:
        return result
    call = wl.make_args()
    for impl in ready:  # warm-up: imports, caches, first-call costs
        run_once(impl, wl, call, max(1, min(wl.calls // 10, 1000)))
    for rep in range(reps or wl.reps):
        order = ready[rep % len(ready) :] + ready[: rep % len(ready)]  # rotate who goes first
        for impl in order:
            run = run_once(impl, wl, call, wl.calls)
            if wl.light:
                run.p50_us, run.p99_us = latency_pass(impl, wl, call, min(wl.calls, 20_000))
            result.runs[impl].append(run)
            log(
                f"  {wl.name:15s} rep {rep} {impl:12s} caller {run.caller_us:10.3f} µs  "
                f"e2e {run.e2e_s:8.3f} s  {run.events_per_s:12,.0f} ev/s  peak {run.peak_mb or 0:7.1f} MB"
            )
    return result


def import_times(reps: int, log: Callable[[str], None]) -> dict[str, list[float]]:
    """Seconds to import each writer in a fresh interpreter, interleaved."""
    stmts = {
        "anyboard": "from anyboard import SummaryWriter",
        "tensorboardX": "from tensorboardX import SummaryWriter",
        "torch": "from torch.utils.tensorboard import SummaryWriter",
    }
    out: dict[str, list[float]] = {k: [] for k in stmts}
    # Every package is timed with its bytecode cache in place, as after its first import on a
    # user's machine: pip wrote the peers' .pyc at install, but an editable anyboard under
    # PYTHONDONTWRITEBYTECODE=1 (set on these machines) was compiled from source on every import.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for stmt in stmts.values():
        subprocess.run([sys.executable, "-c", stmt], capture_output=True, env=env, timeout=300)
    for rep in range(reps):
        for impl, stmt in stmts.items():
            code = f"import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
            if proc.returncode != 0:
                log(f"  import {impl} failed: {proc.stderr[-300:]}")
                continue
            out[impl].append(float(proc.stdout.strip().splitlines()[-1]))
        log(f"  import rep {rep}: " + ", ".join(f"{k} {v[-1]:.3f}s" for k, v in out.items() if v))
    return out


# -- report ---------------------------------------------------------------------------------------


def _median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def paired_ratio(result: Result, metric: str, higher_is_better: bool) -> float | None:
    """Median over repetitions of (best peer / anyboard) for this metric (>1: anyboard better)."""
    ours = result.runs.get("anyboard")
    peers = [result.runs[p] for p in PEERS if p in result.runs]
    if not ours or not peers:
        return None
    ratios = []
    for i, run in enumerate(ours):
        vals = [getattr(p[i], metric) for p in peers if i < len(p) and getattr(p[i], metric) is not None]
        mine = getattr(run, metric)
        if not vals or mine is None or mine <= 0:
            continue
        if higher_is_better:
            ratios.append(mine / max(vals))
        else:
            ratios.append(min(vals) / mine)
    return _median(ratios) if ratios else None


TARGETS = {  # workload -> (caller x, e2e x) targets against the faster peer
    "scalar_1e5": (100, None),
    "scalar_1e6": (100, 25),
    "scalars_4keys": (20, None),
    "hist_1e6_np": (20, 10),
    "hist_1e6_np_warm": (20, 10),
    "hist_1e6_torch": (20, 10),
    "image_u8": (50, 1),
    "image_f32": (50, 1),
    "text": (20, None),
}


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"python": sys.version.split()[0], "platform": platform.platform(), "nproc": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
    except OSError:
        pass
    try:
        info["loadavg_start"] = open("/proc/loadavg").read().split()[:3]
    except OSError:
        pass
    versions = {}
    for mod in ("numpy", "google.protobuf", "torch", "tensorboard", "tensorboardX", "PIL", "crc32c", "anyboard"):
        try:
            m = __import__(mod, fromlist=["__version__"])
            versions[mod] = getattr(m, "__version__", "?")
        except ImportError:
            versions[mod] = "not installed"
    info["versions"] = versions
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=HERE, capture_output=True, text=True, timeout=10)
        info["anyboard_commit"] = head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def render(results: dict[str, Result], wls: dict[str, Workload], imports: dict[str, list[float]], info: dict[str, Any]) -> str:
    lines = ["# anyboard vs tensorboardX vs torch.utils.tensorboard: write throughput", ""]
    lines.append(
        f"Machine: {info.get('cpu', '?')}, {info.get('nproc')} CPUs, {info.get('platform')}; Python {info.get('python')}; "
        + ", ".join(f"{k} {v}" for k, v in info.get("versions", {}).items())
        + f"; anyboard commit {info.get('anyboard_commit', '?')}"
        + f". Load average at start {info.get('loadavg_start')}, at end {info.get('loadavg_end')}."
    )
    lines.append("")
    lines.append(
        "Medians over repetitions; writers interleaved in one process; default constructor arguments. "
        "`caller x` / `e2e x` = best peer's caller time (events/s) over anyboard's, the median of per-repetition "
        "ratios (> 1: anyboard is faster). Every file was read back and its records CRC-checked."
    )
    lines.append("")
    lines.append(
        "| workload | writer | calls | caller µs/call | p50 µs | p99 µs | caller CPU µs | e2e s | events/s | CPU s | "
        "bytes | peak MB | caller x | e2e x | target caller x / e2e x |"
    )
    lines.append("|---" * 15 + "|")
    for name, res in results.items():
        wl = wls[name]
        cx = paired_ratio(res, "caller_us", False)
        ex = paired_ratio(res, "events_per_s", True)
        target = TARGETS.get(name)
        tgt = "" if target is None else f"{target[0]}x / {target[1] or '-'}{'x' if target[1] else ''}"
        for impl in IMPLS:
            if impl in res.skipped:
                lines.append(f"| {name} | {impl} | | skipped: {res.skipped[impl]} | | | | | | | | | | | |")
                continue
            runs = res.runs.get(impl)
            if not runs:
                continue

            def med(attr: str, runs: list[Run] = runs) -> float:
                vals = [getattr(r, attr) for r in runs if getattr(r, attr) is not None]
                return _median(vals) if vals else float("nan")

            ours = impl == "anyboard"
            lines.append(
                f"| {name} | {impl} | {wl.calls:,} | {med('caller_us'):.3f} | {med('p50_us'):.3f} | {med('p99_us'):.3f} | "
                f"{med('caller_cpu_us'):.3f} | {med('e2e_s'):.3f} | {med('events_per_s'):,.0f} | {med('cpu_s'):.3f} | "
                f"{int(med('bytes')):,} | {med('peak_mb'):.1f} | "
                f"{'' if not ours or cx is None else f'**{cx:.1f}**'} | {'' if not ours or ex is None else f'**{ex:.2f}**'} | "
                f"{tgt if ours else ''} |"
            )
    if imports and any(imports.values()):
        lines += ["", "| import (fresh interpreter) | median s | min s | x vs faster peer |", "|---|---|---|---|"]
        peer_best = min((_median(imports[p]) for p in PEERS if imports.get(p)), default=float("nan"))
        for impl, vals in imports.items():
            if not vals:
                continue
            x = peer_best / _median(vals) if impl == "anyboard" else float("nan")
            lines.append(f"| {impl} | {_median(vals):.3f} | {min(vals):.3f} | {'' if impl != 'anyboard' else f'**{x:.1f}**'} |")
    lines.append("")
    return "\n".join(lines)


def plot(results: dict[str, Result], imports: dict[str, list[float]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, caller, e2e = [], [], []
    for name, res in results.items():
        cx = paired_ratio(res, "caller_us", False)
        ex = paired_ratio(res, "events_per_s", True)
        if cx is None and ex is None:
            continue
        names.append(name)
        caller.append(cx or np.nan)
        e2e.append(ex or np.nan)
    if imports.get("anyboard") and any(imports.get(p) for p in PEERS):
        best = min(_median(imports[p]) for p in PEERS if imports.get(p))
        names.append("import")
        caller.append(best / _median(imports["anyboard"]))
        e2e.append(np.nan)
    if not names:
        return
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(8, len(names) * 1.1), 4.5))
    ax.bar(x - 0.2, caller, 0.4, label="caller time (or import) speed-up")
    ax.bar(x + 0.2, e2e, 0.4, label="end-to-end events/s speed-up")
    for i, name in enumerate(names):
        target = TARGETS.get(name) or ((5, None) if name == "import" else None)
        if target:
            ax.plot([i - 0.4, i], [target[0]] * 2, "k--", lw=1)
            if target[1]:
                ax.plot([i, i + 0.4], [target[1]] * 2, "k:", lw=1)
    ax.axhline(1, color="grey", lw=0.8)
    ax.set_yscale("log")
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylabel("anyboard speed-up vs faster peer (x, log)")
    ax.set_title("anyboard vs best of tensorboardX / torch.utils.tensorboard (dashes: targets)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="N/10 calls, one repetition")
    parser.add_argument("--reps", type=int, default=None, help="repetitions (default per workload)")
    parser.add_argument("--only", default="", help="comma-separated workload names (also: import)")
    parser.add_argument("--impls", default=",".join(IMPLS), help="writers to run")
    parser.add_argument("--import-reps", type=int, default=None, help="fresh interpreters per package (default 5, quick 2)")
    parser.add_argument("--out", default=os.path.join(HERE, "results"), help="directory for latest.md/json/png")
    args = parser.parse_args(argv)

    impls = tuple(i for i in args.impls.split(",") if i)
    only = {x for x in args.only.split(",") if x}
    wls = [w for w in workloads(args.quick) if not only or w.name in only]
    info = machine()

    def log(msg: str) -> None:
        print(msg, flush=True)

    log(f"machine: {info}")
    results: dict[str, Result] = {}
    for wl in wls:
        log(f"{wl.name}: {wl.calls:,} calls of {wl.method}")
        results[wl.name] = bench_workload(wl, impls, args.reps, log)
    imports: dict[str, list[float]] = {}
    if not only or "import" in only:
        log("import times")
        imports = import_times(args.import_reps or (2 if args.quick else 5), log)
    try:
        info["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    except OSError:
        pass
    text = render(results, {w.name: w for w in wls}, imports, info)
    print(text)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "latest.md"), "w") as f:
        f.write(text)
    raw = {
        "machine": info,
        "quick": args.quick,
        "results": {
            name: {"runs": {k: [vars(r) for r in v] for k, v in res.runs.items()}, "skipped": res.skipped}
            for name, res in results.items()
        },
        "imports": imports,
    }
    with open(os.path.join(args.out, "latest.json"), "w") as f:
        json.dump(raw, f, indent=1)
    plot(results, imports, os.path.join(args.out, "latest.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
