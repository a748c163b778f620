"""Export logged scalars to JSON (tensorboardX's ``export_scalars_to_json``, MXBoard's ``export_scalars``).

The peers keep every exported value in RAM for the writer's whole life
(tensorboardX: every ``add_scalars`` value; MXBoard: every scalar). anyboard
keeps nothing: an export flushes the writer, then READS BACK the event files
this writer wrote (only its own files, never other writers' files in the same
directories) and streams the JSON out, so memory stays bounded whatever was
logged (a fixed budget of rows, :data:`ROW_BUDGET`, independent of the number
of scalars).

JSON layout (the peers' ``{writer_id: [[timestamp, step, value], ...]}``)::

    {"<run directory>/<tag>": [[wall_time, step, value], ...], ...}

``<run directory>`` is the run's directory (``<logdir>`` for the main run,
``<logdir>/<main_tag>_<key>`` for an ``add_scalars`` sub-run, joined with
``os.path.join`` or ``/`` for URLs), so every key names one series. Runs come
in the order this writer opened them, tags in the order they first appear,
values in the order they were written.

With ``SummaryWriter(file_layout="tensorboardX")`` the keys are tensorboardX's: an
``add_scalars`` series is keyed by its sub-run directory alone
(``<logdir>/<main_tag>/<key>``, which holds the one tag ``main_tag``); a sub-run that
two calls share (``add_scalars("a", {"b/c": ...})`` and ``add_scalars("a/b", {"c": ...})``,
one directory) and every other run keep ``<run directory>/<tag>``, so every key still
names one series. Differences from the peers:

- with the default ``file_layout="torch"``, tensorboardX's ``<logdir>/<main_tag>/<key>``
  keys are ``<logdir>/<main_tag>_<key>/<main_tag>`` (torch's sub-run, then the tag).
- values are what the event file holds (float32, as TensorBoard shows them),
  not the caller's float64; wall times are the event's.

Both methods work after :meth:`~anyboard.SummaryWriter.close` too (the files
are still there): the writer remembers its files when it closes.
``export_scalars_to_json`` exports what was logged since its previous call
(tensorboardX clears its dictionary after an export); ``export_scalars``
exports everything since :meth:`clear_scalar_dict` (MXBoard's pair).
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Iterator
from typing import Any

from anyboard._layout import TENSORBOARDX
from anyboard._methods.base import MethodsBase
from anyboard.io import remote
from anyboard.io.reader import RecordError, iter_records
from anyboard.io.records import FOOTER_SIZE, HEADER_SIZE
from anyboard.proto.event_pb2 import Event
from anyboard.proto.types_pb2 import DT_DOUBLE, DT_FLOAT

#: Rows of other tags buffered while one tag is streamed out (each 24 bytes in arrays).
ROW_BUDGET = 1 << 16

_F32 = struct.Struct("<f")
_F64 = struct.Struct("<d")


def _number(x: float) -> str:
    """``x`` as :func:`json.dump` writes a float (``NaN``/``Infinity`` included)."""
    if math.isnan(x):
        return "NaN"
    if x == float("inf"):
        return "Infinity"
    if x == float("-inf"):
        return "-Infinity"
    return float.__repr__(x)


def _scalar_of(value: Any, scalar_tags: set[str]) -> float | None:
    """The value of a scalar ``Summary.Value`` (legacy or rank-0 tensor), else ``None``."""
    kind = value.WhichOneof("value")
    if kind == "simple_value":
        return float(value.simple_value)
    if kind != "tensor":
        return None
    if value.HasField("metadata") and value.metadata.plugin_data.plugin_name == "scalars":
        scalar_tags.add(value.tag)
    elif value.tag not in scalar_tags:
        return None
    t = value.tensor
    if t.tensor_shape.dim and any(d.size != 1 for d in t.tensor_shape.dim):
        return None
    if t.dtype == DT_FLOAT:
        if len(t.tensor_content) == 4:
            return float(_F32.unpack(t.tensor_content)[0])
        return float(t.float_val[0]) if t.float_val else None
    if t.dtype == DT_DOUBLE:
        if len(t.tensor_content) == 8:
            return float(_F64.unpack(t.tensor_content)[0])
        return float(t.double_val[0]) if t.double_val else None
    return None


class _Run:
    """The part of one run's event files an export reads: ``(path, start offset)`` pairs."""

    def __init__(
        self, directory: str, files: list[tuple[str, int]], storage_options: Any, key_by_directory: bool = False
    ) -> None:
        self.directory = directory
        self.files = files
        self.storage_options = storage_options
        self.key_by_directory = key_by_directory  # tensorboardX's key for a run of one tag: its directory
        self.ends: dict[str, int] = {}  # path -> offset after the last complete record read

    def rows(self) -> Iterator[tuple[str, float, int, float]]:
        """``(tag, wall_time, step, value)`` of every scalar in the files, in file order.

        The first call records in :attr:`ends` where each file's complete
        records end; later calls stop there (values logged meanwhile by another
        thread are left for the next export).
        """
        scalar_tags: set[str] = set()
        for path, start in self.files:
            limit = self.ends.get(path)
            with remote.open_file(path, "rb", self.storage_options) as f:
                if start:
                    f.seek(start)
                end = start
                try:
                    for offset, data in iter_records(path, fileobj=f):
                        if limit is not None and start + offset >= limit:
                            break
                        end = start + offset + HEADER_SIZE + len(data) + FOOTER_SIZE
                        try:
                            event = Event.FromString(data)
                        except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError (and others on some backends)
                            raise RecordError(path, start + offset, f"payload is not an Event ({exc})") from None
                        if not event.HasField("summary"):
                            continue
                        for value in event.summary.value:
                            number = _scalar_of(value, scalar_tags)
                            if number is not None:
                                yield value.tag, event.wall_time, event.step, number
                except RecordError as exc:
                    raise ValueError(f"cannot export scalars: event file {path} is damaged: {exc}") from exc
                if limit is None:
                    self.ends[path] = end


def _stream_json(out: Any, runs: list[_Run]) -> dict[str, int]:
    """Write the JSON object to binary file ``out``; return each file's end offset."""
    from array import array

    out.write(b"{")
    first_key = True
    ends: dict[str, int] = {}
    for run in runs:
        counts: dict[str, int] = {}
        for tag, *_ in run.rows():
            counts[tag] = counts.get(tag, 0) + 1
        ends.update(run.ends)
        by_directory = run.key_by_directory and len(counts) == 1
        pending = list(counts)
        while pending:
            streamed = pending.pop(0)
            batch: dict[str, tuple[array[float], array[int], array[float]]] = {}
            total = 0
            while pending and total + counts[pending[0]] <= ROW_BUDGET:
                tag = pending.pop(0)
                total += counts[tag]
                batch[tag] = (array("d"), array("q"), array("d"))
            key = json.dumps(run.directory if by_directory else remote.join(run.directory, streamed))
            out.write((("" if first_key else ", ") + key + ": [").encode())
            first_key = False
            sep = ""
            chunk: list[str] = []
            for tag, wall, step, value in run.rows():
                if tag == streamed:
                    chunk.append(f"{sep}[{_number(wall)}, {step}, {_number(value)}]")
                    sep = ", "
                    if len(chunk) >= 4096:
                        out.write("".join(chunk).encode())
                        chunk.clear()
                else:
                    columns = batch.get(tag)
                    if columns is not None:
                        columns[0].append(wall)
                        columns[1].append(step)
                        columns[2].append(value)
            out.write(("".join(chunk) + "]").encode())
            for tag, (walls, steps, values) in batch.items():
                key = json.dumps(remote.join(run.directory, tag))
                out.write((", " + key + ": [").encode())
                for i in range(0, len(walls), 4096):
                    rows = zip(walls[i : i + 4096], steps[i : i + 4096], values[i : i + 4096])
                    text = ", ".join(f"[{_number(w)}, {s}, {_number(v)}]" for w, s, v in rows)
                    out.write(((", " if i else "") + text).encode())
                out.write(b"]")
    out.write(b"}")
    return ends


class Methods(MethodsBase):
    """``export_scalars_to_json`` (tensorboardX), ``export_scalars`` and ``clear_scalar_dict`` (MXBoard)."""

    def _export_paths(self) -> dict[str, list[str]]:
        """Every event file of each run this writer wrote, oldest first (flushed when open)."""
        if not self.closed:
            self.flush()
        return self.written_files()

    def _export(self, path: Any, only_add_scalars: bool, marks: dict[str, int]) -> dict[str, int]:
        """Write the JSON of the scalars after ``marks`` (file -> offset); return where each file ended."""
        if not isinstance(path, str | os.PathLike):
            raise TypeError(f"export path must be a str or os.PathLike, got {type(path).__name__}")
        path = os.fspath(path)
        if not isinstance(path, str):
            raise TypeError(f"export path must be a text path, got {type(path).__name__}")
        wanted = {id(s) for s in self._scalars_streams.values()}
        scalars_runs = {run for run, s in self._runs.items() if id(s) in wanted}
        # tensorboardX keys a sub-run by its directory alone when one series lives there; two
        # main tags sharing a sub-run (a/b with key c, a with key b/c) keep <dir>/<tag> in every
        # export, whichever of them wrote since the last one.
        main_tags: dict[int, set[str]] = {}
        for (main_tag, _key), s in self._scalars_streams.items():
            main_tags.setdefault(id(s), set()).add(main_tag)
        single = {run for run in scalars_runs if len(main_tags.get(id(self._runs[run]), ())) == 1}
        sub_runs = scalars_runs if only_add_scalars else None
        by_directory = self._file_layout == TENSORBOARDX
        logdir = self._logdir
        options = self._storage_options
        runs = []
        for run, files in self._export_paths().items():
            if sub_runs is not None and run not in sub_runs:
                continue
            directory = remote.join(logdir, run) if run else logdir
            files_read = [(p, marks.get(p, 0)) for p in files]
            runs.append(_Run(directory, files_read, options, by_directory and run in single))
        with remote.open_file(path, "wb", options if remote.is_url(path) else None) as out:
            return _stream_json(out, runs)

    def export_scalars_to_json(self, path: str | os.PathLike[str], only_add_scalars: bool = True) -> None:
        """Write the scalars logged since the previous call to ``path`` as JSON (tensorboardX).

        Layout: ``{"<run directory>/<tag>": [[wall_time, step, value], ...]}``
        (``file_layout="tensorboardX"``: an ``add_scalars`` series is keyed by its
        sub-run directory, as tensorboardX does; see :mod:`anyboard._methods.export`). By default only the
        ``add_scalars`` sub-runs are exported, as tensorboardX does;
        ``only_add_scalars=False`` adds every scalar of every run of this
        writer. Each call continues where the previous one stopped (tensorboardX
        clears what it exported). Reads the event files back, so memory stays
        bounded; works after :meth:`close` too. ``path`` may be a URL
        (written with this writer's ``storage_options``).

        Raises:
            TypeError: ``path`` is not a path.
            ValueError: one of this writer's event files is damaged.
        """
        marks = self._extras.setdefault("_anyboard_export_json_marks", {})
        marks.update(self._export(path, bool(only_add_scalars), marks))

    def export_scalars(self, path: str | os.PathLike[str], only_add_scalars: bool = False) -> None:
        """Write every scalar of this writer (since :meth:`clear_scalar_dict`) to ``path`` as JSON (MXBoard).

        Same layout and rules as :meth:`export_scalars_to_json`, but by
        default every scalar (``add_scalar`` included), and a second call
        exports everything again, as MXBoard does.
        """
        self._export(path, bool(only_add_scalars), self._extras.get("_anyboard_export_cleared", {}))

    def clear_scalar_dict(self) -> None:
        """Make :meth:`export_scalars` skip everything logged so far (MXBoard)."""
        ends: dict[str, int] = {}
        options = self._storage_options
        for files in self._export_paths().values():
            for p in files:
                with remote.open_file(p, "rb", options) as f:
                    ends[p] = f.seek(0, 2)
        self._extras["_anyboard_export_cleared"] = ends
