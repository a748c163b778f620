"""Memory over a long run: N scalars through one writer, RSS sampled as it goes.

Not a test. Logs ``--n`` scalars (default 10 million) with ``add_scalar`` to
one ``SummaryWriter(flush_secs=1)`` and prints the resident set size (VmRSS
from ``/proc/self/status``) every ``--every`` calls, then after ``close()``,
and finally reads the file back to check every value arrived. A writer that
leaks (a growing cache, an unbounded queue) shows as RSS that keeps rising.

Usage::

    python benchmarks/long_run_rss.py --n 1000000
    python benchmarks/long_run_rss.py --n 10000000 --every 1000000 --logdir /tmp/rss
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

from anyboard import SummaryWriter
from anyboard.io.reader import event_files, iter_records


def rss_mib() -> float:
    """Resident set size of this process in MiB (Linux ``/proc/self/status``)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("VmRSS not found in /proc/self/status (Linux only)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000_000, help="scalars to log (default 10 million)")
    parser.add_argument("--every", type=int, default=0, help="sample RSS every this many calls (default n/20)")
    parser.add_argument("--logdir", default="", help="log directory (default: a temporary one, removed after)")
    parser.add_argument("--tags", type=int, default=4, help="distinct tags, used round robin (default 4)")
    args = parser.parse_args()
    every = args.every or max(1, args.n // 20)
    logdir = args.logdir or tempfile.mkdtemp(prefix="anyboard_rss_")
    tags = [f"train/loss_{i}" for i in range(args.tags)]

    print(f"{'calls':>12} {'seconds':>9} {'RSS MiB':>9} {'calls/s':>12}")
    start_rss = rss_mib()
    print(f"{0:>12} {0.0:>9.2f} {start_rss:>9.1f} {'':>12}  (before the writer)")
    w = SummaryWriter(logdir, flush_secs=1)
    start = last_t = time.perf_counter()
    samples = []
    for i in range(args.n):
        w.add_scalar(tags[i % len(tags)], i * 0.5, i)
        if (i + 1) % every == 0:
            now = time.perf_counter()
            rss = rss_mib()
            samples.append(rss)
            print(f"{i + 1:>12} {now - start:>9.2f} {rss:>9.1f} {every / (now - last_t):>12,.0f}")
            last_t = now
    w.close()
    elapsed = time.perf_counter() - start
    print(f"{'closed':>12} {elapsed:>9.2f} {rss_mib():>9.1f} {args.n / elapsed:>12,.0f}  (overall)")

    records = sum(1 for path in event_files(logdir) for _ in iter_records(path))
    size = sum(os.path.getsize(p) for p in event_files(logdir))
    print(f"read back: {records - 1:,} scalar records (+1 header), {size / 2**20:.1f} MiB on disk")
    if samples:
        half = samples[len(samples) // 2 :]
        print(
            f"RSS: start {start_rss:.1f} MiB, peak {max(samples):.1f} MiB, "
            f"second half {min(half):.1f}..{max(half):.1f} MiB"
        )
    if records - 1 != args.n:
        raise SystemExit(f"expected {args.n} scalars on disk, found {records - 1}")
    if not args.logdir:
        shutil.rmtree(logdir)


if __name__ == "__main__":
    main()
