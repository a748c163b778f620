"""``anyboard ls``, ``anyboard dump`` and ``anyboard export``: TensorBoard logs from the shell.

- ``anyboard ls PATH``: each run, and per run each tag with its kind, count and step range
  (what TensorBoard would show: restarts applied).
- ``anyboard dump FILE_OR_DIR [--tag TAG]``: every event as protobuf text, one block per
  event, in TensorBoard's read order (long byte strings shortened).
- ``anyboard export PATH -o OUT [--kind scalars|histograms|text|hparams]``: a table as CSV,
  Parquet or JSON Lines, chosen by OUT's extension (``.csv``, ``.parquet``/``.pq``,
  ``.jsonl``/``.ndjson``); ``-o -`` writes CSV to standard output. JSON Lines is strict
  JSON: a NaN or infinite value is ``null`` there (as pandas' ``to_json`` writes it);
  CSV and Parquet keep it. Parquet columns have fixed types per kind, so an empty export
  has the schema of a full one.

A mistake the user can fix (a missing path, a file that is not an event file, an unknown
format, a missing optional package, a storage error such as an unknown URL protocol or
missing credentials) is one line on stderr and exit status 2. A ``--run`` or ``--tag`` that
matches nothing is a warning on stderr. A read that takes more than about a second shows
its progress on stderr.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from anyboard.cli import UsageError

KINDS = ("scalars", "histograms", "text", "hparams")
FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_SHORT_BYTES = 64


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``ls``, ``dump`` and ``export`` to the ``anyboard`` parser."""
    p = subparsers.add_parser("ls", help="list runs, and per run each tag with its kind, count and steps")
    p.add_argument("path", metavar="PATH", help="log directory or event file (local path or fsspec URL)")
    p.add_argument("--strict", action="store_true", help="fail on a damaged file instead of warning")
    p.set_defaults(func=_ls)

    p = subparsers.add_parser("dump", help="print every event of an event file or log directory")
    p.add_argument("path", metavar="FILE_OR_DIR")
    p.add_argument("--tag", action="append", help="only summary values of this tag (repeatable)")
    p.add_argument("--run", action="append", help="only this run (repeatable; '.' is the root)")
    p.set_defaults(func=_dump)

    p = subparsers.add_parser("export", help="write scalars, histograms, text or hparams to CSV/Parquet/JSON Lines")
    p.add_argument("path", metavar="PATH")
    p.add_argument(
        "-o", "--output", required=True, metavar="OUT", help="file (.csv .parquet .jsonl) or - for CSV on stdout"
    )
    p.add_argument("--kind", choices=KINDS, default="scalars")
    p.add_argument("--tag", action="append", help="only this tag (repeatable)")
    p.add_argument("--run", action="append", help="only this run (repeatable)")
    p.add_argument("--strict", action="store_true", help="fail on a damaged file instead of warning")
    p.set_defaults(func=_export)


# -- shared ------------------------------------------------------------------------------------


class _Progress:
    """``progress(done, total)`` for the readers: silent for the first second, then a line on stderr."""

    def __init__(self, stream: TextIO | None = None, delay: float = 1.0) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.monotonic()
        self.delay = delay
        self.last = 0.0
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.start < self.delay or now - self.last < 0.25:
            return
        self.last = now
        pct = 100.0 * done / total if total else 100.0
        end = "\r" if self.stream.isatty() else "\n"
        self.stream.write(f"reading: {pct:5.1f}% ({done / 1e6:.1f} of {total / 1e6:.1f} MB){end}")
        self.stream.flush()
        self.shown = True

    def finish(self) -> None:
        if self.shown and self.stream.isatty():
            self.stream.write("\n")
            self.stream.flush()


def _is_url(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def _one_line(exc: BaseException) -> str:
    """``Type: first line of the message`` (at most 300 characters)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300] if text else ''}".rstrip(": ")


@contextmanager
def _user_errors(path: str) -> Iterator[None]:
    """Turn what a user can fix into :class:`UsageError`; show read warnings as one line each.

    Caught: a missing path, a missing optional package, an ``OSError`` reading a local path
    (permission denied), and for a URL any error of the storage backend (an unknown protocol,
    missing credentials, an unreachable host): each named with the path.
    """
    from anyboard.io.reader import RecordError

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        except FileNotFoundError:
            raise UsageError(f"no log directory or event file at {path!r}") from None
        except ImportError as exc:
            raise UsageError(str(exc)) from None
        except (UsageError, RecordError):
            raise
        except Exception as exc:
            if not (_is_url(path) or isinstance(exc, OSError)):
                raise  # a bug, not the user's storage: keep the traceback
            raise UsageError(f"cannot read {path!r}: {_one_line(exc)}") from None
        finally:
            for w in caught:
                print(f"warning: {w.message}", file=sys.stderr)


def _check_event_file(runs: list[Any], path: str) -> None:
    """Fail if ``path`` is one file, not named as an event file, from which no event can be read."""
    from anyboard.io.reader import RecordError, iter_events
    from anyboard.read.runs import is_event_file

    if len(runs) != 1 or len(runs[0].files) != 1:
        return
    file = runs[0].files[0]
    if is_event_file(os.path.basename(file.path.rstrip("/"))):
        return  # a directory's run only lists files named so: this is the path given, named as an event file
    try:
        with file.open() as stream:
            next(iter_events(file.path, fileobj=stream))
    except (StopIteration, RecordError):
        raise UsageError(f"{path!r} is not an event file (no TFRecord event could be read from it)") from None


def _warn_unmatched(option: str, wanted: list[str] | None, seen: set[str], what: str) -> None:
    """One line on stderr for each ``--run``/``--tag`` value that matched nothing."""
    for name in dict.fromkeys(wanted or []):
        if name not in seen:
            print(f"warning: {option} {name!r} matched no {what}", file=sys.stderr)


def _strict_error(exc: Exception, command: str) -> int:
    print(f"anyboard {command}: {exc}", file=sys.stderr)
    return 1


# -- ls ----------------------------------------------------------------------------------------


def tag_summary(
    path: str, *, strict: bool = False, progress: Callable[[int, int], None] | None = None
) -> list[dict[str, Any]]:
    """Per run: ``{"run", "files", "bytes", "tags": [{"tag", "kind", "count", "first_step", "last_step"}]}``.

    Counts are of the values TensorBoard keeps (restarts applied); ``kind`` is the tag's
    plugin (``scalars``, ``histograms``, ``images``, ...; ``tensor`` when none is named).
    """
    import numpy as np

    from anyboard.read import _Reader
    from anyboard.read.events import purge_mask, scan_run

    reader = _Reader(path, None, None, strict, None, progress, True)
    out = []
    for run in reader.runs:
        scan = scan_run(run, keep=lambda field, tag: False, strict=strict, progress=reader._tick)
        for d in scan.damages:
            warnings.warn(f"{d.path}: corrupt record at byte offset {d.offset} ({d.reason})", stacklevel=2)
        e_pos = np.concatenate(scan.events_pos) if scan.events_pos else np.zeros(0, dtype=np.int64)
        e_step = np.concatenate(scan.events_step) if scan.events_step else np.zeros(0, dtype=np.int64)
        v_pos = np.concatenate(scan.value_pos) if scan.value_pos else np.zeros(0, dtype=np.int64)
        v_tag = np.concatenate(scan.value_tag) if scan.value_tag else np.zeros(0, dtype=np.int64)
        order = np.argsort(e_pos, kind="stable")
        e_pos, e_step = e_pos[order], e_step[order]
        v_step = e_step[np.searchsorted(e_pos, v_pos)] if len(v_pos) else np.zeros(0, dtype=np.int64)
        keep = purge_mask(scan, v_pos.astype(np.int64), v_step.astype(np.int64), v_tag.astype(np.int64))
        v_tag, v_step = v_tag[keep], v_step[keep]
        tags = []
        for tid, name in enumerate(scan.tags):
            mine = v_step[v_tag == tid]
            if not len(mine):
                continue
            kind = scan.kind_of(tid) or "tensor"
            tags.append(
                {
                    "tag": name,
                    "kind": kind,
                    "count": len(mine),
                    "first_step": int(mine.min()),
                    "last_step": int(mine.max()),
                }
            )
        tags.sort(key=lambda t: (t["kind"], t["tag"]))
        out.append({"run": run.name, "files": len(run.files), "bytes": sum(f.size for f in run.files), "tags": tags})
    return out


def _ls(args: argparse.Namespace) -> int:
    from anyboard.io.reader import RecordError
    from anyboard.read import find_runs

    progress = _Progress()
    with _user_errors(args.path):
        if not _is_url(args.path) and os.path.isfile(args.path):  # a URL is not listed twice for this
            _check_event_file(find_runs(args.path), args.path)
        try:
            runs = tag_summary(args.path, strict=args.strict, progress=progress)
        except RecordError as exc:
            return _strict_error(exc, args.command)
        finally:
            progress.finish()
    if not runs:
        print(f"no runs under {args.path}")
        return 0
    for run in runs:
        print(
            f"run {run['run']}  ({run['files']} event file{'s' if run['files'] != 1 else ''}, {run['bytes']:,} bytes)"
        )
        if not run["tags"]:
            print("  (no summaries)")
            continue
        width = max(len(t["tag"]) for t in run["tags"])
        kwidth = max(len(t["kind"]) for t in run["tags"])
        for t in run["tags"]:
            steps = (
                str(t["first_step"]) if t["first_step"] == t["last_step"] else f"{t['first_step']}..{t['last_step']}"
            )
            print(f"  {t['tag']:<{width}}  {t['kind']:<{kwidth}}  {t['count']:>9,}  steps {steps}")
    return 0


# -- dump --------------------------------------------------------------------------------------


def _shorten(message: Any) -> None:
    """Cut every bytes field longer than 64 bytes of ``message`` (in place, recursively)."""
    from google.protobuf.descriptor import FieldDescriptor

    for fd, value in message.ListFields():
        repeated = fd.is_repeated if hasattr(fd, "is_repeated") else fd.label == FieldDescriptor.LABEL_REPEATED
        if fd.type == FieldDescriptor.TYPE_MESSAGE:
            if repeated:
                if fd.message_type.GetOptions().map_entry:
                    continue
                for item in value:
                    _shorten(item)
            else:
                _shorten(value)
        elif fd.type == FieldDescriptor.TYPE_BYTES:
            if repeated:
                for i, item in enumerate(value):
                    if len(item) > _SHORT_BYTES:
                        value[i] = item[:_SHORT_BYTES] + f"... ({len(item):,} bytes)".encode()
            elif len(value) > _SHORT_BYTES:
                setattr(message, fd.name, value[:_SHORT_BYTES] + f"... ({len(value):,} bytes)".encode())


def _dump(args: argparse.Namespace) -> int:
    from google.protobuf import text_format

    from anyboard.io.reader import RecordError
    from anyboard.read import find_runs
    from anyboard.read.events import scan_run

    wanted = set(args.tag) if args.tag else None
    tags_seen: set[str] = set()
    out = sys.stdout
    with _user_errors(args.path):
        runs = find_runs(args.path)
        _check_event_file(runs, args.path)
        if args.run:
            runs = [r for r in runs if r.name in set(args.run)]
            _warn_unmatched("--run", args.run, {r.name for r in runs}, f"run under {args.path}")
        count = 0
        for run in runs:

            def show(path: str, pos: int, event: Any, run_name: str = run.name) -> None:
                nonlocal count
                if wanted is not None:
                    if not event.HasField("summary"):
                        return
                    values = [v for v in event.summary.value if v.tag in wanted]
                    if not values:
                        return
                    tags_seen.update(v.tag for v in values)
                    del event.summary.value[:]
                    event.summary.value.extend(values)
                _shorten(event)
                out.write(f"# run {run_name}  file {path}  event {pos}\n")
                out.write(text_format.MessageToString(event))
                out.write("\n")
                count += 1

            try:
                scan = scan_run(run, keep=lambda field, tag: False, fast_scalars=False, on_event=show)
            except RecordError as exc:
                return _strict_error(exc, args.command)
            for d in scan.damages:
                warnings.warn(f"{d.path}: corrupt record at byte offset {d.offset} ({d.reason})", stacklevel=2)
    _warn_unmatched("--tag", args.tag, tags_seen, "summary value")
    return 0


# -- export ------------------------------------------------------------------------------------


def _format_of(output: str) -> str:
    if output == "-":
        return "csv"
    ext = os.path.splitext(output)[1].lower()
    fmt = FORMATS.get(ext)
    if fmt is None:
        known = ", ".join(sorted(FORMATS))
        raise UsageError(
            f"cannot tell the format of {output!r} from its extension; use one of {known} (or -o - for CSV)"
        )
    return fmt


def _plain(value: Any) -> Any:
    """A JSON-friendly value: arrays as lists, bytes as text, NumPy scalars as Python numbers."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _cell(value: Any) -> Any:
    value = _plain(value)
    if isinstance(value, list):
        return json.dumps(value)
    if value is None:
        return ""
    return value


def _rows(columns: dict[str, Any]) -> Iterator[list[Any]]:
    names = list(columns)
    arrays = [columns[n] for n in names]
    n = len(arrays[0]) if arrays else 0
    step = 65536
    for start in range(0, n, step):
        chunk = [
            a[start : start + step].tolist() if a.dtype != object else list(a[start : start + step]) for a in arrays
        ]
        yield from (list(row) for row in zip(*chunk))


def _write_csv(columns: dict[str, Any], stream: TextIO) -> None:
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(list(columns))
    for row in _rows(columns):
        writer.writerow([_cell(v) for v in row])


def _json_value(value: Any) -> Any:
    """``_plain(value)`` with NaN and infinities as None: strict JSON has no such numbers."""
    value = _plain(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return value


def _write_jsonl(columns: dict[str, Any], stream: TextIO) -> None:
    names = list(columns)
    stream.writelines(
        json.dumps({k: _json_value(v) for k, v in zip(names, row)}, allow_nan=False) + "\n" for row in _rows(columns)
    )


def _pyarrow() -> Any:
    try:
        import pyarrow as pa
        import pyarrow.parquet  # the submodule, used as pa.parquet below
    except ImportError:
        raise UsageError("writing Parquet needs pyarrow: pip install 'anyboard[pandas]'") from None
    return pa


def _parquet_types(pa: Any, kind: str) -> dict[str, Any]:
    """The fixed Arrow type of each column of ``kind`` (an empty export has the types of a full one).

    hparams' columns other than ``run`` are the hparams and metrics logged: their types are the values'.
    """
    if kind == "hparams":
        return {"run": pa.string()}
    types = {"run": pa.string(), "tag": pa.string(), "step": pa.int64(), "wall_time": pa.float64()}
    if kind == "scalars":
        types["value"] = pa.float64()
    elif kind == "histograms":
        types["edges"] = types["counts"] = pa.list_(pa.float64())
    elif kind == "text":
        types["text"] = pa.string()
    return types


def _write_parquet(columns: dict[str, Any], output: str, kind: str = "scalars") -> None:
    """A Parquet table, each column of ``kind`` of a fixed type (:func:`_parquet_types`). A column
    whose values do not fit it, or an object column whose values mix types (a text logged as a str
    and as a table, an hparam a number in one run and a str in another), is written as text, as in
    the CSV."""
    pa = _pyarrow()
    types = _parquet_types(pa, kind)
    arrays = {}
    for name, values in columns.items():
        plain = [_plain(v) for v in values] if values.dtype == object else values
        try:
            arrays[name] = pa.array(plain, types.get(name))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            if values.dtype != object:
                raise
            arrays[name] = pa.array([None if v is None else str(_cell(v)) for v in plain], pa.string())
    pa.parquet.write_table(pa.table(arrays), output)


def _check_output(output: str, fmt: str) -> None:
    """Fail before reading anything if ``output`` cannot be written."""
    if output == "-":
        return
    if fmt == "parquet":
        _pyarrow()
    parent = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(parent):
        raise UsageError(f"cannot write {output!r}: no directory {parent!r}")
    if os.path.isdir(output):
        raise UsageError(f"cannot write {output!r}: it is a directory")
    if not os.access(parent, os.W_OK) or (os.path.exists(output) and not os.access(output, os.W_OK)):
        raise UsageError(f"cannot write {output!r}: permission denied")


def _export(args: argparse.Namespace) -> int:
    from anyboard import read
    from anyboard.io.reader import RecordError

    fmt = _format_of(args.output)
    _check_output(args.output, fmt)
    progress = _Progress()
    function = {
        "scalars": read.read_scalars,
        "histograms": read.read_histograms,
        "text": read.read_text,
        "hparams": read.read_hparams,
    }[args.kind]
    kwargs: dict[str, Any] = {"runs": args.run, "strict": args.strict, "output": "numpy", "progress": progress}
    if args.kind != "hparams":
        kwargs["tags"] = args.tag
    elif args.tag:
        raise UsageError("--tag does not apply to --kind hparams (one row per run)")
    with _user_errors(args.path):
        try:
            columns = function(args.path, **kwargs)
        except RecordError as exc:
            return _strict_error(exc, args.command)
        finally:
            progress.finish()
    _warn_unmatched("--run", args.run, {str(r) for r in columns.get("run", [])}, args.kind)
    _warn_unmatched("--tag", args.tag, {str(t) for t in columns.get("tag", [])}, args.kind)
    if args.output == "-":
        _write_csv(columns, sys.stdout)
        sys.stdout.flush()
        return 0
    try:
        if fmt == "parquet":
            _write_parquet(columns, args.output, args.kind)
        else:
            with open(args.output, "w", encoding="utf-8", newline="") as f:
                (_write_csv if fmt == "csv" else _write_jsonl)(columns, f)
    except OSError as exc:  # the checks above passed, but the write failed (disk full, /proc, a race)
        raise UsageError(f"cannot write {args.output!r}: {exc.strerror or exc}") from None
    n = len(next(iter(columns.values()))) if columns else 0
    print(f"wrote {n:,} rows to {args.output}", file=sys.stderr)
    return 0
