"""A run's events as TensorBoard's Python loader sees them: read order, restarts, damaged files.

Two public entry points, reusable outside :mod:`anyboard.read`:

- :func:`iter_run_events` yields the ``Event`` protos (anyboard's own proto classes)
  of one :class:`~anyboard.read.runs.Run`, after TensorBoard's purge of orphaned data.
- :func:`scan_run` is the columnar engine behind ``read_scalars`` & co.

**Semantics** (``plugin_event_accumulator.EventAccumulator``, what ``tensorboard
--load_fast=false`` and its ``EventMultiplexer`` use, with ``purge_orphaned_data=True``):

- Files are read in the run's order (:mod:`anyboard.read.runs`), each record once.
- ``file_version``: the latest ``brain.Event:<v>`` seen so far in the run decides the
  purge rule for each following event.
- ``v >= 2``: the first ``SessionLog.START`` of the run only marks the session start;
  every later START at step ``s`` drops every value stored so far, in every tag, whose
  step is ``>= s``.
- No version yet, or ``v < 2``: a summary event whose step is below the step of the
  previous summary event drops the stored values of *its own tags* at steps ``>=`` its step.
- Values are never dropped otherwise (repeated and decreasing steps are kept).
- A damaged record (bad length or data CRC, or data that is not an ``Event``) ends that
  file; the run goes on with its next file. A record cut short at the end of a file is
  a torn tail and ends it silently.

TensorBoard's legacy ``event_accumulator.EventAccumulator`` (used by tbparse) differs in
two places, on purpose not followed here: it purges at the *first* START too (so a torch
``purge_step`` restart, which writes a single START, drops steps there and not in
TensorBoard's UI), and it never purges tensor summaries.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from anyboard.io.reader import RecordError
from anyboard.proto.event_pb2 import Event, SessionLog
from anyboard.proto.summary_pb2 import SummaryMetadata
from anyboard.read import _fast, _scan
from anyboard.read.runs import Run

_VERSION = re.compile(r"^brain\.Event:(.*)$")
RUN_GRAPH_TAG = "__run_graph__"
# data_compat: a v1 value field decides the plugin, whatever metadata came with it
V1_PLUGINS = {"simple_value": "scalars", "histo": "histograms", "image": "images", "audio": "audio"}


def parse_file_version(text: str) -> float:
    """TensorBoard's ``event_util.ParseFileVersion``: the float after ``brain.Event:`` (-1 if none)."""
    m = _VERSION.match(text)
    if not m:
        return -1.0
    try:
        return float(m.group(1))
    except ValueError:
        return -1.0


@dataclass
class SlowValue:
    """One ``Summary.Value`` decoded by protobuf: ``field`` is its ``value`` oneof (or ``""``)."""

    pos: int
    step: int
    wall_time: float
    tag: int
    field: str
    value: Any  # the Summary.Value


@dataclass
class RunScan:
    """Everything one pass over a run collected (positions count records in read order).

    Fast scalar rows are column lists (one array per block); slow values are objects.
    ``tags`` maps tag ids to names; ``kind_of`` gives each tag's plugin name (TensorBoard's
    "first value with metadata wins" rule, v1 fields counting as metadata).
    """

    run: Run
    tags: list[str] = field(default_factory=list)
    tag_ids: dict[str, int] = field(default_factory=dict)
    fast: dict[str, list[Any]] = field(default_factory=lambda: {k: [] for k in ("pos", "step", "wall", "value", "tag")})
    slow: list[SlowValue] = field(default_factory=list)
    events_pos: list[Any] = field(default_factory=list)  # every summary event: positions ...
    events_step: list[Any] = field(default_factory=list)  # ... and steps
    value_pos: list[Any] = field(default_factory=list)  # every value: event position ...
    value_tag: list[Any] = field(default_factory=list)  # ... and tag id
    versions: list[tuple[int, float]] = field(default_factory=list)
    starts: list[tuple[int, int]] = field(default_factory=list)
    first_meta: dict[int, tuple[int, str]] = field(default_factory=dict)
    damages: list[_scan.Damage] = field(default_factory=list)
    records: int = 0

    def tag_id(self, name: str) -> int:
        i = self.tag_ids.get(name)
        if i is None:
            i = self.tag_ids[name] = len(self.tags)
            self.tags.append(name)
        return i

    def note_meta(self, tag: int, pos: int, plugin: str) -> None:
        known = self.first_meta.get(tag)
        if known is None or pos < known[0]:
            self.first_meta[tag] = (pos, plugin)

    def kind_of(self, tag: int) -> str | None:
        known = self.first_meta.get(tag)
        return None if known is None else known[1]

    def column(self, name: str, dtype: Any) -> Any:
        """The fast rows' column ``name`` as one array; the per-block pieces are released."""
        parts = self.fast[name]
        self.fast[name] = []
        if len(parts) == 1:
            return parts[0]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


KeepValue = Callable[[str, str], bool]
"""``keep(field, tag)``: whether the engine should keep a slow value (``field`` its oneof name)."""


def _slow_event(scan: RunScan, pos: int, event: Event, keep: KeepValue) -> None:
    what = event.WhichOneof("what")
    if what == "file_version":
        scan.versions.append((pos, parse_file_version(event.file_version)))
        return
    if what == "session_log":
        if event.session_log.status == SessionLog.START:
            scan.starts.append((pos, event.step))
        return
    if what in ("graph_def", "tagged_run_metadata"):  # dataclass_compat turns these into summaries
        tag = RUN_GRAPH_TAG if what == "graph_def" else event.tagged_run_metadata.tag
        tid = scan.tag_id(tag)
        scan.events_pos.append(np.array([pos]))
        scan.events_step.append(np.array([event.step]))
        scan.value_pos.append(np.array([pos]))
        scan.value_tag.append(np.array([tid]))
        scan.note_meta(tid, pos, "graphs" if what == "graph_def" else "graph_tagged_run_metadata")
        return
    if what != "summary":
        return
    scan.events_pos.append(np.array([pos]))
    scan.events_step.append(np.array([event.step]))
    values = event.summary.value
    if not values:
        return
    tids = []
    for value in values:
        tag = value.tag
        kind = value.WhichOneof("value") or ""
        if kind == "tensor" and not tag:
            tag = value.node_name
        tid = scan.tag_id(tag)
        tids.append(tid)
        plugin = V1_PLUGINS.get(kind)
        if plugin is None and value.HasField("metadata"):
            plugin = value.metadata.plugin_data.plugin_name
        if plugin is not None:
            scan.note_meta(tid, pos, plugin)
        if keep(kind, tag):
            scan.slow.append(SlowValue(pos, event.step, event.wall_time, tid, kind, value))
    scan.value_pos.append(np.full(len(tids), pos))
    scan.value_tag.append(np.array(tids))


def scan_run(
    run: Run,
    *,
    keep: KeepValue,
    fast_scalars: bool = True,
    strict: bool = False,
    progress: Callable[[int], None] | None = None,
    on_event: Callable[[str, int, Event], None] | None = None,
) -> RunScan:
    """Read every file of ``run`` once; return what :func:`purge_mask` and the readers need.

    Single-scalar records are decoded in bulk (:mod:`anyboard.read._fast`) when
    ``fast_scalars``; every other record goes through protobuf, and its values are
    kept when ``keep(field, tag)`` says so. ``progress(nbytes)`` is called per block;
    ``on_event(path, position, event)`` for every event decoded by protobuf.

    Raises:
        RecordError: ``strict`` and a file is damaged (else see :attr:`RunScan.damages`).
    """
    scan = RunScan(run)
    meta_plugins: dict[bytes, str] = {}
    pos_base = 0
    for ef in run.files:
        file_damages: list[_scan.Damage] = []
        try:
            f = ef.open()
        except FileNotFoundError:
            continue  # deleted since it was listed
        with f:
            size = ef.size
            for block in _scan.scan_blocks(f, ef.path, size, file_damages):
                stop = _block(scan, block, pos_base, keep, fast_scalars, meta_plugins, ef.path, file_damages, on_event)
                if progress is not None:
                    progress(int(block.buf.nbytes))
                if stop:
                    break
        pos_base = scan.records
        if file_damages:
            damage = file_damages[0]
            if strict:
                raise RecordError(damage.path, damage.offset, damage.reason)
            scan.damages.append(damage)
    return scan


def _block(
    scan: RunScan,
    block: _scan.Block,
    pos_base: int,
    keep: KeepValue,
    fast_scalars: bool,
    meta_plugins: dict[bytes, str],
    path: str,
    damages: list[_scan.Damage],
    on_event: Callable[[str, int, Event], None] | None,
) -> bool:
    """Decode one block into ``scan``; True when a record that is not an Event ended the file."""
    n = len(block.starts)
    first = pos_base + block.index  # position of the block's first record in the run
    fast_mask = np.zeros(n, dtype=bool)
    rows = None
    if fast_scalars and n:
        rows = _fast.parse_scalars(block.buf, block.starts, block.lengths)
        if len(rows.record):
            tag_bytes, tag_inv = _fast.unique_spans(block.buf, rows.tag_start, rows.tag_len)
            good_tag = np.ones(len(tag_bytes), dtype=bool)
            local_ids = np.empty(len(tag_bytes), dtype=np.int64)
            for i, raw in enumerate(tag_bytes):
                try:
                    local_ids[i] = scan.tag_id(raw.decode("utf-8"))
                except UnicodeDecodeError:  # protobuf rejects it: let the slow path report the record
                    good_tag[i] = False
            keep_rows = good_tag[tag_inv]
            meta_plugin = np.full(len(rows.record), -1, dtype=np.int64)  # -1: no metadata
            has_meta = rows.meta_len >= 0
            if has_meta.any():
                idx = np.flatnonzero(has_meta)
                metas, meta_inv = _fast.unique_spans(block.buf, rows.meta_start[idx], rows.meta_len[idx])
                codes = []
                for raw in metas:
                    plugin = meta_plugins.get(raw)
                    if plugin is None:
                        try:
                            plugin = SummaryMetadata.FromString(raw).plugin_data.plugin_name
                        except Exception:  # noqa: BLE001 - not a SummaryMetadata (DecodeError, or others on some backends): the slow path decides
                            plugin = "\0bad"
                        meta_plugins[raw] = plugin
                    codes.append(plugin)
                bad_meta = np.array([c == "\0bad" for c in codes], dtype=bool)
                keep_rows[idx[bad_meta[meta_inv]]] = False
                plugin_codes = np.array(
                    [_plugin_code(c) for c in codes],
                    dtype=np.int64,
                )
                meta_plugin[idx] = plugin_codes[meta_inv]
            sel = np.flatnonzero(keep_rows)
            rec = rows.record[sel]
            fast_mask[rec] = True
            pos = first + rec
            tags = local_ids[tag_inv[sel]]
            scan.fast["pos"].append(pos)
            scan.fast["step"].append(rows.step[sel])
            scan.fast["wall"].append(rows.wall_time[sel])
            scan.fast["value"].append(rows.value[sel])
            scan.fast["tag"].append(tags)
            scan.events_pos.append(pos)
            scan.events_step.append(rows.step[sel])
            scan.value_pos.append(pos)
            scan.value_tag.append(tags)
            # kinds: a simple_value is a scalar; a tensor says so in its metadata, if any
            simple = rows.simple[sel]
            mp = meta_plugin[sel]
            known = simple | (mp >= 0)
            if known.any():
                kt, kp, kc = tags[known], pos[known], np.where(simple[known], _plugin_code("scalars"), mp[known])
                order = np.lexsort((kp, kt))
                kt, kp, kc = kt[order], kp[order], kc[order]
                head = np.ones(len(kt), dtype=bool)
                head[1:] = kt[1:] != kt[:-1]
                for t, p, c in zip(kt[head].tolist(), kp[head].tolist(), kc[head].tolist()):
                    scan.note_meta(t, p, _PLUGIN_NAMES[c])
    slow = np.flatnonzero(~fast_mask)
    if len(slow):
        view = memoryview(block.buf)
        starts = block.starts
        lengths = block.lengths
        for i in slow.tolist():
            s = int(starts[i])
            try:
                # protobuf parses any buffer (no copy); its stubs say bytes
                event = Event.FromString(view[s : s + int(lengths[i])])  # type: ignore[arg-type]
            except Exception as exc:  # noqa: BLE001 - protobuf raises DecodeError (others on some backends)
                damages.append(_scan.Damage(path, int(block.offsets[i]), f"payload is not an Event ({exc})"))
                _truncate(scan, first + i)
                scan.records = first + i
                return True
            if on_event is not None:
                on_event(path, first + i, event)
            _slow_event(scan, first + i, event, keep)
    scan.records = first + n
    return False


_PLUGIN_NAMES: list[str] = []
_PLUGIN_CODES: dict[str, int] = {}


def _plugin_code(name: str) -> int:
    code = _PLUGIN_CODES.get(name)
    if code is None:
        code = _PLUGIN_CODES[name] = len(_PLUGIN_NAMES)
        _PLUGIN_NAMES.append(name)
    return code


def _truncate(scan: RunScan, pos: int) -> None:
    """Forget what was collected at positions ``>= pos`` (a record there ended the file)."""
    fast = scan.fast
    for i, p in enumerate(fast["pos"]):
        keep = p < pos
        if not keep.all():
            for name in fast:
                fast[name][i] = fast[name][i][keep]
    for first, second in ((scan.events_pos, scan.events_step), (scan.value_pos, scan.value_tag)):
        for i, p in enumerate(first):
            keep = p < pos
            if not keep.all():
                first[i] = p[keep]
                second[i] = second[i][keep]
    for t, (p, _plugin) in list(scan.first_meta.items()):
        if p >= pos:
            del scan.first_meta[t]


def _cat(parts: list[Any]) -> Any:
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)


def purge_mask(scan: RunScan, pos: Any, step: Any, tag: Any, *, purge_orphaned_data: bool = True) -> Any:
    """Which of the values at (``pos``, ``step``, ``tag``) TensorBoard keeps (bool array).

    Applies the rules in the module docstring to the START and summary events ``scan``
    collected. All arguments are ``int64`` arrays of equal length.
    """
    n = len(pos)
    keep = np.ones(n, dtype=bool)
    if not purge_orphaned_data or n == 0:
        return keep
    v_pos = np.array([p for p, _ in scan.versions], dtype=np.int64)
    v_val = np.array([v for _, v in scan.versions], dtype=np.float64)

    def version_at(positions: Any) -> Any:
        i = np.searchsorted(v_pos, positions, side="right") - 1
        return np.where(i >= 0, v_val[np.maximum(i, 0)], -1.0) if len(v_pos) else np.full(len(positions), -1.0)

    # restarts (file_version >= 2): every START but the first purges all tags
    purges: list[tuple[int, int]] = []
    seen_start = False
    if scan.starts:
        s_pos = np.array([p for p, _ in scan.starts], dtype=np.int64)
        s_ver = version_at(s_pos)
        for (p, s), v in zip(scan.starts, s_ver.tolist()):
            if v >= 2:  # ParseFileVersion gives -1 when missing: TensorBoard's "if file_version and >= 2"
                if seen_start:
                    purges.append((p, s))
                seen_start = True
    if purges:
        keep &= step < _suffix_min_after([p for p, _ in purges], [s for _, s in purges], pos)
    # out-of-order steps (no version, or < 2): a summary event below the previous one purges its tags
    always_v2 = bool(scan.versions) and all(v >= 2 for _, v in scan.versions)
    first_version = scan.versions[0][0] if scan.versions else 0
    if always_v2 and all(len(p) == 0 or int(p.min()) > first_version for p in scan.events_pos):
        return keep  # every summary event comes under a version >= 2: only restarts purge
    e_pos, e_step = _cat(scan.events_pos), _cat(scan.events_step)
    if len(e_pos):
        if len(e_pos) > 1 and not bool(np.all(e_pos[1:] >= e_pos[:-1])):
            order = np.argsort(e_pos, kind="stable")
            e_pos, e_step = e_pos[order], e_step[order]
        prev = np.empty_like(e_step)
        prev[0] = -1
        prev[1:] = e_step[:-1]
        ooo = (e_step < prev) & (version_at(e_pos) < 2)
        if ooo.any():
            p_pos, p_step = e_pos[ooo], e_step[ooo]
            vp, vt = _cat(scan.value_pos), _cat(scan.value_tag)
            hit = np.isin(vp, p_pos)
            vp, vt = vp[hit], vt[hit]
            vs = p_step[np.searchsorted(p_pos, vp)]
            for t in np.unique(vt).tolist():
                mine = tag == t
                if not mine.any():
                    continue
                sel = vt == t
                limit = _suffix_min_after(vp[sel].tolist(), vs[sel].tolist(), pos[mine])
                keep[mine] &= step[mine] < limit
    return keep


def _suffix_min_after(purge_pos: list[int], purge_step: list[int], pos: Any) -> Any:
    """For each ``pos``: the smallest purge step among purges strictly after it (int64 max if none)."""
    order = np.argsort(np.asarray(purge_pos, dtype=np.int64), kind="stable")
    pp = np.asarray(purge_pos, dtype=np.int64)[order]
    ps = np.asarray(purge_step, dtype=np.int64)[order]
    suffix = np.minimum.accumulate(ps[::-1])[::-1]
    suffix = np.append(suffix, np.iinfo(np.int64).max)
    return suffix[np.searchsorted(pp, pos, side="right")]


def iter_run_events(
    run: Run, *, strict: bool = False, purge_orphaned_data: bool = True, damages: list[_scan.Damage] | None = None
) -> Iterator[tuple[str, Event]]:
    """Yield ``(file path, Event)`` for every event of ``run`` that TensorBoard keeps, in read order.

    Summary values TensorBoard drops (see the module docstring) are removed from their
    event; an event left with no value is skipped. Every other event (``file_version``,
    ``session_log``, graphs...) is yielded as read. A damaged file ends early: its
    :class:`~anyboard.read._scan.Damage` is appended to ``damages`` when given, or
    :class:`~anyboard.io.reader.RecordError` is raised when ``strict``.

    The run's events are held in memory until it is read (a later restart can drop
    earlier values), so use it for dumps and checks, not for millions of scalars.
    """
    events: list[tuple[str, int, Event]] = []
    scan = scan_run(
        run,
        keep=lambda field, tag: True,
        fast_scalars=False,
        strict=strict,
        on_event=lambda path, pos, event: events.append((path, pos, event)),
    )
    if damages is not None:
        damages.extend(scan.damages)
    values = scan.slow
    mask = purge_mask(
        scan,
        np.array([v.pos for v in values], dtype=np.int64),
        np.array([v.step for v in values], dtype=np.int64),
        np.array([v.tag for v in values], dtype=np.int64),
        purge_orphaned_data=purge_orphaned_data,
    )
    dropped: dict[int, set[int]] = {}
    for v, kept in zip(values, mask.tolist()):
        if not kept:
            dropped.setdefault(v.pos, set()).add(id(v.value))
    for path, pos, event in events:
        gone = dropped.get(pos)
        if gone:
            survivors = [value for value in event.summary.value if id(value) not in gone]
            if not survivors:
                continue
            trimmed = Event()
            trimmed.CopyFrom(event)
            del trimmed.summary.value[:]
            for value in survivors:
                trimmed.summary.value.add().CopyFrom(value)
            event = trimmed
        yield path, event
