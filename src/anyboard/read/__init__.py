"""Read TensorBoard logs back: scalars, histograms, text, hparams, images and audio as tables.

Every reader takes a log directory (every run below it) or one event file, a local path
or an fsspec URL (``storage_options`` go to the filesystem), and returns a pandas
``DataFrame``, or with ``output="numpy"`` a ``dict`` of equal-length NumPy arrays (no
pandas needed; string columns are object arrays).

What comes back is what TensorBoard's Python loader shows (see :mod:`anyboard.read.events`
for the exact rules): runs named as TensorBoard names them (``"."`` for the log directory
itself, ``add_scalars`` sub-runs as their own runs), files in TensorBoard's order, values
dropped by restarts (``purge_step``, ``SessionLog.START``) dropped here too. Rows come in
read order: run by run (sorted by name), then as the events were written.

A damaged file (bad CRC, a record that is not an ``Event``) gives every record before the
damage and one :class:`DamagedFileWarning` naming the file and byte offset, then the next
file; with ``strict=True`` an :class:`anyboard.RecordError` is raised instead. A record cut
short at the end of a file (a crash mid-write) ends it silently.

Scalars are decoded straight from the protobuf wire format in bulk (:mod:`anyboard.read._fast`):
v1 ``simple_value`` and v2 rank-0 ``DT_FLOAT``/``DT_DOUBLE`` tensors; anything else goes
through protobuf.
"""

from __future__ import annotations

import os
import struct
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from anyboard.read._output import Labels, check_output, object_column, to_output
from anyboard.read.events import RunScan, SlowValue, iter_run_events, purge_mask, scan_run
from anyboard.read.runs import EventFile, Run, find_runs, run_files

__all__ = [
    "DamagedFileWarning",
    "EventFile",
    "Run",
    "find_runs",
    "iter_run_events",
    "read_audio",
    "read_histograms",
    "read_hparams",
    "read_images",
    "read_scalars",
    "read_text",
    "run_files",
]

PathLike = str | os.PathLike[str]
Names = str | Iterable[str] | None
Progress = Callable[[int, int], None]


class DamagedFileWarning(UserWarning):
    """An event file had a damaged record: what came before it was read, the rest skipped."""


def _names(value: Names, what: str) -> set[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return {value}
    try:
        out = set(value)
    except TypeError:
        raise TypeError(f"{what} must be a str, an iterable of str or None, got {type(value).__name__}") from None
    bad = [v for v in out if not isinstance(v, str)]
    if bad:
        raise TypeError(f"{what} must hold str names, got {bad[0]!r}")
    return out


class _Reader:
    """The loop every ``read_*`` shares: runs, one scan per run, warnings, progress."""

    def __init__(
        self,
        path: PathLike,
        runs: Names,
        tags: Names,
        strict: bool,
        storage_options: Mapping[str, Any] | None,
        progress: Progress | None,
        purge_orphaned_data: bool,
    ) -> None:
        wanted = _names(runs, "runs")
        self.tags = _names(tags, "tags")
        self.runs = [r for r in find_runs(path, storage_options) if wanted is None or r.name in wanted]
        self.strict = strict
        self.purge = purge_orphaned_data
        self.total = sum(f.size for r in self.runs for f in r.files)
        self.done = 0
        self.progress = progress

    def tag_ok(self, tag: str) -> bool:
        return self.tags is None or tag in self.tags

    def _tick(self, nbytes: int) -> None:
        self.done += nbytes
        if self.progress is not None:
            self.progress(min(self.done, self.total), self.total)

    def scan(self, run: Run, keep: Callable[[str, str], bool], fast_scalars: bool) -> RunScan:
        scan = scan_run(run, keep=keep, fast_scalars=fast_scalars, strict=self.strict, progress=self._tick)
        for d in scan.damages:
            warnings.warn(
                f"{d.path}: corrupt record at byte offset {d.offset} ({d.reason}); "
                "read the records before it and skipped the rest of the file",
                DamagedFileWarning,
                stacklevel=4,
            )
        return scan

    def keep_mask(self, scan: RunScan, pos: Any, step: Any, tag: Any) -> Any:
        return purge_mask(scan, pos, step, tag, purge_orphaned_data=self.purge)


def _tensor_array(value: Any) -> Any:
    from anyboard.summary.tensor_util import make_ndarray

    try:
        return make_ndarray(value.tensor)
    except (KeyError, ValueError, TypeError):
        return None


# -- scalars -----------------------------------------------------------------------------------


def _slow_scalar(v: SlowValue) -> float | None:
    if v.field == "simple_value":
        return float(v.value.simple_value)
    if v.field != "tensor":
        return None
    array = _tensor_array(v.value)
    if array is None or array.size != 1 or array.dtype.kind not in "biuf":
        return None
    return float(array.reshape(-1)[0])


def read_scalars(
    path: PathLike,
    *,
    tags: Names = None,
    runs: Names = None,
    strict: bool = False,
    storage_options: Mapping[str, Any] | None = None,
    output: str = "pandas",
    purge_orphaned_data: bool = True,
    progress: Progress | None = None,
) -> Any:
    """Every scalar value under ``path``: columns ``run, tag, step, wall_time, value``.

    Args:
        path: a log directory (all runs below it) or one event file; a local path or an
            fsspec URL.
        tags: only these tags (a name or names; exact match).
        runs: only these runs (names as in the ``run`` column, ``"."`` for the root).
        strict: raise :class:`anyboard.RecordError` on a damaged file instead of warning.
        storage_options: fsspec options for a URL.
        output: ``"pandas"`` (a ``DataFrame``) or ``"numpy"`` (a dict of arrays).
        purge_orphaned_data: apply TensorBoard's restart purge (its default, ``True``).
        progress: called as ``progress(bytes_read, bytes_total)`` after each block read.

    Returns:
        One row per value: ``run`` and ``tag`` (str), ``step`` (int64), ``wall_time``
        (float64, seconds since the epoch), ``value`` (float64; a float32 ``simple_value``
        widened exactly). Scalar tags are those TensorBoard's scalars dashboard shows:
        v1 ``simple_value`` and v2 tensors whose tag's first metadata names the
        ``scalars`` plugin.

    Raises:
        FileNotFoundError: nothing at ``path``.
        ImportError: ``output="pandas"`` without pandas installed (the message says what to do).
    """
    check_output(output)
    reader = _Reader(path, runs, tags, strict, storage_options, progress, purge_orphaned_data)

    def keep(field: str, tag: str) -> bool:
        return field in ("simple_value", "tensor") and reader.tag_ok(tag)

    parts: dict[str, list[Any]] = {k: [] for k in ("run", "tag", "step", "wall_time", "value")}
    tag_names: dict[str, int] = {}
    run_names = [run.name for run in reader.runs]
    for run_index, run in enumerate(reader.runs):
        scan = reader.scan(run, keep, fast_scalars=True)
        pos = scan.column("pos", np.int64)
        step = scan.column("step", np.int64)
        wall = scan.column("wall", np.float64)
        value = scan.column("value", np.float64)
        tag = scan.column("tag", np.int64)
        slow = [(v, x) for v in scan.slow if (x := _slow_scalar(v)) is not None]
        if slow:
            pos = np.concatenate([pos, np.array([v.pos for v, _ in slow], dtype=np.int64)])
            step = np.concatenate([step, np.array([v.step for v, _ in slow], dtype=np.int64)])
            wall = np.concatenate([wall, np.array([v.wall_time for v, _ in slow], dtype=np.float64)])
            value = np.concatenate([value, np.array([x for _, x in slow], dtype=np.float64)])
            tag = np.concatenate([tag, np.array([v.tag for v, _ in slow], dtype=np.int64)])
            order = np.argsort(pos, kind="stable")
            pos, step, wall, value, tag = pos[order], step[order], wall[order], value[order], tag[order]
        is_scalar = np.array(
            [scan.kind_of(i) == "scalars" and reader.tag_ok(t) for i, t in enumerate(scan.tags)], dtype=bool
        )
        keep_rows = is_scalar[tag] if len(tag) else np.zeros(0, dtype=bool)
        keep_rows &= reader.keep_mask(scan, pos, step, tag)
        del pos
        if not keep_rows.all():
            step, wall, value, tag = step[keep_rows], wall[keep_rows], value[keep_rows], tag[keep_rows]
        del keep_rows
        # this run's tag ids -> ids over all runs
        to_global = np.array([tag_names.setdefault(t, len(tag_names)) for t in scan.tags], dtype=np.int64)
        parts["run"].append(np.full(len(tag), run_index, dtype=np.int64))
        parts["tag"].append(to_global[tag] if len(to_global) else tag)
        parts["step"].append(step)
        parts["wall_time"].append(wall)
        parts["value"].append(value)
        del scan, step, wall, value, tag
    columns: dict[str, Any] = {}
    for k in ("run", "tag", "step", "wall_time", "value"):
        v = parts.pop(k)
        dtype = np.float64 if k in ("wall_time", "value") else np.int64
        columns[k] = (np.concatenate(v) if len(v) > 1 else v[0]) if v else np.zeros(0, dtype=dtype)
        del v
    columns["run"] = Labels(columns["run"], run_names)
    columns["tag"] = Labels(columns["tag"], list(tag_names))
    return to_output(columns, output, "read_scalars")


# -- the other kinds: few, large values, decoded by protobuf ----------------------------------------


def _rows_of_kind(
    reader: _Reader, kind: str, fields: tuple[str, ...], convert: Callable[[RunScan, SlowValue], list[dict[str, Any]]]
) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    n = 0
    for run in reader.runs:
        scan = reader.scan(run, lambda field, tag: field in fields and reader.tag_ok(tag), fast_scalars=True)
        values = [v for v in scan.slow if scan.kind_of(v.tag) == kind]
        mask = reader.keep_mask(
            scan,
            np.array([v.pos for v in values], dtype=np.int64),
            np.array([v.step for v in values], dtype=np.int64),
            np.array([v.tag for v in values], dtype=np.int64),
        )
        for v, kept in zip(values, mask.tolist()):
            if not kept:
                continue
            for extra in convert(scan, v):
                row = {"run": run.name, "tag": scan.tags[v.tag], "step": v.step, "wall_time": v.wall_time, **extra}
                for k, x in row.items():
                    col = out.get(k)
                    if col is None:  # a new column: None for the rows before (built once, not per row)
                        col = out[k] = [None] * n
                    col.append(x)
                n += 1
                for col in out.values():
                    if len(col) < n:
                        col.append(None)
    return out


def _columns(rows: dict[str, list[Any]], names: list[str], kinds: dict[str, Any]) -> dict[str, Any]:
    cols: dict[str, Any] = {}
    for name in names:
        values = rows.get(name, [])
        dtype = kinds.get(name, object)
        cols[name] = np.array(values, dtype=dtype) if dtype is not object else object_column(values)
    return cols


_BASE = {"step": np.int64, "wall_time": np.float64}


def _histogram(scan: RunScan, v: SlowValue) -> list[dict[str, Any]]:
    if v.field == "histo":
        h = v.value.histo
        counts = np.array(h.bucket, dtype=np.float64)
        nonzero = np.flatnonzero(counts > 0)
        if not len(nonzero):
            return [{"edges": np.zeros(0), "counts": np.zeros(0)}]
        start, end = int(nonzero[0]), int(nonzero[-1])
        limits = np.array(h.bucket_limit, dtype=np.float64)
        edges = np.concatenate([[h.min], limits[start:end], [h.max]])
        return [{"edges": edges, "counts": counts[start : end + 1]}]
    array = _tensor_array(v.value)
    if array is None or array.ndim != 2 or array.shape[1] != 3:
        return []
    array = array.astype(np.float64)
    if not len(array):
        return [{"edges": np.zeros(0), "counts": np.zeros(0)}]
    return [{"edges": np.concatenate([array[:, 0], array[-1:, 1]]), "counts": array[:, 2].copy()}]


def read_histograms(
    path: PathLike,
    *,
    tags: Names = None,
    runs: Names = None,
    strict: bool = False,
    storage_options: Mapping[str, Any] | None = None,
    output: str = "pandas",
    purge_orphaned_data: bool = True,
    progress: Progress | None = None,
) -> Any:
    """Every histogram: columns ``run, tag, step, wall_time, edges, counts``.

    ``edges`` (float64, ``k + 1``) and ``counts`` (float64, ``k``) are the buckets
    TensorBoard draws: bucket ``i`` spans ``edges[i]..edges[i + 1]`` and holds
    ``counts[i]`` values. v2 ``[k, 3]`` tensors give their rows ``(left, right, count)``
    (``edges`` = the left edges and the last right edge). v1 ``HistogramProto`` values are
    converted as TensorBoard converts them: empty buckets at both ends dropped, ``min``
    and ``max`` as the outer edges (exact float64 here, where TensorBoard rounds to float32).
    An empty histogram has ``k = 0``. Arguments as :func:`read_scalars`.
    """
    check_output(output)
    reader = _Reader(path, runs, tags, strict, storage_options, progress, purge_orphaned_data)
    rows = _rows_of_kind(reader, "histograms", ("histo", "tensor"), _histogram)
    cols = _columns(rows, ["run", "tag", "step", "wall_time", "edges", "counts"], _BASE)
    return to_output(cols, output, "read_histograms")


def _text(scan: RunScan, v: SlowValue) -> list[dict[str, Any]]:
    array = _tensor_array(v.value)
    if array is None or array.dtype != object:
        return []
    decoded = np.vectorize(lambda b: b.decode("utf-8", "replace") if isinstance(b, bytes) else str(b), otypes=[object])(
        array
    )
    return [{"text": decoded.reshape(-1)[0] if decoded.size == 1 else decoded}]


def read_text(
    path: PathLike,
    *,
    tags: Names = None,
    runs: Names = None,
    strict: bool = False,
    storage_options: Mapping[str, Any] | None = None,
    output: str = "pandas",
    purge_orphaned_data: bool = True,
    progress: Progress | None = None,
) -> Any:
    """Every text summary: columns ``run, tag, step, wall_time, text``.

    ``text`` is the logged string (UTF-8 decoded) when the tensor holds one string (as
    ``add_text`` writes; torch and tensorboardX name the tag ``<tag>/text_summary``), else
    an object array of strings with the tensor's shape. Arguments as :func:`read_scalars`.
    """
    check_output(output)
    reader = _Reader(path, runs, tags, strict, storage_options, progress, purge_orphaned_data)
    rows = _rows_of_kind(reader, "text", ("tensor",), _text)
    return to_output(_columns(rows, ["run", "tag", "step", "wall_time", "text"], _BASE), output, "read_text")


def _images(scan: RunScan, v: SlowValue) -> list[dict[str, Any]]:
    if v.field == "image":
        im = v.value.image
        return [{"sample": 0, "width": im.width, "height": im.height, "image": bytes(im.encoded_image_string)}]
    array = _tensor_array(v.value)
    if array is None or array.dtype != object or array.ndim != 1 or len(array) < 2:
        return []
    try:
        width, height = int(array[0]), int(array[1])
    except ValueError:
        return []
    return [{"sample": i, "width": width, "height": height, "image": bytes(b)} for i, b in enumerate(array[2:])]


def read_images(
    path: PathLike,
    *,
    tags: Names = None,
    runs: Names = None,
    strict: bool = False,
    storage_options: Mapping[str, Any] | None = None,
    output: str = "pandas",
    purge_orphaned_data: bool = True,
    progress: Progress | None = None,
) -> Any:
    """Every image: columns ``run, tag, step, wall_time, sample, width, height, image``.

    ``image`` holds the encoded bytes as written (PNG, JPEG, GIF...); ``sample`` numbers
    the images of one event (a v2 image tensor ``[width, height, image...]`` holds
    several; a v1 ``Summary.Image`` one). Arguments as :func:`read_scalars`.
    """
    check_output(output)
    reader = _Reader(path, runs, tags, strict, storage_options, progress, purge_orphaned_data)
    rows = _rows_of_kind(reader, "images", ("image", "tensor"), _images)
    names = ["run", "tag", "step", "wall_time", "sample", "width", "height", "image"]
    kinds = {**_BASE, "sample": np.int64, "width": np.int64, "height": np.int64}
    return to_output(_columns(rows, names, kinds), output, "read_images")


def _wav_rate(data: bytes) -> float:
    if len(data) >= 28 and data[:4] == b"RIFF" and data[8:12] == b"WAVE" and data[12:16] == b"fmt ":
        return float(struct.unpack_from("<I", data, 24)[0])
    return float("nan")


def _audio(scan: RunScan, v: SlowValue) -> list[dict[str, Any]]:
    if v.field == "audio":
        a = v.value.audio
        data = bytes(a.encoded_audio_string)
        rate = float(a.sample_rate) if a.sample_rate else _wav_rate(data)
        return [
            {
                "sample": 0,
                "content_type": a.content_type or "audio/wav",
                "sample_rate": rate,
                "audio": data,
                "label": "",
            }
        ]
    array = _tensor_array(v.value)
    if array is None or array.dtype != object or array.ndim not in (1, 2):
        return []
    clips = array if array.ndim == 1 else array[:, 0]
    labels = [b""] * len(clips) if array.ndim == 1 or array.shape[1] < 2 else list(array[:, 1])
    return [
        {
            "sample": i,
            "content_type": "audio/wav" if bytes(c)[:4] == b"RIFF" else "application/octet-stream",
            "sample_rate": _wav_rate(bytes(c)),
            "audio": bytes(c),
            "label": bytes(lab).decode("utf-8", "replace"),
        }
        for i, (c, lab) in enumerate(zip(clips, labels))
    ]


def read_audio(
    path: PathLike,
    *,
    tags: Names = None,
    runs: Names = None,
    strict: bool = False,
    storage_options: Mapping[str, Any] | None = None,
    output: str = "pandas",
    purge_orphaned_data: bool = True,
    progress: Progress | None = None,
) -> Any:
    """Every audio clip: columns ``run, tag, step, wall_time, sample, content_type, sample_rate, audio, label``.

    ``audio`` holds the encoded bytes (WAV as the writers write it); ``sample_rate``
    comes from a v1 ``Summary.Audio`` or the WAV header (NaN when neither says).
    Arguments as :func:`read_scalars`.
    """
    check_output(output)
    reader = _Reader(path, runs, tags, strict, storage_options, progress, purge_orphaned_data)
    rows = _rows_of_kind(reader, "audio", ("audio", "tensor"), _audio)
    names = ["run", "tag", "step", "wall_time", "sample", "content_type", "sample_rate", "audio", "label"]
    kinds = {**_BASE, "sample": np.int64, "sample_rate": np.float64}
    return to_output(_columns(rows, names, kinds), output, "read_audio")


# -- hparams -----------------------------------------------------------------------------------

_START_TAG = "_hparams_/session_start_info"
_EXPERIMENT_TAG = "_hparams_/experiment"


def _hparam_value(v: Any) -> Any:
    which = v.WhichOneof("kind")
    if which == "number_value":
        return v.number_value
    if which == "string_value":
        return v.string_value
    if which == "bool_value":
        return v.bool_value
    return None


def read_hparams(
    path: PathLike,
    *,
    runs: Names = None,
    strict: bool = False,
    storage_options: Mapping[str, Any] | None = None,
    output: str = "pandas",
    purge_orphaned_data: bool = True,
    progress: Progress | None = None,
) -> Any:
    """One row per hparams session (a run with ``_hparams_/session_start_info``): ``run``, then
    every hparam, then every metric, as columns.

    Metrics are those of the ``_hparams_/experiment`` summary when one was written (as
    torch and tensorboardX do; TensorBoard takes the first one found), else every scalar
    tag of the session runs; a metric's value is the last scalar (after TensorBoard's
    purge) of its tag in the session run, or in the session's sub-run ``group``
    (column ``<group>/<tag>``); a run's scalars belong to the deepest session at or above
    it. A metric named like an hparam gets the column ``metric/<name>``, an hparam named
    ``run`` the column ``hparam/run``. A run logged twice keeps its first hparams, as
    TensorBoard does. Missing values are ``None``. Arguments as :func:`read_scalars`;
    with ``runs``, only the experiment summaries of the chosen runs are read (a filter that
    leaves out the run holding it, often the root run, falls back to the sessions' scalars).
    """
    from anyboard.proto.hparams_pb2 import HParamsPluginData

    check_output(output)
    reader = _Reader(path, runs, None, strict, storage_options, progress, purge_orphaned_data)
    sessions: dict[str, dict[str, Any]] = {}
    experiment_metrics: list[tuple[str, str]] | None = None
    last: dict[str, dict[str, float]] = {}
    for run in reader.runs:
        scan = reader.scan(
            run,
            lambda field, tag: field in ("simple_value", "tensor") or tag.startswith("_hparams_/"),
            fast_scalars=True,
        )
        scalars = read_scalars_from_scan(scan, reader)
        last[run.name] = scalars
        for v in scan.slow:
            tag = scan.tags[v.tag]
            if tag not in (_START_TAG, _EXPERIMENT_TAG) or not v.value.HasField("metadata"):
                continue
            try:
                data = HParamsPluginData.FromString(v.value.metadata.plugin_data.content)
            except Exception:  # noqa: BLE001 - content that is not HParamsPluginData: TensorBoard skips it too
                continue
            if tag == _START_TAG and data.HasField("session_start_info") and run.name not in sessions:
                # the first one, as TensorBoard's hparams plugin (a second add_hparams into one run)
                sessions[run.name] = {k: _hparam_value(x) for k, x in data.session_start_info.hparams.items()}
            elif tag == _EXPERIMENT_TAG and data.HasField("experiment") and experiment_metrics is None:
                experiment_metrics = [(m.name.group, m.name.tag) for m in data.experiment.metric_infos]
    hparam_names: list[str] = []
    for hp in sessions.values():
        hparam_names.extend(k for k in hp if k not in hparam_names)
    hparam_names.sort()
    metrics: list[tuple[str, str]] = []
    if experiment_metrics is not None:
        metrics = experiment_metrics
    else:
        # Each run's tags are metrics of the deepest session at or above it (TensorBoard's
        # longest-prefix rule): a nested session's scalars are not its parent's.
        for run_name, values in last.items():
            # the deepest owner leaves the shortest path below it ("." is above every run)
            groups = [g for g in ("" if run_name == s else _subpath(run_name, s) for s in sessions) if g is not None]
            if groups:
                group = min(groups, key=len)
                metrics.extend((group, t) for t in values if (group, t) not in metrics)
    rows: dict[str, list[Any]] = {"run": list(sessions)}
    for h in hparam_names:
        rows[f"hparam/{h}" if h == "run" else h] = [sessions[s].get(h) for s in sessions]
    for group, tag in metrics:
        column = f"{group}/{tag}" if group else tag
        if column in rows:
            column = f"metric/{column}"
        column_values: list[Any] = []
        for s in sessions:
            run_name = s if not group else (group if s == "." else f"{s}{os.sep if not _is_url_run(s) else '/'}{group}")
            column_values.append(last.get(run_name, {}).get(tag))
        rows[column] = column_values
    cols = {k: object_column(v) for k, v in rows.items()}
    return to_output(cols, output, "read_hparams")


def _is_url_run(name: str) -> bool:
    return "/" in name and os.sep != "/"


def _subpath(run_name: str, session: str) -> str | None:
    """``run_name`` relative to ``session`` when it lies below it, else None."""
    if session == ".":
        return run_name if run_name != "." else None
    for sep in {os.sep, "/"}:
        if run_name.startswith(session + sep):
            return run_name[len(session) + 1 :]
    return None


def read_scalars_from_scan(scan: RunScan, reader: _Reader) -> dict[str, float]:
    """The last kept scalar value of each scalar tag of one scanned run (hparams metrics)."""
    pos = scan.column("pos", np.int64)
    step = scan.column("step", np.int64)
    value = scan.column("value", np.float64)
    tag = scan.column("tag", np.int64)
    slow = [(v, x) for v in scan.slow if (x := _slow_scalar(v)) is not None]
    if slow:
        pos = np.concatenate([pos, np.array([v.pos for v, _ in slow], dtype=np.int64)])
        step = np.concatenate([step, np.array([v.step for v, _ in slow], dtype=np.int64)])
        value = np.concatenate([value, np.array([x for _, x in slow], dtype=np.float64)])
        tag = np.concatenate([tag, np.array([v.tag for v, _ in slow], dtype=np.int64)])
    order = np.argsort(pos, kind="stable")
    pos, step, value, tag = pos[order], step[order], value[order], tag[order]
    keep = reader.keep_mask(scan, pos, step, tag)
    out: dict[str, float] = {}
    for t, x in zip(tag[keep].tolist(), value[keep].tolist()):
        if scan.kind_of(t) == "scalars":
            out[scan.tags[t]] = x
    return out
