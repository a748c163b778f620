"""Benchmark results as ratios, a Markdown table, a terminal table, JSON and a plot."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator
from typing import Any

from anyboard.bench.harness import IMPLS, PEERS, Result, Run
from anyboard.bench.workloads import Workload

Targets = dict[str, tuple[float, float | None]]


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def median_of(runs: list[Run], attr: str) -> float:
    vals = [getattr(r, attr) for r in runs if getattr(r, attr) is not None]
    return median(vals) if vals else float("nan")


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
    return median(ratios) if ratios else None


def ratios(result: Result) -> dict[str, float | None]:
    """``caller_x`` (caller time) and ``e2e_x`` (events/s) of anyboard against the faster peer."""
    return {
        "caller_x": paired_ratio(result, "caller_us", False),
        "e2e_x": paired_ratio(result, "events_per_s", True),
    }


def writer_rows(result: Result) -> Iterator[tuple[str, list[Run], str | None]]:
    """``(writer, runs, why it was skipped or None)`` of each writer that ran or was skipped, in table order."""
    for impl in IMPLS:
        if impl in result.skipped:
            yield impl, [], result.skipped[impl]
        elif result.runs.get(impl):
            yield impl, result.runs[impl], None


def render_markdown(
    results: dict[str, Result],
    wls: dict[str, Workload],
    imports: dict[str, list[float]],
    info: dict[str, Any],
    targets: Targets | None = None,
) -> str:
    """The full Markdown table (``benchmarks/results/latest.md``)."""
    targets = targets or {}
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
        r = ratios(res)
        cx, ex = r["caller_x"], r["e2e_x"]
        target = targets.get(name)
        tgt = "" if target is None else f"{target[0]}x / {target[1] or '-'}{'x' if target[1] else ''}"
        for impl, runs, skipped in writer_rows(res):
            if skipped:
                lines.append(f"| {name} | {impl} | | skipped: {skipped} | | | | | | | | | | | |")
                continue
            ours = impl == "anyboard"
            lines.append(
                f"| {name} | {impl} | {wl.calls:,} | {median_of(runs, 'caller_us'):.3f} | "
                f"{median_of(runs, 'p50_us'):.3f} | {median_of(runs, 'p99_us'):.3f} | "
                f"{median_of(runs, 'caller_cpu_us'):.3f} | {median_of(runs, 'e2e_s'):.3f} | "
                f"{median_of(runs, 'events_per_s'):,.0f} | {median_of(runs, 'cpu_s'):.3f} | "
                f"{int(median_of(runs, 'bytes')):,} | {median_of(runs, 'peak_mb'):.1f} | "
                f"{'' if not ours or cx is None else f'**{cx:.1f}**'} | "
                f"{'' if not ours or ex is None else f'**{ex:.2f}**'} | "
                f"{tgt if ours else ''} |"
            )
    if imports and any(imports.values()):
        lines += ["", "| import (fresh interpreter) | median s | min s | x vs faster peer |", "|---|---|---|---|"]
        peer_best = min((median(imports[p]) for p in PEERS if imports.get(p)), default=float("nan"))
        for impl, vals in imports.items():
            if not vals:
                continue
            x = peer_best / median(vals) if impl == "anyboard" else float("nan")
            lines.append(
                f"| {impl} | {median(vals):.3f} | {min(vals):.3f} | {'' if impl != 'anyboard' else f'**{x:.1f}**'} |"
            )
    lines.append("")
    return "\n".join(lines)


def render_terminal(results: dict[str, Result], wls: dict[str, Workload], imports: dict[str, list[float]]) -> str:
    """A compact table for a terminal: per workload and writer, caller µs/call, events/s, ratios."""
    head = f"{'workload':24s} {'writer':13s} {'calls':>8s} {'caller µs/call':>15s} {'e2e events/s':>14s} {'caller x':>9s} {'e2e x':>7s}"
    lines = [head, "-" * len(head)]
    for name, res in results.items():
        r = ratios(res)
        for impl, runs, skipped in writer_rows(res):
            if skipped:
                lines.append(f"{name:24s} {impl:13s} skipped: {skipped}")
                continue
            cx = f"{r['caller_x']:.1f}" if impl == "anyboard" and r["caller_x"] is not None else ""
            ex = f"{r['e2e_x']:.1f}" if impl == "anyboard" and r["e2e_x"] is not None else ""
            lines.append(
                f"{name:24s} {impl:13s} {wls[name].calls:8,d} {median_of(runs, 'caller_us'):15.3f} "
                f"{median_of(runs, 'events_per_s'):14,.0f} {cx:>9s} {ex:>7s}"
            )
    if imports and any(imports.values()):
        for impl, vals in imports.items():
            if vals:
                lines.append(f"{'import':24s} {impl:13s} {'':8s} {median(vals) * 1e6:15,.0f}")
    lines.append(
        "caller x / e2e x: anyboard against the faster peer (> 1: anyboard faster), medians of paired repetitions"
    )
    return "\n".join(lines)


def _finite(data: Any) -> Any:
    """``data`` with every NaN or infinite float as None (strict JSON has no such numbers)."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_finite(v) for v in data]
    return data


def to_json(
    results: dict[str, Result],
    wls: dict[str, Workload],
    imports: dict[str, list[float]],
    info: dict[str, Any],
    **extra: Any,
) -> dict[str, Any]:
    """A JSON-able summary: one row per (workload, writer) with medians, every repetition, ratios.

    A figure that could not be measured (peak memory without ``/proc``) is None (``null``), never NaN.
    """
    rows = []
    for name, res in results.items():
        for impl, runs in res.runs.items():
            rows.append(
                {
                    "workload": name,
                    "impl": impl,
                    "method": wls[name].method,
                    "calls": wls[name].calls,
                    "values_per_call": wls[name].values_per_call,
                    "caller_us": median_of(runs, "caller_us"),
                    "caller_cpu_us": median_of(runs, "caller_cpu_us"),
                    "e2e_s": median_of(runs, "e2e_s"),
                    "events_per_s": median_of(runs, "events_per_s"),
                    "bytes": median_of(runs, "bytes"),
                    "peak_mb": median_of(runs, "peak_mb"),
                    "reps": [vars(r) for r in runs],
                }
            )
    data: dict[str, Any] = _finite(
        {
            "machine": info,
            **extra,
            "results": rows,
            "ratios": {name: ratios(res) for name, res in results.items()},
            "skipped": {name: res.skipped for name, res in results.items() if res.skipped},
            "imports": imports,
        }
    )
    return data


def plot(
    results: dict[str, Result], imports: dict[str, list[float]], path: str, targets: Targets | None = None
) -> bool:
    """Bar chart of anyboard's speed-up over the faster peer (log scale) into ``path``.

    Returns False (and draws nothing) when there is no ratio to draw. Raises ImportError
    without matplotlib.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    targets = targets or {}
    names, caller, e2e = [], [], []
    for name, res in results.items():
        r = ratios(res)
        if r["caller_x"] is None and r["e2e_x"] is None:
            continue
        names.append(name)
        caller.append(r["caller_x"] or np.nan)
        e2e.append(r["e2e_x"] or np.nan)
    if imports.get("anyboard") and any(imports.get(p) for p in PEERS):
        best = min(median(imports[p]) for p in PEERS if imports.get(p))
        names.append("import")
        caller.append(best / median(imports["anyboard"]))
        e2e.append(np.nan)
    if not names:
        return False
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(8, len(names) * 1.1), 4.5))
    ax.bar(x - 0.2, caller, 0.4, label="caller time (or import) speed-up")
    ax.bar(x + 0.2, e2e, 0.4, label="end-to-end events/s speed-up")
    for i, name in enumerate(names):
        target = targets.get(name)
        if target:
            ax.plot([i - 0.4, i], [target[0]] * 2, "k--", lw=1)
            if target[1]:
                ax.plot([i, i + 0.4], [target[1]] * 2, "k:", lw=1)
    ax.axhline(1, color="grey", lw=0.8)
    ax.set_yscale("log")
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylabel("anyboard speed-up vs faster peer (x, log)")
    ax.set_title(
        "anyboard vs best of tensorboardX / torch.utils.tensorboard" + (" (dashes: targets)" if targets else "")
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
