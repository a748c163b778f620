"""Histogram bursts with each writer alone in its own process (issue #21).

``compare_peers.py --only burst`` interleaves the writers in one process, so each anyboard burst
follows the peers' single-threaded work; here each writer runs its bursts in a fresh interpreter,
back to back or after ``--idle`` seconds of sleep (as a training step on a GPU leaves the CPUs):
a fresh writer, ``--calls`` ``add_histogram("weights", arr, i)`` on distinct float32 arrays of
``--values`` values, then ``close()``. Prints the median over the repetitions after the first
of caller wall and CPU time per call and of end-to-end time, and anyboard's ratios against the
faster peer. Usage: ``python benchmarks/burst_loop.py [--values 1e6] [--reps 8] [--idle 0.27]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

IMPLS = {
    "anyboard": "from anyboard import SummaryWriter",
    "torch": "from torch.utils.tensorboard import SummaryWriter",
    "tensorboardX": "from tensorboardX import SummaryWriter",
}

CHILD = """
import json, shutil, sys, tempfile, time
import numpy as np
{import_line}
values, calls, reps, idle = int(float(sys.argv[1])), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
rng = np.random.default_rng(0)
arrays = [rng.standard_normal(values).astype(np.float32) for _ in range(calls)]
out = []
for _ in range(reps):
    if idle:
        time.sleep(idle)
    d = tempfile.mkdtemp()
    t0 = time.perf_counter()
    w = SummaryWriter(d)
    c0 = time.thread_time()
    for i, a in enumerate(arrays):
        w.add_histogram("weights", a, i)
    t1, c1 = time.perf_counter(), time.thread_time()
    w.close()
    out.append([(t1 - t0) / calls, (c1 - c0) / calls, time.perf_counter() - t0])
    shutil.rmtree(d)
print(json.dumps(out))
"""


def run(impl: str, args: argparse.Namespace) -> list[list[float]] | None:
    code = CHILD.format(import_line=IMPLS[impl])
    argv = [sys.executable, "-c", code, str(args.values), str(args.calls), str(args.reps), str(args.idle)]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print(f"{impl}: skipped ({proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else 'failed'})")
        return None
    rows: list[list[float]] = json.loads(proc.stdout.strip().splitlines()[-1])
    return rows[1:]  # the first burst of a process warms its imports and pool


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--values", type=float, default=1e6, help="values per histogram (default 1e6)")
    parser.add_argument("--calls", type=int, default=20, help="add_histogram calls per burst (default 20)")
    parser.add_argument("--reps", type=int, default=8, help="bursts per process, the first not counted (default 8)")
    parser.add_argument("--idle", type=float, default=0.0, help="seconds of sleep before each burst (default 0)")
    args = parser.parse_args()
    medians: dict[str, tuple[float, float, float]] = {}
    for impl in IMPLS:
        rows = run(impl, args)
        if rows:
            medians[impl] = tuple(statistics.median(r[k] for r in rows) for k in range(3))  # type: ignore[assignment]
    print(f"{int(args.values):,} values x {args.calls} calls, idle {args.idle} s, median of {args.reps - 1} bursts")
    for impl, (caller, cpu, e2e) in medians.items():
        print(f"  {impl:13s} caller {caller * 1e3:7.3f} ms/call (CPU {cpu * 1e3:7.3f})  end to end {e2e * 1e3:8.1f} ms")
    peers = [m for impl, m in medians.items() if impl != "anyboard"]
    if "anyboard" in medians and peers:
        mine = medians["anyboard"]
        best = [min(p[k] for p in peers) for k in range(3)]
        print(
            f"  anyboard against the faster peer: caller {best[0] / mine[0]:.1f}x, "
            f"caller CPU {best[1] / mine[1]:.1f}x, end to end {best[2] / mine[2]:.1f}x"
        )


if __name__ == "__main__":
    main()
