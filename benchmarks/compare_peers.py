"""Write throughput of anyboard against tensorboardX and torch.utils.tensorboard.

One process runs every writer side by side, interleaved (A B C A B C ...), so
machine drift hits all of them alike; the ratio columns are medians of the
per-repetition ratios against the best peer of that repetition. The workloads,
the harness and the tables live in :mod:`anyboard.bench` (shared with
``anyboard bench``); this script adds anyboard's own ratio targets and writes
``benchmarks/results/``.

Measured for each workload and writer (default constructor arguments): caller
µs/call (p50/p99 of single calls), caller CPU µs/call, end-to-end events/s (first
call until ``close()`` returned), process CPU, bytes, peak memory; every file is
read back (framing, both CRCs, number of values). See
:mod:`anyboard.bench.harness`.

Usage::

    python benchmarks/compare_peers.py            # full run (~20+ minutes)
    python benchmarks/compare_peers.py --quick    # smaller N, 1 repetition
    python benchmarks/compare_peers.py --only scalar_1e5,hist_1e6_np --reps 5
    python benchmarks/compare_peers.py --only burst   # every burst_* workload (issue #21)

Results go to ``benchmarks/results/`` (``latest.md``, ``latest.json`` and
``latest.png``) unless ``--out`` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from anyboard.bench import harness, report
from anyboard.bench.harness import IMPLS, Result
from anyboard.bench.workloads import workloads

HERE = os.path.dirname(os.path.abspath(__file__))

TARGETS = {  # workload -> (caller x, e2e x) targets against the faster peer
    "scalar_1e5": (100, None),
    "scalar_1e6": (100, 25),
    "scalars_4keys": (20, None),
    "hist_1e6_np": (20, 10),
    "hist_1e6_np_warm": (20, 10),
    "hist_1e6_torch": (20, 10),
    "burst_1e6_np_same": (20, 10),
    "burst_1e6_np_fresh": (20, 10),
    "burst_1e6_torch_same": (20, 10),
    "burst_1e6_torch_fresh": (20, 10),
    "image_u8": (50, 1),
    "image_f32": (50, 1),
    "text": (20, None),
    "import": (5, None),
}


def _selected(names: list[str], only: set[str]) -> list[str]:
    """``only`` holds names, or prefixes such as ``burst`` / ``hist`` (every workload starting with it)."""
    if not only:
        return names
    return [n for n in names if n in only or any(n.startswith(p + "_") for p in only)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="N/10 calls, one repetition")
    parser.add_argument("--reps", type=int, default=None, help="repetitions (default per workload)")
    parser.add_argument("--only", default="", help="comma-separated workload names or prefixes (also: import)")
    parser.add_argument("--impls", default=",".join(IMPLS), help="writers to run")
    parser.add_argument(
        "--import-reps", type=int, default=None, help="fresh interpreters per package (default 5, quick 2)"
    )
    parser.add_argument("--out", default=os.path.join(HERE, "results"), help="directory for latest.md/json/png")
    args = parser.parse_args(argv)

    impls = tuple(i for i in args.impls.split(",") if i)
    only = {x for x in args.only.split(",") if x}
    every = {w.name: w for w in workloads(args.quick)}
    wls = {name: every[name] for name in _selected(list(every), only)}
    info = harness.machine(HERE)

    def log(msg: str) -> None:
        print(msg, flush=True)

    log(f"machine: {info}")
    storage = harness.Storage()
    results: dict[str, Result] = {}
    try:
        for wl in wls.values():
            log(f"{wl.name}: {wl.calls:,} calls of {wl.method}")
            results[wl.name] = harness.bench_workload(wl, impls, args.reps, log, storage)
    finally:
        storage.close()
    imports: dict[str, list[float]] = {}
    if not only or "import" in only:
        log("import times")
        imports = harness.import_times(args.import_reps or (2 if args.quick else 5), log, impls)
    info["loadavg_end"] = harness.loadavg()
    text = report.render_markdown(results, wls, imports, info, TARGETS)
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
    try:
        report.plot(results, imports, os.path.join(args.out, "latest.png"), TARGETS)
    except ImportError:
        log("matplotlib not installed: no latest.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
