"""Audio, PR curves, meshes and custom-scalar layouts (``add_audio``, ``add_pr_curve``, ...).

Every method checks its arguments on the caller's thread (raising
``ValueError``/``TypeError`` that name the tag) and snapshots the arrays;
WAV encoding, PR-curve binning and proto building run on the writer's
background thread. On-disk encodings: :mod:`anyboard.summary.audio`,
:mod:`anyboard.summary.pr_curve`, :mod:`anyboard.summary.mesh`,
:mod:`anyboard.summary.custom_scalars`.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from anyboard._layout import TENSORBOARDX, TORCH, mesh_tag
from anyboard._methods.base import MethodsBase
from anyboard.proto.mesh_pb2 import MeshPluginData
from anyboard.summary import custom_scalars as _cs
from anyboard.summary.audio import audio as _audio
from anyboard.summary.mesh import mesh as _mesh
from anyboard.summary.pr_curve import pr_curve as _pr_curve
from anyboard.summary.pr_curve import pr_curve_raw as _pr_curve_raw

_MISSING: Any = object()
_DEFAULT_THRESHOLDS = 127
_PREDICTION_SLACK = 1e-6  # predictions this far outside [0, 1] go to the end buckets (rounding), beyond: refused
_PROTO_LIMIT = (1 << 31) - (1 << 20)  # a protobuf message must stay under 2 GiB (margin for the envelope)
_F32_OVERFLOW = 3.4028235677973366e38  # float64 values from here on become inf as float32 (round to nearest)
_F64_MAX = float(np.finfo(np.float64).max)
MAX_THRESHOLDS = 10_000_000
"""The most thresholds a PR curve may have: its ``[6, n]`` float32 tensor is then 240 MB
(the peers cap ``n`` at 127; a protobuf message cannot exceed 2 GiB)."""


def _mesh_tensorboardx(tag: str, *args: Any) -> Any:
    """:func:`anyboard.summary.mesh.mesh` with tensorboardX's component tags ``<tag>_1``/``_2``/``_3``."""
    summary = _mesh(tag, *args)
    for value in summary.value:
        content_type = MeshPluginData.FromString(value.metadata.plugin_data.content).content_type
        value.tag = mesh_tag(TENSORBOARDX, tag, content_type)
    return summary


def _first_outside(a: np.ndarray, low: float, high: float) -> Any:
    """The first value of ``a`` outside ``[low, high]`` (NaN is outside), or ``None``."""
    inside = (a >= low) & (a <= high)
    return None if inside.all() else a[~inside].flat[0]


def _int_arg(tag: str, name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"tag {tag!r}: {name} must be an int, got {type(value).__name__}: {value!r}")
    if value < minimum:
        raise ValueError(f"tag {tag!r}: {name} must be >= {minimum}, got {value}")
    return int(value)


def _audio_frames(tag: str, x: np.ndarray) -> np.ndarray:
    """``x`` as ``[frames, channels]`` (see ``add_audio`` for the accepted shapes)."""
    if x.ndim == 1:
        x = x[:, None]
    elif x.ndim == 2 and x.shape[1] not in (1, 2) and x.shape[0] == 1:
        x = x.T  # torch's (1, L) mono layout
    if x.ndim != 2 or x.shape[1] not in (1, 2):
        raise ValueError(f"tag {tag!r}: audio must have shape (L,), (L, 1), (L, 2) or (1, L), got {x.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"tag {tag!r}: audio is empty (shape {x.shape}); expected at least one frame")
    if x.dtype.kind in "if" and not x.dtype.isnative:  # big-endian samples: the same values, native order
        x = x.astype(x.dtype.newbyteorder("="))
    if x.dtype != np.int16 and x.dtype.kind != "f":
        raise TypeError(f"tag {tag!r}: audio samples must be float (in [-1, 1]) or int16, got dtype {x.dtype}")
    return x


class Methods(MethodsBase):
    """``add_audio``, ``add_pr_curve(_raw)``, ``add_mesh``, ``add_custom_scalars*``."""

    def add_audio(
        self,
        tag: str,
        snd_tensor: Any = _MISSING,
        global_step: Any = None,
        sample_rate: int = 44100,
        walltime: Any = None,
        *,
        audio: Any = _MISSING,
    ) -> None:
        """Log one audio clip as a 16-bit PCM WAV.

        Args:
            tag: the tag.
            snd_tensor: samples (``audio=`` is MXBoard's spelling). Shapes:
                ``(L,)`` or ``(L, 1)`` mono, ``(L, 2)`` stereo (left, right),
                and torch's ``(1, L)`` mono when ``L > 2``. dtype: float with
                values in ``[-1, 1]`` (values outside are clipped, with one
                warning per writer and tag; NaN is written as silence), or
                ``int16`` stored as is.
            global_step: int step (default 0).
            sample_rate: frames per second, a positive int (or a float with an
                integer value, such as ``16000.0``).
            walltime: seconds since the epoch (default now).

        Positional calls follow tensorboardX/torch; MXBoard's positional order
        ``(tag, audio, sample_rate, global_step)`` needs keywords.
        On disk: see :mod:`anyboard.summary.audio`.
        """
        tag = self._tag(tag)
        if snd_tensor is _MISSING:
            if audio is _MISSING:
                raise TypeError(f"tag {tag!r}: add_audio needs samples (snd_tensor= or audio=)")
            snd_tensor = audio
        if isinstance(sample_rate, float | np.floating) and float(sample_rate).is_integer():
            sample_rate = int(sample_rate)  # 16000.0: torch's writer takes it too
        sample_rate = _int_arg(tag, "sample_rate", sample_rate, 1)
        if sample_rate >= 1 << 31:
            raise ValueError(f"tag {tag!r}: sample_rate must be < 2**31 (a WAV header field), got {sample_rate}")
        x = _audio_frames(tag, self._array(tag, snd_tensor))
        if 2 * x.size >= _PROTO_LIMIT:
            raise ValueError(f"tag {tag!r}: {x.shape[0]:_} frames make a WAV over 2 GiB, more than one event can hold")
        # NaN compares False (it is written as silence, without a warning); +-Inf is clipped.
        if x.dtype.kind == "f" and bool((np.abs(x) > 1.0).any()):
            warned = self._extras.setdefault("_anyboard_audio_clip_warned", set())
            if tag not in warned:
                warned.add(tag)
                warnings.warn(
                    f"tag {tag!r}: audio samples outside [-1, 1] were clipped (warned once per tag)", stacklevel=2
                )
        # The writer thread holds the float64 and int16 conversions, the WAV and its copy.
        nbytes = x.nbytes + x.size * 16 + 65536
        self._emit(tag, _audio, (tag, x, sample_rate, self._summary_format), global_step, walltime, nbytes=nbytes)

    def add_pr_curve(
        self,
        tag: str,
        labels: Any,
        predictions: Any,
        global_step: Any = None,
        num_thresholds: int = _DEFAULT_THRESHOLDS,
        weights: Any = None,
        walltime: Any = None,
    ) -> None:
        """Log a precision-recall curve computed from labels and predictions.

        Args:
            tag: the tag.
            labels: bool, or numbers that are all 0 or 1; any shape.
            predictions: probabilities in ``[0, 1]`` (NaN is an error), as
                many elements as ``labels``.
            global_step: int step (default 0).
            num_thresholds: number of thresholds ``n >= 2`` (no cap); the
                thresholds are ``i / (n - 1)``.
            weights: ``None`` (1 each), a non-negative number, or one
                non-negative weight per example.
            walltime: seconds since the epoch (default now).

        Positional calls follow tensorboardX/torch (the 4th argument is the step);
        MXBoard's positional order ``(tag, labels, predictions, num_thresholds)``
        needs ``num_thresholds=`` as a keyword.
        On disk and the algorithm: see :mod:`anyboard.summary.pr_curve`.
        """
        tag = self._tag(tag)
        n = _int_arg(tag, "num_thresholds", num_thresholds, 2)
        if n > MAX_THRESHOLDS:
            raise ValueError(
                f"tag {tag!r}: num_thresholds must be at most {MAX_THRESHOLDS:_} "
                f"(a [6, n] float32 tensor of {24 * n / 2**30:.3g} GiB otherwise), got {n:_}"
            )
        y = self._array(tag, labels)
        p = self._array(tag, predictions)
        if y.size != p.size:
            raise ValueError(
                f"tag {tag!r}: labels and predictions must have the same number of elements, got {y.shape} and {p.shape}"
            )
        if y.dtype.kind not in "biuf":
            raise TypeError(f"tag {tag!r}: labels must be bool or numbers in [0, 1], got dtype {y.dtype}")
        # 0/1, or soft labels (a share of the example's weight counted positive), as the peers take them
        if y.dtype.kind != "b" and (bad := _first_outside(y, 0.0, 1.0)) is not None:
            raise ValueError(f"tag {tag!r}: labels must be bool or in [0, 1] (no NaN), got values such as {bad!r}")
        if p.dtype.kind not in "biuf":
            raise TypeError(f"tag {tag!r}: predictions must be real numbers in [0, 1], got dtype {p.dtype}")
        # A probability a few ulps outside [0, 1] (a softmax, a ratio) goes to the end bucket, as the peers put it
        if (bad := _first_outside(p, -_PREDICTION_SLACK, 1 + _PREDICTION_SLACK)) is not None:
            raise ValueError(f"tag {tag!r}: predictions must be in [0, 1] (no NaN), got {bad!r}")
        w: Any = 1.0
        if weights is not None:
            w = self._array(tag, weights)
            if w.dtype.kind not in "biuf" or (w.ndim and w.size != y.size):
                raise ValueError(
                    f"tag {tag!r}: weights must be a number or one number per example ({y.size}), "
                    f"got shape {w.shape} dtype {w.dtype}"
                )
            if not (np.isfinite(w).all() and np.all(w >= 0)):
                raise ValueError(f"tag {tag!r}: weights must be finite and >= 0")
            w = w.astype(np.float64) if w.ndim else float(w)
        # The writer thread's temporaries: per example the float64 labels, a float64, an int64 and
        # three float64 weight columns (labels * w, 1 - labels, (1 - labels) * w); per threshold
        # about 25 float64 arrays, the float32 tensor and its proto.
        nbytes = y.nbytes + p.nbytes + 48 * y.size + 256 * n + 4096
        self._emit(tag, _pr_curve, (tag, y, p, n, w), global_step, walltime, nbytes=nbytes)

    def add_pr_curve_raw(
        self,
        tag: str,
        true_positive_counts: Any,
        false_positive_counts: Any,
        true_negative_counts: Any,
        false_negative_counts: Any,
        precision: Any,
        recall: Any,
        global_step: Any = None,
        num_thresholds: int = _DEFAULT_THRESHOLDS,
        weights: Any = None,
        walltime: Any = None,
    ) -> None:
        """Log a precision-recall curve from precomputed per-threshold values.

        The six arguments are 1-D, finite, of one common length ``n >= 2``
        (column ``i`` is threshold ``i / (n - 1)``); counts must be >= 0.
        ``num_thresholds`` must equal ``n``, except that the default 127 is
        accepted for any ``n`` (the peers write the arrays as given and
        TensorBoard reads ``n`` from them). ``weights`` is accepted for
        signature compatibility and ignored, as in the peers.

        On disk the six rows are one ``[6, n]`` float32 tensor. The scalar
        rule applies to each value: beyond float64 (a longdouble 1e400) is a
        ``ValueError`` naming the tag; finite but beyond float32's range
        (``|x| >= 3.4028235677973366e38``) is written as ±inf with one
        ``RuntimeWarning`` per writer and tag.
        """
        tag = self._tag(tag)
        n_arg = _int_arg(tag, "num_thresholds", num_thresholds, 2)
        names = (
            "true_positive_counts",
            "false_positive_counts",
            "true_negative_counts",
            "false_negative_counts",
            "precision",
            "recall",
        )
        arrays = []
        for name, value in zip(
            names,
            (
                true_positive_counts,
                false_positive_counts,
                true_negative_counts,
                false_negative_counts,
                precision,
                recall,
            ),
        ):
            a = self._array(tag, value)
            if a.ndim != 1 or a.dtype.kind not in "biuf":
                raise ValueError(
                    f"tag {tag!r}: {name} must be a 1-D array of numbers, got shape {a.shape} dtype {a.dtype}"
                )
            if not np.isfinite(a).all():
                raise ValueError(f"tag {tag!r}: {name} must be finite")
            if name.endswith("counts") and a.size and a.min() < 0:
                raise ValueError(f"tag {tag!r}: {name} must be >= 0, got {a.min()!r}")
            arrays.append(self._pr_float32(tag, name, a))
        lengths = {a.size for a in arrays}
        if len(lengths) != 1:
            raise ValueError(
                f"tag {tag!r}: the six PR-curve arrays must have one length, got {[a.size for a in arrays]}"
            )
        n = lengths.pop()
        if n < 2:
            raise ValueError(f"tag {tag!r}: a PR curve needs >= 2 thresholds, got arrays of length {n}")
        if n > MAX_THRESHOLDS:
            raise ValueError(
                f"tag {tag!r}: a PR curve holds at most {MAX_THRESHOLDS:_} thresholds, got arrays of length {n:_}"
            )
        if n_arg != n and n_arg != _DEFAULT_THRESHOLDS:
            raise ValueError(f"tag {tag!r}: num_thresholds={n_arg} but the arrays have length {n}")
        data = np.stack(arrays)
        self._emit(tag, _pr_curve_raw, (tag, data), global_step, walltime, nbytes=data.nbytes * 3 + 4096)

    def _pr_float32(self, tag: str, name: str, a: np.ndarray) -> np.ndarray:
        """Finite ``a`` as float32: beyond float64 is a ``ValueError``, beyond float32 ±inf with one warning per tag."""
        if a.dtype.kind == "f" and a.dtype.itemsize > 8 and a.size and np.abs(a).max() > _F64_MAX:
            raise ValueError(f"tag {tag!r}: {name} holds {np.abs(a).max()!r}, beyond float64's range")
        big = np.abs(a) >= _F32_OVERFLOW if a.dtype.kind == "f" and a.dtype.itemsize > 4 else None
        if big is None or not big.any():
            return a.astype(np.float32)
        warned = self._extras.setdefault("_anyboard_pr_float32_warned", set())
        if tag not in warned:
            warned.add(tag)
            first = float(a[big][0])
            warnings.warn(
                f"tag {tag!r}: {name} holds {first!r}, beyond float32's range (|x| > 3.4e38), the precision of "
                f"a PR curve's tensor; such values are written as +-inf (warned once per tag)",
                RuntimeWarning,
                stacklevel=3,
            )
        with np.errstate(over="ignore"):  # the overflow is reported above, not as NumPy's cast warning
            return a.astype(np.float32)

    def add_mesh(
        self,
        tag: str,
        vertices: Any,
        colors: Any = None,
        faces: Any = None,
        config_dict: Any = None,
        global_step: Any = None,
        walltime: Any = None,
    ) -> None:
        """Log a mesh or point cloud (TensorBoard's mesh plugin).

        Args:
            tag: the mesh name (component tags are ``<tag>_VERTEX``/``_FACE``/``_COLOR``;
                ``<tag>_1``/``_2``/``_3`` with ``file_layout="tensorboardX"``).
            vertices: ``[B, N, 3]`` real x, y, z (``[N, 3]`` is taken as ``B = 1``);
                finite.
            colors: optional ``[B, N, 3]`` RGB per vertex, numbers in ``[0, 255]``
                (floats are rounded), stored as uint8.
            faces: optional ``[B, F, 3]`` integer vertex indices in ``[0, N)``.
            config_dict: optional JSON-serializable dict for the viewer
                (camera, lights, material), stored as ``json_config``.
            global_step: int step (default 0).
            walltime: seconds since the epoch (default now).

        On disk: see :mod:`anyboard.summary.mesh` (all components in one event).
        """
        tag = self._tag(tag)
        v = self._mesh_array(tag, "vertices", vertices)
        if v.dtype.kind not in "biuf":
            raise TypeError(f"tag {tag!r}: vertices must be real numbers, got dtype {v.dtype}")
        if not np.isfinite(v).all():
            raise ValueError(f"tag {tag!r}: vertices must be finite (no NaN/Inf)")
        b, n = v.shape[:2]
        c = None
        if colors is not None:
            c = self._mesh_array(tag, "colors", colors)
            if c.shape != v.shape:
                raise ValueError(
                    f"tag {tag!r}: colors must have the vertices' shape {v.shape} (one RGB per vertex), got {c.shape}"
                )
            if c.dtype.kind not in "biuf":
                raise TypeError(f"tag {tag!r}: colors must be numbers in [0, 255], got dtype {c.dtype}")
            if c.size and not (np.all(c >= 0) and np.all(c <= 255)):
                raise ValueError(f"tag {tag!r}: colors must be in [0, 255] (no NaN)")
            c = np.rint(c).astype(np.uint8) if c.dtype.kind == "f" else c.astype(np.uint8)
        f = None
        if faces is not None:
            f = self._mesh_array(tag, "faces", faces)
            if f.dtype.kind not in "iu":
                raise TypeError(f"tag {tag!r}: faces must be integer vertex indices, got dtype {f.dtype}")
            if f.shape[0] != b:
                raise ValueError(f"tag {tag!r}: faces batch size {f.shape[0]} differs from vertices batch size {b}")
            if f.size and (f.min() < 0 or f.max() >= n):
                raise ValueError(
                    f"tag {tag!r}: face indices must be in [0, {n}) (the number of vertices), got [{f.min()}, {f.max()}]"
                )
            f = f.astype(np.int32)
        if config_dict is None:
            config = "{}"
        elif not isinstance(config_dict, Mapping):
            raise TypeError(f"tag {tag!r}: config_dict must be a dict, got {type(config_dict).__name__}")
        else:
            try:
                config = json.dumps(config_dict, sort_keys=True, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"tag {tag!r}: config_dict must be JSON-serializable: {exc}") from None
        with np.errstate(over="ignore"):
            v = v.astype(np.float32)
        if not np.isfinite(v).all():
            raise ValueError(
                f"tag {tag!r}: vertices must be finite float32 values (|x| < 3.4e38), got NaN, Inf or overflow"
            )
        size = v.nbytes + (c.nbytes if c is not None else 0) + (f.nbytes if f is not None else 0)
        if size >= _PROTO_LIMIT:
            raise ValueError(f"tag {tag!r}: the mesh holds {size:_} bytes; one event must stay under 2 GiB")
        nbytes = 3 * size + 4096  # the arrays, their tensor protos and the serialized event
        builder = _mesh if self._file_layout == TORCH else _mesh_tensorboardx
        self._emit(tag, builder, (tag, v, f, c, config), global_step, walltime, nbytes=nbytes)

    def _mesh_array(self, tag: str, name: str, value: Any) -> np.ndarray:
        a = self._array(tag, value)
        if a.ndim == 2:
            a = a[None]
        if a.ndim != 3 or a.shape[2] != 3:
            raise ValueError(f"tag {tag!r}: {name} must have shape [B, N, 3] (or [N, 3]), got {a.shape}")
        return a

    # -- custom scalars ------------------------------------------------------
    def add_custom_scalars(self, layout: Mapping[str, Mapping[str, Sequence[Any]]]) -> None:
        """Set the custom-scalars dashboard layout of this run.

        ``layout`` is ``{category: {title: ['Multiline', [tag_regex, ...]] |
        ['Margin', [value_tag, lower_tag, upper_tag]]}}``. It is merged into
        the layout this writer has written so far (same category and title:
        the new chart replaces the old one), and the whole merged layout is
        written, since TensorBoard shows a run's last layout. On disk: see
        :mod:`anyboard.summary.custom_scalars`.
        """
        self._merge_layout(_cs.normalize(layout))

    def add_custom_scalars_multilinechart(
        self, tags: Sequence[str], category: str = "default", title: str = "untitled"
    ) -> None:
        """Add a chart plotting every scalar tag matching one of ``tags`` (regexes).

        Charts added by earlier calls stay (see :meth:`add_custom_scalars`).
        """
        self._merge_layout(_cs.normalize({category: {title: ["Multiline", tags]}}))

    def add_custom_scalars_marginchart(
        self, tags: Sequence[str], category: str = "default", title: str = "untitled"
    ) -> None:
        """Add a chart of ``tags = [value, lower, upper]``: a line with a band.

        Charts added by earlier calls stay (see :meth:`add_custom_scalars`).
        """
        self._merge_layout(_cs.normalize({category: {title: ["Margin", tags]}}))

    def _merge_layout(self, new: dict[str, dict[str, tuple[str, tuple[str, ...]]]]) -> None:
        # the merged layout is kept only once it is queued: a refused call changes nothing
        merged = {
            category: dict(charts) for category, charts in self._extras.get("_anyboard_custom_layout", {}).items()
        }
        for category, charts in new.items():
            merged.setdefault(category, {}).update(charts)
        data = _cs.layout_proto(merged).SerializeToString()
        self._emit(_cs.CONFIG_TAG, _cs.custom_scalars, (data,), 0, None, nbytes=len(data) + 256)
        self._extras["_anyboard_custom_layout"] = merged
