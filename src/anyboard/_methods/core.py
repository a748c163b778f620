"""Scalars, histograms, text and raw tensors (the core ``add_*`` methods)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from operator import itemgetter
from time import time as _time
from typing import Any

import numpy as np

from anyboard import _threads
from anyboard._layout import scalars_run, summary_tag
from anyboard._methods.base import MethodsBase
from anyboard.adapters import Deferred, module_root, to_numpy
from anyboard.io.buffer_pool import fresh_copy
from anyboard.io.stream import RowGroups, encoder_code
from anyboard.summary.histogram import (
    MAX_BUCKETS,
    TF_BINS,
    encode_bytes,
    histogram_summary_bytes,
    native_binning,
    rows_summary,
)
from anyboard.summary.histogram import histogram_bytes as _histogram_bytes
from anyboard.summary.histogram import histogram_raw as _histogram_raw
from anyboard.summary.scalar import scalar as _scalar
from anyboard.summary.scalar import simple_value_event, simple_value_payload_groups
from anyboard.summary.tensor import tensor as _tensor
from anyboard.summary.tensor_util import supported_dtypes
from anyboard.summary.text import text as _text
from anyboard.summary.text import text_event as _text_event
from anyboard.summary.text import text_event_compat as _text_event_compat

_MISSING: Any = object()

try:  # the compiled column extraction (_native.c); the itemgetter maps in _scalar_records give the same columns
    from anyboard._native import scalar_columns as _native_columns
except ImportError:  # pragma: no cover - not built: the fallback tests patch this
    _native_columns = None  # type: ignore[assignment]
_STEP_MIN = -(1 << 63)
_STEP_MAX = (1 << 63) - 1
# add_scalar's fast path takes steps within one 30-bit int digit: CPython compares such
# ints in its specialized fast op (the int64 bounds above are multi-digit ints, ~20 ns
# more per call); larger steps take the checked path, which accepts any int64.
_FAST_STEP = 0x3FFFFFFF
_HIST_BINS = ("tensorflow", "default", "auto", "fd", "doane", "scott", "stone", "rice", "sturges", "sqrt")


def resolved_float(value: Any) -> float:
    """A queued scalar as a float: a :class:`Deferred` device value is waited for (background side)."""
    if type(value) is float:
        return value
    return float(np.asarray(value.resolve() if isinstance(value, Deferred) else value).reshape(()))


def _scalar_event(wall: float, step: int, tag: str, value: Any) -> bytes:
    return simple_value_event(wall, step, tag, resolved_float(value))


def _scalar_rows(items: list[Any]) -> RowGroups:
    """The events of many queued ``_SCALAR`` items (their values are all floats) at once, unframed.

    ``(indices, rows)`` groups (:func:`~anyboard.summary.scalar.simple_value_payload_groups`):
    row ``j`` of a group, uint8, is byte for byte ``_scalar_event(*items[indices[j]][1:])``.
    The writer thread frames them in queue order (``anyboard.io.stream``).
    """
    n = len(items)
    if _native_columns is not None:  # one C loop over the tuples (15x faster than the maps below)
        wall_bytes, step_bytes, tags, value_bytes = _native_columns(items)
        walls, steps = np.frombuffer(wall_bytes, np.float64), np.frombuffer(step_bytes, np.int64)
        values = np.frombuffer(value_bytes, np.float64)
    else:
        walls = np.fromiter(map(_WALL, items), np.float64, n)  # itemgetter maps: 5x faster than zip(*items)
        steps = np.fromiter(map(_STEP, items), np.int64, n)
        values = np.fromiter(map(_VALUE, items), np.float64, n)
        tags = list(map(_TAG, items))
    return simple_value_payload_groups(walls, steps, tags, values)


_WALL, _STEP, _TAG, _VALUE = (itemgetter(i) for i in range(1, 5))


def _device_scalar_event(wall: float, step: int, tag: str, value: Any) -> bytes:
    return _scalar_event(wall, step, tag, value)


_SCALAR = encoder_code(_scalar_event, _scalar_rows)  # value: a float
_TEXT = encoder_code(_text_event)  # value: one str ("tensor": rank 0)
_TEXT_COMPAT = encoder_code(_text_event_compat)  # value: one str ("compat": shape [1])
_DEVICE_SCALAR = encoder_code(_device_scalar_event)  # value: a Deferred (device scalar), one by one


def _scalar_summary(
    tag: str, value: Any, display_name: str, description: str, new_style: bool, summary_format: str
) -> Any:
    return _scalar(
        tag,
        resolved_float(value),
        display_name=display_name,
        description=description,
        new_style=new_style,
        summary_format=summary_format,
    )


# Arrays from this size on are binned on the caller (TensorFlow's buckets, compiled) or snapshot
# into recycled buffers.
_POOL_MIN = 256 << 10


def _pooled_histogram(
    tag: str,
    buffer: np.ndarray,
    bins: Any,
    max_bins: int | None,
    summary_format: str,
    give_buffer: Callable[[np.ndarray], None],
) -> bytes:
    """Background side of a large histogram (edges of its own, or no compiled binning): bin the
    snapshot, then hand its buffer back (``give_buffer``)."""
    try:
        return _histogram_bytes(tag, buffer, bins, max_bins, summary_format)
    finally:
        give_buffer(buffer)


def _histogram_now(tag: str, array: np.ndarray, bins: Any, max_bins: int | None, summary_format: str) -> bytes:
    """The serialized histogram ``Summary`` of ``array``, computed on the caller (one compiled
    pass, shared with the compiled helper's worker thread where there are two CPUs or more)."""
    return _histogram_bytes(tag, array, bins, max_bins, summary_format, parts=min(_threads.THREADS, 2))


def _snapshot_histogram(
    tag: str, snapshot: bytes, dtype: np.dtype[Any], size: int, bins: Any, max_bins: int | None, summary_format: str
) -> bytes:
    """Background side of a small histogram: the values are the bytes of a C-order copy (``size`` of ``dtype``)."""
    return _histogram_bytes(tag, np.frombuffer(snapshot, dtype, size), bins, max_bins, summary_format)


def _rows_histogram(tag: str, rows: Any, stats: Any = None) -> Any:
    """Background side of rows binned already (on the caller or a device): wait for them if needed, wrap them.

    ``stats`` ``None``: the ``"tensor"`` encoding; else ``"compat"`` (``rows`` may then be a
    :class:`Deferred` of ``(rows, stats)``, and ``stats`` is ``True``).
    """
    if isinstance(rows, Deferred):
        rows = rows.resolve()
    if stats is None:
        return rows_summary(tag, rows)
    if stats is True:
        rows, stats = rows
    return histogram_summary_bytes(tag, rows, stats)


def _is_empty(x: Any) -> bool:
    """Whether a tensor-like ``x`` has no elements (``numel``/``size``), without copying it."""
    numel = getattr(x, "numel", None)
    return callable(numel) and numel() == 0


def scalar_value(tag: str, value: Any) -> Any:
    """``value`` as a Python float, or a :class:`Deferred` device scalar (a bool is 1.0 or 0.0, as
    for the peers and for NumPy and torch booleans)."""
    if type(value) is float:
        return value
    if isinstance(value, str | bytes) or value is None:
        raise TypeError(f"tag {tag!r}: expected a real number for a scalar, got {type(value).__name__}: {value!r}")
    if isinstance(value, int | float):
        try:
            return float(value)
        except OverflowError:
            raise ValueError(
                f"tag {tag!r}: the scalar {_short(value)} cannot be represented as a float64 (|x| > 1.8e308)"
            ) from None
    array = to_numpy(value, tag=tag, defer=True)
    if isinstance(array, Deferred):
        return array
    if array.size != 1 or array.dtype.kind not in "biuf":
        raise ValueError(
            f"tag {tag!r}: expected a single real number for a scalar, got an array of shape "
            f"{array.shape} and dtype {array.dtype}"
        )
    return _float64(tag, "the scalar", array)


def _float64(tag: str, what: str, array: np.ndarray) -> float:
    """The one real value of ``array`` as a float; a ``ValueError`` naming ``tag`` if it is finite but beyond float64."""
    with np.errstate(over="ignore"):
        number = float(array.reshape(()))
    if math.isinf(number) and np.isfinite(array).all():  # e.g. a longdouble beyond float64
        raise ValueError(
            f"tag {tag!r}: {what} {_short(array.reshape(()).item())} cannot be represented as a float64 (|x| > 1.8e308)"
        )
    return number


def _text_arg(tag: str, name: str, value: Any) -> str:
    """A text argument (display_name, summary_description): a str; ``None`` or ``False`` (torch's default in that positional slot) mean ""."""
    if isinstance(value, str):
        return value
    if value is None or value is False:
        return ""
    raise TypeError(f"tag {tag!r}: {name} must be a str, got {type(value).__name__}")


def _short(value: Any) -> str:
    """``repr(value)``, cut to 40 characters (an int of 400 digits stays readable in a message)."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...{text[-10:]} ({len(text)} characters)"


_F32_MAX = float(np.finfo(np.float32).max)
_F32_OVERFLOW = 3.4028235677973366e38  # float64 values from here on become inf as float32 (round to nearest)


def beyond_float32(value: Any) -> bool:
    """Whether a queued scalar is a finite float that float32 (what ``simple_value`` holds) stores as ±inf."""
    return type(value) is float and math.isfinite(value) and abs(value) >= _F32_OVERFLOW


class CoreMethods(MethodsBase):
    """``add_scalar``, ``add_scalars``, ``add_histogram(_raw)``, ``add_text``, ``add_tensor``."""

    def add_scalar(
        self,
        tag: str,
        scalar_value: Any = _MISSING,
        global_step: Any = None,
        walltime: Any = None,
        new_style: bool = False,
        double_precision: bool = False,
        *,
        value: Any = _MISSING,
        display_name: str = "",
        summary_description: str = "",
    ) -> None:
        """Log one scalar.

        Args:
            tag: series name (``/`` groups charts).
            scalar_value: a number, NumPy scalar, 1-element array or tensor
                (``value=`` is MXBoard's spelling; a dict or ``(name, value)``
                pairs there log several lines, as MXBoard did).
            global_step: int step (default 0).
            walltime: seconds since the epoch (default now).
            new_style: write a rank-0 float32 tensor instead of ``simple_value``.
            double_precision: accepted for torch compatibility; TensorBoard's
                Rust loader drops float64 scalars, so float32 is written.
            display_name, summary_description: shown by TensorBoard (forces the
                tensor encoding, which carries metadata). tensorboardX takes them
                positionally after ``walltime``: a str in the ``new_style`` or
                ``double_precision`` slot is read in that order.

        On disk: see :mod:`anyboard.summary.scalar`. A value no float64 can hold
        (``10**400``) raises ``ValueError``; a finite value beyond float32's range
        (``2**1000``) is written as ±inf, the precision of a TensorBoard scalar,
        with one ``RuntimeWarning`` per writer and tag.
        """
        # Fast path (the common call: a float, an int step, a tag seen before):
        # the same checks as below in a few type tests, then one tuple queued
        # with the main stream's put (anyboard.io.stream.Stream.put).
        if (
            type(scalar_value) is float
            and type(global_step) is int
            and walltime is None
            and type(tag) is str
            and tag in self._fast_tags  # empty while use_metadata applies
            and -0x3FFFFFFF <= global_step <= 0x3FFFFFFF  # _FAST_STEP, as constants
            and not (new_style or display_name or summary_description)
            and -3.4028234663852886e38 <= scalar_value <= 3.4028234663852886e38  # float32's range (NaN, inf: below)
        ):
            self._main_put((_SCALAR, _time(), global_step, tag, scalar_value))
            return None
        tag = self._tag(tag)
        tag = summary_tag(self._file_layout, tag)
        if isinstance(new_style, str) or isinstance(double_precision, str):
            # tensorboardX's positional order: (tag, value, step, walltime, display_name, summary_description)
            if display_name or summary_description:
                raise TypeError(
                    f"tag {tag!r}: add_scalar got display_name/summary_description both positionally "
                    "(tensorboardX's order) and as keywords"
                )
            display_name, summary_description = new_style, double_precision  # checked below
            new_style = double_precision = False
        if scalar_value is _MISSING:
            if value is _MISSING:
                raise TypeError(f"tag {tag!r}: add_scalar needs a value (scalar_value= or value=)")
            scalar_value = value
        if type(scalar_value) is not float:
            if isinstance(scalar_value, Mapping):
                if not scalar_value:  # as an empty list: nothing to log is a mistake here
                    raise TypeError(f"tag {tag!r}: expected a number or a non-empty dict of name -> number, got {{}}")
                return self.add_scalars(tag, scalar_value, global_step, walltime)
            if isinstance(scalar_value, list | tuple) and scalar_value and not isinstance(scalar_value[0], int | float):
                pairs: Any = [scalar_value] if isinstance(scalar_value[0], str) else scalar_value
                try:
                    named = dict(pairs)
                except (TypeError, ValueError):
                    raise TypeError(
                        f"tag {tag!r}: expected a number, a dict of name -> number or (name, number) pairs, "
                        f"got {scalar_value!r}"
                    ) from None
                return self.add_scalars(tag, named, global_step, walltime)
            scalar_value = _to_scalar(tag, scalar_value)
        if beyond_float32(scalar_value):
            self._warn_float32(tag, scalar_value)
        step = self._step(tag, global_step)
        if not _STEP_MIN <= step <= _STEP_MAX:
            raise ValueError(f"tag {tag!r}: global_step {step} does not fit in int64")
        wall = self._walltime(tag, walltime)
        if new_style or display_name or summary_description:
            display_name = _text_arg(tag, "display_name", display_name)
            summary_description = _text_arg(tag, "summary_description", summary_description)
            _check_utf8(tag, display_name + summary_description)
            args = (tag, scalar_value, display_name, summary_description, new_style, self._summary_format)
            self._emit(tag, _scalar_summary, args, step, wall)
            return None
        code = _SCALAR if type(scalar_value) is float else _DEVICE_SCALAR
        self._main.put((code, wall, step, tag, scalar_value))
        return None

    def _warn_float32(self, tag: str, value: float, key: str | None = None) -> None:
        """One warning per writer and tag (and ``add_scalars`` key): a finite scalar beyond float32's range is ±inf."""
        warned = self._extras.setdefault("_anyboard_float32_warned", set())
        if (tag, key) not in warned:
            warned.add((tag, key))
            where = f"tag {tag!r}" if key is None else f"tag {tag!r}, add_scalars key {key!r}"
            warnings.warn(
                f"{where}: {value!r} is beyond float32's range (|x| > 3.4e38), the precision of a TensorBoard "
                f"scalar; it is written as {'inf' if value > 0 else '-inf'} (warned once per tag)",
                RuntimeWarning,
                stacklevel=3,
            )

    def add_scalars(
        self, main_tag: str, tag_scalar_dict: Mapping[str, Any], global_step: Any = None, walltime: Any = None
    ) -> None:
        """Log several scalars as lines of one chart.

        Each key goes to its own sub-run ``<logdir>/<main_tag>_<key>`` (``/`` in
        ``main_tag`` becomes ``_``, as torch does; other unsafe characters are
        %-escaped; ``<logdir>/<main_tag>/<key>`` with ``file_layout="tensorboardX"``)
        under tag ``main_tag``. All sub-runs share this writer's
        background thread. The call is all or nothing: every value is checked
        and every sub-run's file opened before anything is queued.
        """
        main_tag = self._tag(main_tag)
        if not isinstance(tag_scalar_dict, Mapping):
            raise TypeError(
                f"tag {main_tag!r}: expected a dict of name -> scalar, got {type(tag_scalar_dict).__name__}"
            )
        if not tag_scalar_dict:
            raise ValueError(f"tag {main_tag!r}: add_scalars got an empty dict; expected at least one name -> scalar")
        step = global_step if type(global_step) is int else self._step(main_tag, global_step)
        if not _STEP_MIN <= step <= _STEP_MAX:
            raise ValueError(f"tag {main_tag!r}: global_step {step} does not fit in int64")
        wall = self._walltime(main_tag, walltime)
        streams = self._scalars_streams
        written_tag = summary_tag(self._file_layout, main_tag)  # the sub-runs keep main_tag as given
        items: list[Any] = []
        for key, value in tag_scalar_dict.items():
            if type(value) is not float:
                if not isinstance(key, str):
                    raise TypeError(
                        f"tag {main_tag!r}: add_scalars keys must be str, got {type(key).__name__}: {key!r}"
                    )
                try:
                    value = _to_scalar(main_tag, value)
                except (TypeError, ValueError) as exc:  # name the main tag (as given) and the key
                    raise type(exc)(f"{exc} (add_scalars key {key!r})") from None
            if beyond_float32(value):
                self._warn_float32(main_tag, value, key)
            items.append((streams.get((main_tag, key)), key, value))
        runs = {}  # every new sub-run's name first: a refused one leaves no other sub-run made
        for stream, key, _ in items:
            if stream is None:
                if not isinstance(key, str):
                    raise TypeError(
                        f"tag {main_tag!r}: add_scalars keys must be str, got {type(key).__name__}: {key!r}"
                    )
                runs[key] = scalars_run(self._file_layout, main_tag, key, url=self._url_names)
        for i, (stream, key, value) in enumerate(items):
            if stream is None:
                stream = self._run_stream(runs[key])
                streams[(main_tag, key)] = stream
                items[i] = (stream, key, value)
        for stream, _, value in items:
            stream.put((_SCALAR if type(value) is float else _DEVICE_SCALAR, wall, step, written_tag, value))

    def add_histogram(
        self,
        tag: str,
        values: Any,
        global_step: Any = None,
        bins: Any = "tensorflow",
        walltime: Any = None,
        max_bins: int | None = None,
    ) -> None:
        """Log the distribution of ``values`` (any shape; flattened).

        ``bins``: ``"tensorflow"`` (the peers' default layout), an int, a
        sequence of edges, or a NumPy bin rule name. On disk and the rule for
        NaN/Inf: see :mod:`anyboard.summary.histogram` (the writer's ``summary_format``
        picks the encoding). An empty ``values`` raises ``ValueError``, as both peers do;
        ``bins`` may name at most :data:`~anyboard.summary.histogram.MAX_BUCKETS` buckets.
        """
        tag = self._tag(tag)
        tag = summary_tag(self._file_layout, tag)
        if isinstance(bins, str):
            if bins not in _HIST_BINS:
                raise ValueError(
                    f"tag {tag!r}: bins must be one of {_HIST_BINS}, an int or a sequence of edges, got {bins!r}"
                )
        elif isinstance(bins, bool):
            raise TypeError(f"tag {tag!r}: bins must be a bin rule name, an int or a sequence of edges, got bool")
        elif isinstance(bins, int | np.integer):
            if not 1 <= bins <= MAX_BUCKETS:
                raise ValueError(f"tag {tag!r}: bins must be an int in 1..{MAX_BUCKETS:_}, got {bins}")
            bins = int(bins)
        else:
            try:
                with np.errstate(over="ignore"):  # a longdouble beyond float64: inf, refused below
                    edges = np.asarray(bins, dtype=np.float64)
            except (TypeError, ValueError):
                raise TypeError(
                    f"tag {tag!r}: bins must be a bin rule name, an int or a sequence of edges, got {bins!r}"
                ) from None
            if edges.ndim != 1 or edges.size < 2 or np.any(edges[1:] < edges[:-1]) or not np.isfinite(edges).all():
                raise ValueError(f"tag {tag!r}: bins as edges must be a 1-D increasing finite sequence of >= 2 values")
            if edges.size > MAX_BUCKETS + 1:
                raise ValueError(
                    f"tag {tag!r}: at most {MAX_BUCKETS:_} buckets ({MAX_BUCKETS + 1:_} edges), got {edges.size:_} edges"
                )
            bins = edges
        if max_bins is not None and not (isinstance(max_bins, int | np.integer) and max_bins >= 1):
            raise ValueError(f"tag {tag!r}: max_bins must be a positive int, got {max_bins!r}")
        fmt = self._summary_format
        compat = fmt == "compat"
        # A tensor on a GPU is binned there: only the [k, 3] rows (and the statistics) cross to
        # the host, and the caller does not wait for the device (rows may be a Deferred).
        if module_root(values) == "torch" and isinstance(bins, str) and bins in TF_BINS:
            from anyboard.adapters.device_histogram import device_histogram_rows

            if _is_empty(values):
                raise ValueError(f"tag {tag!r}: add_histogram got an empty array (no values to bin)")
            rows = device_histogram_rows(values, bins, max_bins, tag=tag, with_stats=compat)
            if rows is not None:
                args = (tag, rows, True) if compat else (tag, rows)
                self._emit(
                    tag,
                    _rows_histogram,
                    args,
                    global_step,
                    walltime,
                    nbytes=encode_bytes(0, np.dtype(np.float64), bins),
                )
                return
        array = self._array(tag, values, copy=False)  # a CPU tensor: a view (the adapter's fast case)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"tag {tag!r}: expected real numeric values for a histogram, got dtype {array.dtype}")
        if array.size == 0:
            raise ValueError(
                f"tag {tag!r}: add_histogram got an empty array (shape {array.shape}); expected at least one value"
            )
        extra = encode_bytes(array.size, array.dtype, bins, fmt)
        core = self._core
        step, wall = self._step(tag, global_step), self._walltime(tag, walltime)  # before any pass or copy
        if array.nbytes >= _POOL_MIN and isinstance(bins, str) and bins in TF_BINS and native_binning():
            # A large array with TensorFlow's buckets is binned here, in one compiled pass shared
            # with the compiled worker thread (0.2-0.3 ms per 1e6 float32 on two free cores): no
            # snapshot to copy (0.25 ms) and bin again on the writer thread (0.4-0.6 ms), so a
            # burst of them ends when its last call returns (issue #21: benchmarks/README.md).
            summary = _histogram_now(tag, array, bins, max_bins, fmt)
            self._emit(tag, bytes, (summary,), step, wall, nbytes=len(summary))
            return
        if array.nbytes >= _POOL_MIN and array.dtype.isnative:
            # A large snapshot goes into a recycled buffer (no fresh pages to fault in);
            # the background thread hands it back once it has binned it.
            # The pool is the process's (shared by every writer), so a fresh writer finds the
            # buffers an earlier one left (see anyboard.io.buffer_pool).
            buffer = core.take_buffer(array.nbytes, array.dtype.str)
            if buffer is not None:
                np.copyto(buffer.reshape(array.shape), array)
            else:
                # No warm buffer: a fresh one in huge pages where they are cheap (0.13-0.2 ms for
                # 4 MB here, against 1.4 ms in 4 KiB pages); it joins the pool once binned.
                buffer = fresh_copy(array)
            if buffer is None:
                buffer = np.empty(array.size, array.dtype)
                np.copyto(buffer.reshape(array.shape), array)
            pooled = (tag, buffer, bins, max_bins, fmt, core.give_buffer)
            self._emit(tag, _pooled_histogram, pooled, step, wall, nbytes=array.nbytes + extra)
            return
        # A small array: its bytes (a copy that keeps the GIL, unlike NumPy's copies of more than
        # a few hundred values: a caller that lets the GIL go may wait a whole switch interval,
        # 5 ms, to get it back from the writer thread), binned on the writer thread.
        snapshot = (tag, array.tobytes(), array.dtype, array.size, bins, max_bins, fmt)
        self._emit(tag, _snapshot_histogram, snapshot, step, wall, nbytes=array.nbytes + extra)

    def add_histogram_raw(
        self,
        tag: str,
        min: float,  # min, max, sum: the peers' argument names
        max: float,
        num: float,
        sum: float,
        sum_squares: float,
        bucket_limits: Any,
        bucket_counts: Any,
        global_step: Any = None,
        walltime: Any = None,
    ) -> None:
        """Log a histogram from precomputed statistics (legacy ``HistogramProto``).

        ``bucket_counts[i]`` counts values in ``(bucket_limits[i-1], bucket_limits[i]]``.
        """
        tag = self._tag(tag)
        stats: list[Any] = []
        for name, v in (("min", min), ("max", max), ("num", num), ("sum", sum), ("sum_squares", sum_squares)):
            try:
                value = to_numpy(v, tag=tag)
                if value.dtype.kind == "c":  # float() would drop the imaginary part, warning
                    raise TypeError
                value = value.reshape(())  # one value
                if value.dtype.kind not in "biuf":  # an object or a string that reads as a number
                    value = np.asarray(float(value))
            except (TypeError, ValueError):
                raise TypeError(f"tag {tag!r}: {name} must be a real number, got {type(v).__name__}") from None
            except OverflowError:  # an int beyond float64
                raise ValueError(
                    f"tag {tag!r}: {name} {_short(v)} cannot be represented as a float64 (|x| > 1.8e308)"
                ) from None
            stats.append(_float64(tag, name, value))
        limits = self._array(tag, bucket_limits)
        counts = self._array(tag, bucket_counts)
        # validates on the caller
        low, high, count, total, squares = stats
        summary = _histogram_raw(
            tag, low, high, count, total, squares, limits, counts, summary_format=self._summary_format
        )
        self._emit(tag, bytes, (summary.SerializeToString(),), global_step, walltime)

    def add_text(
        self,
        tag: str,
        text_string: Any = _MISSING,
        global_step: Any = None,
        walltime: Any = None,
        *,
        text: Any = _MISSING,
    ) -> None:
        """Log Markdown text (a str; or a 1-D/2-D list of str, shown as a table).

        The tag is kept as given (the peers append ``/text_summary``). ``text=``
        is MXBoard's spelling. On disk: see :mod:`anyboard.summary.text`.
        """
        tag = self._tag(tag)
        if text_string is _MISSING:
            if text is _MISSING:
                raise TypeError(f"tag {tag!r}: add_text needs text_string (or text=)")
            text_string = text
        if isinstance(text_string, bytes):
            text_string = text_string.decode("utf-8", "replace")
        if type(text_string) is str:  # one string: the writer thread writes its event without protobuf objects
            if not text_string.isascii():
                _check_utf8(tag, text_string)
            step = self._step(tag, global_step)
            wall = self._walltime(tag, walltime)
            code = _TEXT_COMPAT if self._summary_format == "compat" else _TEXT
            self._main.put((code, wall, step, tag, text_string), 256 + 4 * len(text_string))
            return
        if not isinstance(text_string, str):
            array = np.array(text_string, dtype=object)
            if array.ndim not in (1, 2) or array.size == 0 or not all(isinstance(x, str) for x in array.flat):
                raise TypeError(
                    f"tag {tag!r}: expected a str, or a 1-D or 2-D list of str, got {type(text_string).__name__}"
                )
            # the strings, their UTF-8 copies and the proto (64 bytes per cell for the objects)
            nbytes = 256 + 64 * array.size + 3 * _check_utf8(tag, "".join(array.flat))
            text_string = array
        else:  # a str subclass
            nbytes = 256 + 3 * _check_utf8(tag, str(text_string))
        self._emit(tag, _text, (tag, text_string, self._summary_format), global_step, walltime, nbytes=nbytes)

    def add_tensor(self, tag: str, tensor: Any, global_step: Any = None, walltime: Any = None) -> None:
        """Log a raw tensor (any shape; numeric, bool or str) under plugin ``tensor``."""
        tag = self._tag(tag)
        array = self._array(tag, tensor)
        strings = array.dtype.kind in "US" or (
            array.dtype == object and all(isinstance(x, str | bytes) for x in array.flat)
        )
        if not strings and array.dtype.newbyteorder("=") not in _TENSOR_DTYPES:  # e.g. float128: no TensorProto type
            raise TypeError(
                f"tag {tag!r}: add_tensor expects a numeric, bool or string array of a TensorBoard type "
                f"({', '.join(sorted(str(d) for d in _TENSOR_DTYPES))}), got dtype {array.dtype}"
            )
        if strings:
            texts = [x for x in array.flat if isinstance(x, str)]
            size = _check_utf8(tag, "".join(texts)) + sum(len(x) for x in array.flat if not isinstance(x, str))
            nbytes = array.nbytes + 3 * size + 64 * array.size + 256
        else:
            size = array.nbytes
            nbytes = 3 * array.nbytes + 256  # the snapshot, tensor_content and the serialized event
        if size >= _PROTO_LIMIT:
            raise ValueError(f"tag {tag!r}: the tensor holds {size:_} bytes; one event must stay under 2 GiB")
        self._emit(tag, _tensor, (tag, array), global_step, walltime, nbytes=nbytes)


def _check_utf8(tag: str, text: str) -> int:
    """The UTF-8 length of ``text``; a ``ValueError`` naming ``tag`` if it cannot be encoded (lone surrogates)."""
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise ValueError(f"tag {tag!r}: text must be encodable as UTF-8 (no lone surrogates): {exc}") from None


_TENSOR_DTYPES = frozenset(supported_dtypes())
_PROTO_LIMIT = (1 << 31) - (1 << 20)  # a protobuf message must stay under 2 GiB (margin for the envelope)


# add_scalar's parameter ``scalar_value`` (the peers' name) shadows the function there.
_to_scalar = scalar_value
