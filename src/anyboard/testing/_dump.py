"""The canonical text of event files: what TensorBoard shows, not how a writer encoded it.

Layout of the text (one line per event or summary value; the content of a value on
continuation lines indented by six spaces)::

    # anyboard.testing.dump v1
    run "."
      step 1 tag "loss" scalars scalar 0.10000000149011612
      step 2 tag "w" histograms histogram num=7.0 buckets=6
          -1.5 -1.47723448201245 1.0
          ...
    run "eval"
      ...

- Runs sorted by name; events in the order TensorBoard reads them (files by name, records
  in file order); values in their event's order. A run name's levels that are time stamps
  (``add_hparams`` without ``run_name`` names its run ``str(time.time())``) are shown as
  ``<time>`` unless ``keep_wall_time``; ``rename_run`` maps the names further.
- A value's plugin is its metadata's plugin name, else what TensorBoard derives from the
  legacy field (``simple_value`` -> scalars, ``histo`` -> histograms, ``image`` -> images,
  ``audio`` -> audio), else the plugin of the tag's first value in the run.
- The legacy (TF 1.x) and the tensor (v2) encodings of the same thing give the same text
  wherever TensorBoard shows them alike: ``scalar`` (the value as a Python float, exactly),
  ``histogram`` (the non-empty buckets TensorBoard shows, as ``left right count``: ``[k, 3]``
  rows as stored; a ``HistogramProto`` converted as TensorBoard converts it, its empty end
  buckets dropped and its ``min`` and ``max`` as the outer edges, so its outer edges differ
  from those of a ``[k, 3]`` tensor binned alike), ``image`` and ``audio`` (each blob
  decoded: shape and SHA-256 of the pixels or PCM samples, see
  :mod:`anyboard.testing._media`), ``text`` (shape and every string).
  ``show_encoding=True`` adds a line naming the field and tensor type a value used (and the
  ``TensorProto`` field holding the values), shows the empty buckets among those
  TensorBoard shows, and a ``HistogramProto``'s stored ``bucket_limit`` and ``bucket``.
- Any other tensor: dtype, shape and every value (``repr`` of each number) up to
  ``max_values`` elements, else the SHA-256 of its little-endian bytes.
- The first metadata of each tag in a run (the one TensorBoard keeps) is shown when it has a
  display name, a description or plugin content that matters (hparams, pr_curves, mesh,
  custom scalars and unknown plugins).
- Wall times, file names and ``file_version`` records are left out unless asked for; host
  names and pids appear only in file names; ``source_metadata`` (the writer's name) is shown
  only with ``show_encoding``, on the ``file_version`` line.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from anyboard.testing._media import describe_image, describe_wav

HEADER = "# anyboard.testing.dump v1"
INDENT = "  "
CONTENT_INDENT = "      "

_LEGACY_PLUGIN = {"simple_value": "scalars", "histo": "histograms", "image": "images", "audio": "audio"}
_SHOWN_CONTENT_PLUGINS = frozenset({"hparams", "pr_curves", "mesh", "custom_scalars"})
_V2_PLUGINS = frozenset({"scalars", "histograms", "images", "audio", "text", "tensors", "", "graph_run_metadata"})


@dataclass(frozen=True)
class DumpOptions:
    """What :func:`dump` keeps beyond the canonical content (see its arguments)."""

    keep_wall_time: bool = False
    keep_file_names: bool = False
    keep_file_version: bool = False
    show_encoding: bool = False
    histogram_stats: bool = False
    max_values: int = 1000
    rename_tag: Callable[[str], str] | None = None
    rename_run: Callable[[str], str] | None = None

    def __post_init__(self) -> None:
        for name in ("keep_wall_time", "keep_file_names", "keep_file_version", "show_encoding", "histogram_stats"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool, got {getattr(self, name)!r}")
        if not isinstance(self.max_values, int) or isinstance(self.max_values, bool):
            raise TypeError(f"max_values must be an int, got {self.max_values!r}")
        if self.max_values < 0:
            raise ValueError(f"max_values must be >= 0, got {self.max_values!r}")
        for name in ("rename_tag", "rename_run"):
            function = getattr(self, name)
            if function is not None and not callable(function):
                raise TypeError(f"{name} must be a function taking and returning a str (or None), got {function!r}")


def _q(text: str) -> str:
    """A string as a JSON literal (double quotes, control characters escaped, UTF-8 kept)."""
    return json.dumps(text, ensure_ascii=False)


def _num(x: Any) -> str:
    """One number exactly: ``repr`` of the Python float / int / complex / bool."""
    if isinstance(x, bool):
        return repr(x)
    if isinstance(x, float):
        return repr(x) if math.isfinite(x) else ("nan" if math.isnan(x) else ("inf" if x > 0 else "-inf"))
    return repr(x)


def _string(cell: Any) -> str:
    if isinstance(cell, bytes):
        cell = cell.decode("utf-8", errors="backslashreplace")
    return _q(str(cell))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ``str(time.time())`` or anyboard's ``f"{time.time():.6f}"`` (``add_hparams`` without ``run_name``),
# with anyboard's ``_1`` suffix when two sessions share a microsecond.
_TIME_RUN = re.compile(r"\d{9,11}\.\d{1,9}(?:_\d+)?")


def _renamed(function: Callable[[str], str], name: str, option: str) -> str:
    out = function(name)
    if not isinstance(out, str):
        raise TypeError(f"{option} must return a str, returned {out!r} for {name!r}")
    return out


def _tag(tag: str, opts: DumpOptions) -> str:
    return _renamed(opts.rename_tag, tag, "rename_tag") if opts.rename_tag else tag


def run_name(name: str, opts: DumpOptions) -> str:
    """The name a run is shown by: ``/`` separators; each level that is a time stamp (the run
    ``add_hparams`` makes without ``run_name``, ``1796680351.185562``) as ``<time>`` unless
    ``keep_wall_time``; then ``rename_run``."""
    name = name.replace(os.sep, "/")
    if not opts.keep_wall_time:
        name = "/".join("<time>" if _TIME_RUN.fullmatch(part) else part for part in name.split("/"))
    return _renamed(opts.rename_run, name, "rename_run") if opts.rename_run else name


class _RunState:
    """Per-run memory: each tag's first metadata (TensorBoard keeps the first one)."""

    def __init__(self) -> None:
        self.first_metadata: dict[str, Any] = {}


def _clear_hparams_times(data: Any) -> None:
    """Zero the wall-clock fields of an ``HParamsPluginData`` (``add_hparams`` stamps "now")."""
    which = data.WhichOneof("data")
    if which == "session_start_info":
        data.session_start_info.ClearField("start_time_secs")
    elif which == "session_end_info":
        data.session_end_info.ClearField("end_time_secs")
    elif which == "experiment":
        data.experiment.ClearField("time_created_secs")


def _plugin_content(plugin: str, content: bytes, keep_wall_time: bool = True) -> str:
    """Decoded plugin content (one line), for the plugins whose content carries data.

    hparams' start, end and creation times are wall times: cleared unless ``keep_wall_time``.
    """
    from google.protobuf import text_format

    proto: Any = None
    if plugin == "hparams":
        from anyboard.proto.hparams_pb2 import HParamsPluginData

        proto = HParamsPluginData()
    elif plugin == "pr_curves":
        from anyboard.proto.plugins_pb2 import PrCurvePluginData

        proto = PrCurvePluginData()
    elif plugin == "mesh":
        from anyboard.proto.mesh_pb2 import MeshPluginData

        proto = MeshPluginData()
    if proto is not None:
        try:
            proto.ParseFromString(content)
        except Exception:  # noqa: BLE001 - protobuf's DecodeError: a damaged content is shown as bytes below
            proto = None
        if proto is not None:
            if plugin == "hparams" and not keep_wall_time:
                _clear_hparams_times(proto)
            return text_format.MessageToString(proto, as_one_line=True, as_utf8=True)
    if len(content) <= 256:
        return "bytes=" + repr(content)
    return f"bytes={len(content)} sha256={_sha(content)}"


def _content_shown(plugin: str) -> bool:
    """Whether a tag's first plugin content is shown (it carries data, or its plugin is unknown here)."""
    return plugin in _SHOWN_CONTENT_PLUGINS or plugin not in _V2_PLUGINS


def _tensor_array(tensor: Any) -> Any:
    """The tensor as a NumPy array, or None if its dtype is unknown here."""
    from anyboard.summary import tensor_util

    try:
        return tensor_util.make_ndarray(tensor)
    except (KeyError, ValueError, TypeError):
        return None


def _tensor_lines(tensor: Any, opts: DumpOptions) -> tuple[str, list[str]]:
    """(``tensor dtype=... shape=[...]``, value lines) for a generic tensor."""
    import numpy as np

    from anyboard.proto import types_pb2

    shape = [d.size for d in tensor.tensor_shape.dim]
    array = _tensor_array(tensor)
    if array is None:
        name = types_pb2.DataType.Name(tensor.dtype) if tensor.dtype in types_pb2.DataType.values() else tensor.dtype
        return f"tensor dtype={name} shape={shape}", [f"undecodable sha256={_sha(tensor.SerializeToString())}"]
    dtype = "string" if array.dtype == object else str(array.dtype)
    head = f"tensor dtype={dtype} shape={list(array.shape)}"
    if array.dtype == object:
        cells = [_string(c) for c in array.reshape(-1)]
        if len(cells) > opts.max_values:
            joined = "\n".join(cells).encode("utf-8", "surrogatepass")
            return head, [f"strings={len(cells)} sha256={_sha(joined)}"]
        return head, cells
    if array.size > opts.max_values:
        data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
        return head, [f"values={array.size} sha256={_sha(data)} (of the little-endian bytes)"]
    return head, ["values=[" + ", ".join(_num(x) for x in array.reshape(-1).tolist()) + "]"]


def _layout_text(tensor: Any) -> str | None:
    """A custom-scalars ``Layout`` (serialized in a string tensor) as one line of text format."""
    from google.protobuf import text_format

    from anyboard.proto.layout_pb2 import Layout

    array = _tensor_array(tensor)
    if array is None or array.dtype != object or array.size != 1:
        return None
    try:
        layout = Layout.FromString(bytes(array.reshape(-1)[0]))
    except Exception:  # noqa: BLE001 - not a Layout: shown as a plain tensor
        return None
    return text_format.MessageToString(layout, as_one_line=True, as_utf8=True)


def _histogram_rows(
    value: Any, which: str, keep_empty: bool = False
) -> tuple[list[tuple[float, float, float]], list[str]] | None:
    """The buckets TensorBoard shows, ``(left, right, count)`` (the non-empty ones unless
    ``keep_empty``), and the extra lines of a ``HistogramProto`` (its stats, then its stored
    ``bucket_limit`` and ``bucket``), or None if the value is no histogram.

    A ``HistogramProto`` is converted as TensorBoard converts it on read
    (``data_compat._migrate_histogram_value``): the empty buckets at both ends are dropped, the
    first kept bucket starts at ``min`` and the last one ends at ``max``, the others span
    ``bucket_limit[i - 1]..bucket_limit[i]``; no non-empty bucket gives no bucket. The numbers
    are kept as float64 (TensorBoard rounds them to float32). A ``[k, 3]`` tensor's rows are
    shown as stored, as TensorBoard shows them.
    """
    if which == "histo":
        h = value.histo
        counts = list(h.bucket)
        limits = list(h.bucket_limit)
        n = min(len(counts), len(limits))
        full = [i for i in range(n) if counts[i] > 0]
        rows = []
        if full:
            first, last = full[0], full[-1]
            for i in range(first, last + 1):
                if counts[i] == 0 and not keep_empty:
                    continue
                left = h.min if i == first else limits[i - 1]
                right = h.max if i == last else limits[i]
                rows.append((float(left), float(right), float(counts[i])))
        extra = [
            f"min={_num(h.min)} max={_num(h.max)} num={_num(h.num)} sum={_num(h.sum)} sum_squares={_num(h.sum_squares)}",
            "bucket_limit=[" + ", ".join(_num(float(x)) for x in limits) + "]",
            "bucket=[" + ", ".join(_num(float(x)) for x in counts) + "]",
        ]
        return rows, extra
    array = _tensor_array(value.tensor)
    if array is None or array.ndim != 2 or array.shape[1] != 3 or array.dtype == object:
        return None
    rows = [(float(a), float(b), float(c)) for a, b, c in array.tolist() if c != 0 or keep_empty]
    return rows, []


def _media_blobs(value: Any, which: str, plugin: str) -> list[tuple[bytes, str]] | None:
    """``[(blob, label)]`` of an image or audio value, or None if it is not one."""
    if which == "image":
        return [(value.image.encoded_image_string, "")]
    if which == "audio":
        return [(value.audio.encoded_audio_string, "")]
    array = _tensor_array(value.tensor)
    if array is None or array.dtype != object:
        return None
    if plugin == "images" and array.ndim == 1 and array.shape[0] >= 2:
        return [(bytes(b), "") for b in array[2:]]
    if plugin == "audio" and array.ndim == 2 and array.shape[1] == 2:
        return [(bytes(row[0]), row[1].decode("utf-8", "backslashreplace") if row[1] else "") for row in array]
    if plugin == "audio" and array.ndim == 1:
        return [(bytes(b), "") for b in array]
    return None


def _tensor_fields(tensor: Any) -> str:
    """The fields of a ``TensorProto`` that hold its values (``tensor_content``, ``float_val``, ...)."""
    names = [f.name for f, _ in tensor.ListFields() if f.name not in ("dtype", "tensor_shape", "version_number")]
    return ",".join(names) or "no value field"


def _encoding_line(value: Any, which: str | None, keep_wall_time: bool) -> str:
    from google.protobuf import text_format

    from anyboard.proto import types_pb2

    if which == "tensor":
        t = value.tensor
        dtype = types_pb2.DataType.Name(t.dtype) if t.dtype in types_pb2.DataType.values() else str(t.dtype)
        text = f"encoding: tensor {dtype} {[d.size for d in t.tensor_shape.dim]} in {_tensor_fields(t)}"
        if value.metadata.plugin_data.plugin_name == "images" and len(t.string_val) >= 2:
            text += f" width={_string(t.string_val[0])} height={_string(t.string_val[1])}"
    elif which == "image":
        i = value.image
        text = f"encoding: image height={i.height} width={i.width} colorspace={i.colorspace}"
    elif which == "audio":
        a = value.audio
        text = (
            f"encoding: audio sample_rate={_num(a.sample_rate)} num_channels={a.num_channels} "
            f"length_frames={a.length_frames} content_type={_q(a.content_type)}"
        )
    else:
        text = f"encoding: {which or 'metadata only'}"
    if value.HasField("metadata"):
        md = type(value.metadata)()
        md.CopyFrom(value.metadata)
        plugin = md.plugin_data.plugin_name
        content = md.plugin_data.content
        md.plugin_data.ClearField("content")
        text += " metadata {" + text_format.MessageToString(md, as_one_line=True, as_utf8=True) + "}"
        if content and not _content_shown(plugin):  # else the metadata line below shows it decoded
            text += f" content {{{_plugin_content(plugin, content, keep_wall_time)}}}"
    return text


def _value_lines(value: Any, step: int, wall: str, state: _RunState, opts: DumpOptions) -> list[str]:
    which = value.WhichOneof("value")
    tag = _tag(value.tag, opts)
    has_md = value.HasField("metadata")
    first_md = state.first_metadata.get(tag)
    is_first_md = False
    if has_md and first_md is None:
        state.first_metadata[tag] = first_md = value.metadata
        is_first_md = True
    plugin = first_md.plugin_data.plugin_name if first_md is not None else ""
    if not plugin and which in _LEGACY_PLUGIN:
        plugin = _LEGACY_PLUGIN[which]
    if which in _LEGACY_PLUGIN and has_md and value.metadata.plugin_data.plugin_name == "":
        plugin = _LEGACY_PLUGIN[which]
    head = f"{INDENT}step {step} tag {_q(tag)} {plugin or '-'}"
    body: list[str] = []
    kind = ""
    if which == "simple_value":
        kind = f"scalar {_num(float(value.simple_value))}"
    elif plugin == "scalars" and which == "tensor":
        array = _tensor_array(value.tensor)
        if array is not None and array.size == 1 and array.dtype != object:
            kind = f"scalar {_num(float(array.reshape(-1)[0]))}"
    if not kind and (which == "histo" or (plugin == "histograms" and which == "tensor")):
        hist = _histogram_rows(value, which, keep_empty=opts.show_encoding)
        if hist is not None:
            rows, extra = hist
            kind = f"histogram num={_num(sum(r[2] for r in rows))} buckets={len(rows)}"
            if opts.histogram_stats:
                body.extend(extra[:1])
            if opts.show_encoding:
                body.extend(extra[1:])
            body.extend(f"{_num(a)} {_num(b)} {_num(c)}" for a, b, c in rows)
    if not kind and (which in ("image", "audio") or (plugin in ("images", "audio") and which == "tensor")):
        blobs = _media_blobs(value, which, plugin)
        if blobs is not None:
            is_audio = which == "audio" or plugin == "audio"
            kind = f"{'audio' if is_audio else 'image'} count={len(blobs)}"
            for i, (blob, label) in enumerate(blobs):
                text = describe_wav(blob) if is_audio else describe_image(blob, show_mode=opts.show_encoding)
                body.append(f"[{i}] {text}" + (f" label={_q(label)}" if label else ""))
    if not kind and plugin == "text" and which == "tensor":
        array = _tensor_array(value.tensor)
        if array is not None and array.dtype == object:
            kind = f"text shape={list(array.shape)}"
            body.extend(_string(c) for c in array.reshape(-1))
    if not kind and plugin == "custom_scalars" and which == "tensor":
        layout = _layout_text(value.tensor)
        if layout is not None:
            kind = "layout"
            body.append(layout)
    if not kind and which == "tensor":
        kind, lines = _tensor_lines(value.tensor, opts)
        body.extend(lines)
    if not kind:
        kind = "metadata only" if which is None else which
    lines = [f"{head} {kind}{wall}"]
    if is_first_md:
        md = value.metadata
        extra = []
        if md.display_name:
            extra.append(f"display_name={_q(md.display_name)}")
        if md.summary_description:
            extra.append(f"description={_q(md.summary_description)}")
        content = md.plugin_data.content
        if content and _content_shown(plugin):
            extra.append(f"content {{{_plugin_content(plugin, content, opts.keep_wall_time)}}}")
        if extra:
            body.insert(0, "metadata " + " ".join(extra))
    if opts.show_encoding:
        body.insert(0, _encoding_line(value, which, opts.keep_wall_time))
    lines.extend(CONTENT_INDENT + line for line in body)
    return lines


def _event_lines(event: Any, state: _RunState, opts: DumpOptions) -> list[str]:
    wall = f" wall_time={_num(float(event.wall_time))}" if opts.keep_wall_time else ""
    which = event.WhichOneof("what")
    step = event.step
    if which == "summary":
        out: list[str] = []
        for value in event.summary.value:
            out.extend(_value_lines(value, step, wall, state, opts))
        return out
    if which == "file_version":
        if not (opts.keep_file_names or opts.keep_file_version):
            return []
        text = f"{INDENT}file_version {_q(event.file_version)}"
        if opts.show_encoding and event.HasField("source_metadata"):
            text += f" source_metadata writer={_q(event.source_metadata.writer)}"
        return [text + wall]
    if which == "session_log":
        from anyboard.proto.event_pb2 import SessionLog

        log = event.session_log
        text = f"{INDENT}step {step} session_log {SessionLog.SessionStatus.Name(log.status)}"
        if log.checkpoint_path:
            text += f" checkpoint_path={_q(log.checkpoint_path)}"
        if log.msg:
            text += f" msg={_q(log.msg)}"
        return [text + wall]
    if which in ("graph_def", "meta_graph_def"):
        data = getattr(event, which)
        return [f"{INDENT}step {step} {which} bytes={len(data)} sha256={_sha(data)}{wall}"]
    if which == "tagged_run_metadata":
        meta = event.tagged_run_metadata
        tag = _tag(meta.tag, opts)
        data = meta.run_metadata
        return [f"{INDENT}step {step} tag {_q(tag)} run_metadata bytes={len(data)} sha256={_sha(data)}{wall}"]
    if which == "log_message":
        return [
            f"{INDENT}step {step} log_message level={event.log_message.level} {_q(event.log_message.message)}{wall}"
        ]
    return []


def _as_event(message: Any) -> Any:
    """An ``anyboard.proto`` ``Event`` from any Event/Summary message (anyboard's, TensorBoard's, tensorboardX's)."""
    from anyboard.proto.event_pb2 import Event
    from anyboard.proto.summary_pb2 import Summary

    if isinstance(message, Event):
        return message
    if isinstance(message, Summary):
        return Event(summary=message)
    name = getattr(getattr(message, "DESCRIPTOR", None), "name", None)
    if name == "Event":
        return Event.FromString(message.SerializeToString())
    if name == "Summary":
        return Event(summary=Summary.FromString(message.SerializeToString()))
    raise TypeError(f"expected Event or Summary protos, got {type(message).__name__}")


def dump_event_lines(events: Iterable[Any], opts: DumpOptions, state: Any = None) -> list[str]:
    """The dump lines (without run header) of ``events`` (``Event`` or ``Summary`` protos)."""
    run_state = state if isinstance(state, _RunState) else _RunState()
    out: list[str] = []
    for message in events:
        out.extend(_event_lines(_as_event(message), run_state, opts))
    return out


def dump_messages(events: Iterable[Any], run: str, opts: DumpOptions) -> str:
    """The canonical text of ``events`` (``Event`` or ``Summary`` protos) as one run named ``run``."""
    lines = [HEADER, f"run {_q(run_name(run, opts))}", *dump_event_lines(events, opts)]
    return "\n".join(lines) + "\n"


def dump_path(path: str | os.PathLike[str], opts: DumpOptions) -> str:
    """The canonical text of every event under ``path`` (a log directory, one event file, or an
    fsspec URL of either), its runs found as TensorBoard finds them (:mod:`anyboard.read.runs`)."""
    from anyboard.io.reader import iter_events
    from anyboard.read.runs import find_runs

    lines = [HEADER]
    # Sorted by the name the dump shows (then by the name found: time-stamp runs in time order),
    # with '/' separators, so a golden is the same on every system.
    named = [(run_name(run.name, opts), run.name.replace(os.sep, "/"), run) for run in find_runs(path)]
    for shown, _, run in sorted(named, key=lambda item: item[:2]):
        lines.append(f"run {_q(shown)}")
        state = _RunState()
        for file in run.files:
            if opts.keep_file_names:
                lines.append(f"{INDENT}file {_q(os.path.basename(file.path))}")
            with file.open() as stream:
                lines.extend(dump_event_lines(iter_events(file.path, fileobj=stream), opts, state))
    return "\n".join(lines) + "\n"
