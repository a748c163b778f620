"""Reading scalars back: anyboard.read_scalars against tbparse and TensorBoard's EventAccumulator.

For each size (1e5 and 1e6 scalars over 8 tags, written by anyboard's SummaryWriter), every
reader runs in a fresh child process (so imports are warm but no cache is shared, and the
peak resident memory is that reader's own), interleaved repetition by repetition:

- ``anyboard``: ``anyboard.read_scalars(path)`` -> DataFrame (run, tag, step, wall_time, value);
- ``tbparse``: ``tbparse.SummaryReader(path).scalars`` -> DataFrame (step, tag, value);
- ``EventAccumulator``: ``EventAccumulator(path, size_guidance={"scalars": 0}).Reload()`` and
  ``Scalars(tag)`` for every tag (lists of ScalarEvent; no frame).

Reported: seconds (median of the repetitions), rows (every reader must return all of them),
the ratio of each peer's time to anyboard's, and for anyboard the peak memory (in a fresh process, and
again after an untimed warm-up read of a 1e3-scalar log that loads the libraries' code): the highest resident set
sampled (every 2 ms) during the read minus the one before it, and tracemalloc's peak (a separate
run), both against the returned frame's ``memory_usage(deep=True)``.

Usage::

    python benchmarks/read_speed.py                 # 1e5 and 1e6, 3 repetitions (several minutes)
    python benchmarks/read_speed.py --sizes 1e5 --reps 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

READERS = ("anyboard", "tbparse", "EventAccumulator")
TAGS = 8


def write_log(path: str, n: int) -> int:
    from anyboard import SummaryWriter

    tags = [f"train/metric_{k}" if k % 2 else f"loss_{k}" for k in range(TAGS)]
    with SummaryWriter(path) as w:
        for step in range(n // TAGS):
            for k, tag in enumerate(tags):
                w.add_scalar(tag, step * 0.001 + k, step)
    return sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path))


def _rss_bytes() -> int:
    """The resident set now (Linux: /proc/self/statm), else the high-water mark."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


class _PeakRSS:
    """Samples the resident set every 2 ms on a thread while a read runs; ``peak`` is the highest seen."""

    def __init__(self) -> None:
        import threading

        self.peak = _rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, _rss_bytes())

    def __enter__(self) -> _PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())


def child(reader: str, path: str, trace: bool, warm: str | None) -> dict:
    """Run one read in this process; return its measurements.

    ``warm``: a small log read first (untimed), so the libraries' code and caches are
    loaded before the memory baseline (the first read of a process also pays for those).
    """
    import pandas  # noqa: F401 - every reader here builds or may build pandas objects: import it before timing

    try:  # pandas >= 3 keeps strings in Arrow: load the library before the baseline, for every reader
        import pyarrow  # noqa: F401
    except ImportError:
        pass

    if reader == "anyboard":
        import anyboard.read as target

        def run():
            return target.read_scalars(path)

    elif reader == "tbparse":
        import tbparse

        def run():
            return tbparse.SummaryReader(path).scalars

    else:
        from tensorboard.backend.event_processing import event_accumulator as ea

        def run():
            acc = ea.EventAccumulator(path, size_guidance={ea.SCALARS: 0})
            acc.Reload()
            return {t: acc.Scalars(t) for t in acc.Tags()[ea.SCALARS]}

    import gc

    if warm:
        if reader == "anyboard":
            target.read_scalars(warm)
        elif reader == "tbparse":
            _ = tbparse.SummaryReader(warm).scalars
        else:
            ea.EventAccumulator(warm, size_guidance={ea.SCALARS: 0}).Reload()
    gc.collect()
    base = _rss_bytes()
    if trace:
        import tracemalloc

        tracemalloc.start()
    with _PeakRSS() as sampler:
        start = time.perf_counter()
        result = run()
        seconds = time.perf_counter() - start
    out = {"reader": reader, "seconds": seconds, "rss_growth": sampler.peak - base}
    if trace:
        out["traced_peak"] = tracemalloc.get_traced_memory()[1]
    if isinstance(result, dict):
        out["rows"] = sum(len(v) for v in result.values())
    else:
        out["rows"] = len(result)
        out["frame_bytes"] = int(result.memory_usage(deep=True).sum())
    return out


def measure(reader: str, path: str, trace: bool = False, warm: str | None = None) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", reader, path] + (["--trace"] if trace else [])
    cmd += ["--warm", warm] if warm else []
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit(f"{reader} failed on {path}:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1e5,1e6")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--peer-reps", type=int, default=1, help="repetitions of the (slow) peers at 1e6")
    parser.add_argument("--child", nargs=2, metavar=("READER", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--warm", help=argparse.SUPPRESS)
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], args.trace, args.warm)))
        return

    import numpy
    import pandas
    import tbparse
    import tensorboard

    print(
        f"Python {platform.python_version()}, NumPy {numpy.__version__}, pandas {pandas.__version__}, "
        f"tensorboard {tensorboard.__version__}, tbparse {getattr(tbparse, '__version__', '?')}, "
        f"{os.cpu_count()} CPUs, {platform.platform()}"
    )
    results = []
    tmp = tempfile.mkdtemp(prefix="anyboard-read-")
    warm = os.path.join(tmp, "warm")
    write_log(warm, 1000)
    try:
        for size in [int(float(s)) for s in args.sizes.split(",")]:
            path = os.path.join(tmp, f"n{size}")
            nbytes = write_log(path, size)
            times: dict[str, list[float]] = {r: [] for r in READERS}
            rows: dict[str, int] = {}
            rss: list[int] = []
            frame = 0
            for rep in range(args.reps):
                for reader in READERS:
                    if reader != "anyboard" and size >= 10**6 and rep >= args.peer_reps:
                        continue
                    m = measure(reader, path)
                    times[reader].append(m["seconds"])
                    rows[reader] = m["rows"]
                    if reader == "anyboard":
                        rss.append(m["rss_growth"])
                        frame = m["frame_bytes"]
            traced = measure("anyboard", path, trace=True)["traced_peak"]
            warm_rss = measure("anyboard", path, warm=warm)["rss_growth"]
            med = {r: statistics.median(v) for r, v in times.items()}
            entry = {
                "scalars": size,
                "file_bytes": nbytes,
                "rows": rows,
                "seconds": med,
                "us_per_scalar": {r: med[r] / size * 1e6 for r in READERS},
                "speedup_vs": {r: med[r] / med["anyboard"] for r in READERS if r != "anyboard"},
                "anyboard_frame_bytes": frame,
                "anyboard_rss_growth": statistics.median(rss),
                "anyboard_traced_peak": traced,
                "anyboard_rss_growth_warm": warm_rss,
            }
            results.append(entry)
            print(f"\n{size:.0e} scalars over {TAGS} tags ({nbytes / 1e6:.1f} MB of event files)")
            print(f"  {'reader':<18}{'seconds':>9}{'us/scalar':>11}{'rows':>10}{'anyboard is':>14}")
            for r in READERS:
                faster = "" if r == "anyboard" else f"{entry['speedup_vs'][r]:.1f}x faster"
                print(f"  {r:<18}{med[r]:>9.3f}{entry['us_per_scalar'][r]:>11.2f}{rows[r]:>10}{faster:>14}")
            print(
                f"  anyboard memory: frame {frame / 1e6:.1f} MB; peak RSS growth {entry['anyboard_rss_growth'] / 1e6:.1f} MB "
                f"({entry['anyboard_rss_growth'] / frame:.2f}x the frame; {warm_rss / 1e6:.1f} MB = "
                f"{warm_rss / frame:.2f}x after a warm-up read of 1e3 scalars); tracemalloc peak {traced / 1e6:.1f} MB "
                f"({traced / frame:.2f}x)"
            )
            if len(set(rows.values())) != 1 or rows["anyboard"] != size:
                raise SystemExit(f"row counts differ: {rows}")
            shutil.rmtree(path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
