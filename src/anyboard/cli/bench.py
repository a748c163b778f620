"""``anyboard bench``: write throughput of anyboard and the installed peers on this machine and storage.

Every writer that is installed (anyboard, tensorboardX, torch.utils.tensorboard) runs each
workload side by side, interleaved, a fresh writer per repetition, every file read back and
CRC-checked (:mod:`anyboard.bench`). Prints caller time per call, end-to-end events/s and
anyboard's ratio against the faster peer; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from anyboard.cli import UsageError

DEFAULT_WORKLOADS = ("scalar_1e5", "scalars_4keys", "hist_1e4_np", "hist_1e6_np", "image_u8_np", "image_f32_np", "text")


def register(subparsers: Any) -> None:
    """Add the ``bench`` sub-command."""
    p = subparsers.add_parser(
        "bench",
        help="time write throughput of anyboard and the installed peers here",
        description=(__doc__ or "").split("\n\n")[0],
        epilog="Workloads: " + ", ".join(DEFAULT_WORKLOADS) + " by default; --list shows all.",
    )
    p.add_argument(
        "--logdir",
        default=None,
        help="where to write: a local folder or an fsspec URL (s3://bucket/prefix); default: a temporary "
        "folder, removed afterwards. Each run writes and removes its own sub-folder.",
    )
    p.add_argument(
        "--storage-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="fsspec option for a URL --logdir (VALUE parsed as JSON if it can be), repeatable",
    )
    p.add_argument(
        "--workloads",
        default=None,
        help="comma-separated workload names or prefixes (hist, burst, image, ...), or 'all'; 'import' adds import times",
    )
    p.add_argument("--list", action="store_true", help="list the workloads and exit")
    p.add_argument("--quick", action="store_true", help="a run under a minute: a tenth of the calls, one repetition")
    p.add_argument("--reps", type=int, default=None, help="repetitions per workload (default: 3, --quick 1)")
    p.add_argument(
        "--impls", default="anyboard,tensorboardX,torch", help="writers to compare (default: every installed one)"
    )
    p.add_argument("--json", metavar="FILE", default=None, help="write the results (impl, workload, figures) as JSON")
    p.add_argument("--plot", metavar="FILE.png", default=None, help="draw the speed-ups (needs matplotlib)")
    # Hidden: shrink call counts and array sizes (the test suite runs the command in seconds).
    p.add_argument("--scale", type=float, default=1.0, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def _select(names: list[str], spec: str | None) -> list[str]:
    if spec is None:
        return [n for n in DEFAULT_WORKLOADS if n in names]
    wanted = [s.strip() for s in spec.split(",") if s.strip()]
    if not wanted:
        raise UsageError("--workloads is empty")
    if "all" in wanted:
        return names
    chosen: list[str] = []
    for item in wanted:
        if item == "import":
            continue
        matches = [n for n in names if n == item or n.startswith(item + "_")]
        if not matches:
            raise UsageError(f"unknown workload {item!r}; see `anyboard bench --list`")
        chosen.extend(m for m in matches if m not in chosen)
    return chosen


def _storage_options(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--storage-option expects KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def _check_output(path: str | None, option: str) -> None:
    """Fail before any timing if ``path`` cannot be written: no such folder, a directory, or
    refused (tried: an existing file is opened for appending, a new one created and removed)."""
    if path is None:
        return
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UsageError(f"{option} {path}: folder {parent} does not exist")
    if os.path.isdir(path):
        raise UsageError(f"{option} {path}: it is a directory")
    try:
        if os.path.exists(path):
            with open(path, "ab"):
                pass
        else:
            with open(path, "xb"):
                pass
            os.remove(path)
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot write there ({exc.strerror or exc})") from None


def _check_plot(path: str) -> None:
    """``--plot``'s file name must end in an extension matplotlib writes (.png, .svg, .pdf, ...)."""
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        raise UsageError("--plot needs matplotlib (pip install matplotlib)") from None
    formats = sorted(FigureCanvasBase.get_supported_filetypes())
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext not in formats:
        what = f"matplotlib cannot write .{ext} files" if ext else "no file extension"
        raise UsageError(f"--plot {path}: {what}; end the name in one of " + ", ".join(f".{f}" for f in formats))


def run(args: argparse.Namespace) -> int:
    """Run the benchmark; returns the exit status."""
    from anyboard.bench import harness, report
    from anyboard.bench.workloads import workloads

    if args.reps is not None and args.reps < 1:
        raise UsageError(f"--reps must be at least 1, got {args.reps}")
    if not args.scale > 0:
        raise UsageError(f"--scale must be positive, got {args.scale}")
    every = {w.name: w for w in workloads(args.quick, args.scale)}
    if args.list:
        for w in every.values():
            print(f"{w.name:24s} {w.calls:>9,d} x {w.method}" + (f"  ({w.note})" if w.note else ""))
        return 0
    names = _select(list(every), args.workloads)
    with_imports = args.workloads is not None and "import" in [s.strip() for s in args.workloads.split(",")]
    impls = tuple(dict.fromkeys(i.strip() for i in args.impls.split(",") if i.strip()))  # each once, in order
    unknown = [i for i in impls if i not in harness.IMPLS]
    if unknown or not impls:
        raise UsageError(
            f"unknown writer {unknown[0] if unknown else ''!r}; expected some of {', '.join(harness.IMPLS)}"
        )
    if args.plot:
        _check_plot(args.plot)
    _check_output(args.json, "--json")
    _check_output(args.plot, "--plot")
    options = _storage_options(args.storage_option)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    present = []
    for impl in impls:
        try:
            harness.writer_class(impl)
        except ImportError as exc:
            log(f"note: {impl} is not installed, skipped ({exc})")
            continue
        present.append(impl)
    if "anyboard" not in present:
        raise UsageError("anyboard must be one of --impls (the ratios are anyboard's)")
    try:
        storage = harness.Storage(args.logdir, options)
    except ImportError:
        raise UsageError(f"--logdir {args.logdir}: a URL needs fsspec (pip install 'anyboard[remote]')") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"--logdir {args.logdir}: {exc}") from None
    try:
        storage.check_writable()
    except OSError as exc:
        storage.close()
        raise UsageError(f"--logdir {args.logdir}: cannot write there ({exc.strerror or exc})") from None
    info = harness.machine()
    info["logdir"] = args.logdir or "(temporary folder)"
    results: dict[str, harness.Result] = {}
    imports: dict[str, list[float]] = {}
    try:
        unavailable = {}
        for impl in present:
            why = harness.can_write_to(impl, storage)
            if why:
                if impl == "anyboard":
                    raise UsageError(f"--logdir {args.logdir}: anyboard {why}")
                log(f"note: {impl} skipped: {why}")
                unavailable[impl] = why
        log(f"anyboard bench: {len(names)} workloads, writers {', '.join(present)}, logdir {info['logdir']}")
        for k, name in enumerate(names, 1):
            wl = every[name]
            log(f"[{k}/{len(names)}] {name}: {wl.calls:,} calls of {wl.method}")
            results[name] = harness.bench_workload(
                wl, tuple(present), args.reps, log, storage, latency=not args.quick, unavailable=unavailable
            )
        if with_imports:
            log("import times")
            imports = harness.import_times(args.reps or (2 if args.quick else 5), log, tuple(present))
    finally:
        storage.close()
    info["loadavg_end"] = harness.loadavg()
    print(report.render_terminal(results, every, imports))
    if args.json:
        data = report.to_json(results, every, imports, info, quick=args.quick, scale=args.scale)
        try:
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1, allow_nan=False)  # strict JSON: a missing figure is null
        except OSError as exc:  # checked before the run, but the disk filled up or the folder went away
            raise UsageError(f"--json {args.json}: cannot write there ({exc.strerror or exc})") from None
        log(f"wrote {args.json}")
    if args.plot:
        if report.plot(results, imports, args.plot):
            log(f"wrote {os.path.abspath(args.plot)}")
        else:
            log(f"no ratio to plot (no peer ran): {args.plot} not written")
    return 0
