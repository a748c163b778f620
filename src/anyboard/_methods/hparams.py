"""``add_hparams``: one session of TensorBoard's HParams dashboard per call."""

from __future__ import annotations

import os
import posixpath
import time
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from anyboard._methods.base import MethodsBase
from anyboard._methods.core import resolved_float, scalar_value
from anyboard._paths import safe_component, safe_relative
from anyboard.adapters import to_numpy
from anyboard.summary import hparams as _hp

_LABEL = "add_hparams"


def hparam_value(key: str, value: Any, *, strict: bool = False) -> bool | float | str | None:
    """``value`` as a bool, float or str for the dashboard, or ``None`` (skipped).

    bool/``np.bool_`` -> bool; int, float and real NumPy or framework
    scalars (any single-element array or tensor) -> float (NaN and ±Inf
    included, as both peers write them); str -> str; a function or class
    (``torch.optim.Adam``, ``torch.relu``) -> its ``__name__``, as tensorboardX
    logs it; ``None`` -> ``None``. Anything else (a list, a dict, a
    multi-element array) is skipped with a ``UserWarning`` naming ``key``, as
    tensorboardX skips it (``vars(args)`` often holds one), or with ``strict``
    raises ``TypeError`` naming ``key``.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int | float):
        return float(value)
    try:
        array = np.asarray(value) if isinstance(value, np.generic) else to_numpy(value, tag=key)
    except (TypeError, ValueError):
        array = None
    if array is not None and array.size == 1 and array.dtype.kind in "biufUS":
        item = array.reshape(()).item()
        if isinstance(item, bool | str):
            return item if isinstance(item, bool) else str(item)
        if isinstance(item, bytes):
            return item.decode("utf-8", "replace")
        return float(item)
    if callable(value) and array is None:
        return str(getattr(value, "__name__", None) or value)
    problem = (
        f"{_LABEL}: hparam {key!r} must be a bool, number, str, function or None "
        f"(or a single-element array/tensor of one), got {type(value).__name__}: {value!r}"[:400]
    )
    if strict:
        raise TypeError(problem)
    warnings.warn(f"{problem}; skipped (pass str(value) to log it as text)", stacklevel=3)
    return None


def _session(hparams: dict[str, Any], metrics: dict[str, Any], start: float, end: float) -> Any:
    resolved = {k: resolved_float(v) for k, v in metrics.items()}
    return _hp.session(hparams, resolved, start, end)


def _run_path(run_name: str, local_logdir: str | None) -> str:
    """The sub-run of ``run_name`` (``/`` or ``\\`` between levels), normalized as the peers'
    ``os.path.join(logdir, run_name)`` is by the file system: ``"."`` and ``"sub/.."`` are the
    writer's own run, and an absolute path inside a local log directory (``local_logdir``; ``None``
    for a URL) is its path below it, whichever symlinks either spelling goes through; what would
    climb above the log directory stays inside it (``..`` escaped).

    Raises:
        ValueError: an absolute path outside the local log directory (another drive too), or a
            name of separators alone (``"/"``: the file system's root for the peers).
    """
    name = run_name
    if local_logdir is not None and os.path.isabs(name):
        rel = _inside(name, local_logdir)
        if rel is None:
            raise ValueError(
                f"{_LABEL}: run_name {run_name!r} is an absolute path outside the log directory "
                f"{local_logdir!r}; pass a path relative to the log directory"
            )
        name = rel
    levels = name.replace("\\", "/")
    normal = posixpath.normpath(levels) if levels.strip("/") else levels
    run = safe_relative(normal, url=local_logdir is None, what=f"{_LABEL}: run_name")
    if not run and normal.strip("/") != ".":
        raise ValueError(f"{_LABEL}: run_name {run_name!r} names no directory")
    return run


def _inside(path: str, logdir: str) -> str | None:
    """``path`` relative to ``logdir`` when it lies inside it, as written or once symlinks are
    resolved on both sides; ``None`` when it does not (or is on another drive)."""
    for resolve in (os.path.abspath, os.path.realpath):
        try:
            rel = os.path.relpath(resolve(path), resolve(logdir))
        except ValueError:  # Windows: another drive or share
            return None
        if rel != os.pardir and not rel.startswith(os.pardir + os.sep):
            return rel
    return None


class Methods(MethodsBase):
    """``add_hparams``."""

    def add_hparams(
        self,
        hparam_dict: Mapping[str, Any],
        metric_dict: Mapping[str, Any],
        hparam_domain_discrete: Mapping[str, Any] | None = None,
        run_name: str | None = None,
        global_step: Any = None,
        *,
        name: str | None = None,
        into_run: bool = False,
    ) -> None:
        """Record one session (a set of hyperparameters and its metrics) for the HParams dashboard.

        Both peers' signatures are accepted:

        - torch: ``add_hparams(hparam_dict, metric_dict, hparam_domain_discrete=None,
          run_name=None, global_step=None)``;
        - tensorboardX: ``add_hparams(hparam_dict, metric_dict, name=None,
          global_step=None)``. A ``str`` third positional argument is
          tensorboardX's ``name`` (a run name, never a domain, which is a
          dict), and a fourth positional argument after it is then its
          ``global_step``; an integer fourth positional argument after a
          ``None`` third is tensorboardX's ``global_step`` too (a run name
          is a str). ``name=`` is the keyword spelling of ``run_name``;
          giving both raises ``TypeError``.

        Args:
            hparam_dict: ``{name: value}``. A bool stays a bool; ints, floats,
                NumPy scalars and single-element arrays/tensors become float64
                numbers (NaN and ±Inf too, as the peers write them); a str
                stays a str; a function or class is logged by its ``__name__``
                (as tensorboardX does); a ``None`` value is skipped (the column
                is left empty for this session). Anything else (a list, a dict)
                is skipped with a ``UserWarning`` naming the key, as
                tensorboardX skips it.
            metric_dict: ``{tag: number}``, each written as a scalar (the
                ``add_scalar`` encoding) in the session's run; the dashboard
                shows a metric's last value.
            hparam_domain_discrete: ``{name: [allowed values]}`` as in torch;
                checked as torch checks it (a list of values of the hparam's
                type; the value itself need not be in it). Limitation: TensorBoard takes domains only from an
                ``_hparams_/experiment`` summary, which anyboard does not
                write (TensorBoard would then use the first one it finds and
                hide the columns of every other call), so the dashboard shows
                the values actually logged as the domain.
            run_name: the session's sub-run, relative to this writer's logdir
                (``/`` nests directories; each part is made a safe name, so it
                stays inside the logdir). Default (also for ``""``, as the
                peers do): the current time (``time.time()`` with
                microseconds), made unique per writer.
            global_step: the step of the metric scalars (default 0).
            name: tensorboardX's spelling of ``run_name``.
            into_run: record the session in this writer's own run instead of a
                sub-run (``run_name`` must then be ``None``). TensorBoard
                keeps the first hyperparameters of a run, so call it once per
                run; a second call warns, and only its metrics take effect.

        On disk: see :mod:`anyboard.summary.hparams`. Every hparam key of every
        call appears as a column, because no experiment summary is written and
        TensorBoard builds the columns from all sessions.
        """
        hparam_domain_discrete, run_name, global_step = _dialect(hparam_domain_discrete, run_name, global_step, name)
        if not isinstance(hparam_dict, Mapping):
            raise TypeError(f"{_LABEL}: hparam_dict must be a dict, got {type(hparam_dict).__name__}")
        if not isinstance(metric_dict, Mapping):
            raise TypeError(f"{_LABEL}: metric_dict must be a dict, got {type(metric_dict).__name__}")
        hparams: dict[str, Any] = {}
        for key, value in hparam_dict.items():
            if not isinstance(key, str):
                raise TypeError(f"{_LABEL}: hparam names must be str, got {type(key).__name__}: {key!r}")
            self._tag(key)  # valid UTF-8, checked here rather than failing in the background
            v = hparam_value(key, value)
            if isinstance(v, str):
                self._tag(v)
            if v is not None:
                hparams[key] = v
        metrics: dict[str, Any] = {}
        for key, value in metric_dict.items():
            tag = self._tag(key)
            metrics[tag] = scalar_value(tag, value)
        if hparam_domain_discrete is not None:
            _check_domains(hparam_domain_discrete, hparams)
        step = self._step(_LABEL, global_step)
        if into_run:
            if run_name is not None:
                raise ValueError(f"{_LABEL}: pass either into_run=True or run_name={run_name!r}, not both")
            run = ""
        elif run_name is None or run_name == "":
            run = self._fresh_run_name()
        else:
            if not isinstance(run_name, str):
                raise TypeError(f"{_LABEL}: run_name must be a str, got {type(run_name).__name__}")
            run = _run_path(run_name, self._local_logdir)
        used = self._extras.setdefault("_anyboard_hparams_runs", set())
        if run in used:
            where = "this writer's run" if run == "" else f"run {run!r}"
            warnings.warn(
                f"{_LABEL}: {where} already has hyperparameters; TensorBoard keeps the first ones "
                f"(only this call's metrics take effect). Use a new run_name per session.",
                stacklevel=2,
            )
        wall = self._walltime(_LABEL, None)
        self._emit(
            _LABEL,
            _session,
            (hparams, metrics, wall, wall),
            step,
            wall,
            nbytes=512 + 64 * (len(hparams) + len(metrics)),
            run=run,
        )
        used.add(run)  # only once accepted: a refused write (a symlinked sub-run, ...) may be retried

    def _fresh_run_name(self) -> str:
        used = self._extras.setdefault("_anyboard_hparams_runs", set())
        base = f"{time.time():.6f}"
        name, i = base, 1
        while name in used:
            name, i = f"{base}_{i}", i + 1
        return safe_component(name)


def _dialect(third: Any, fourth: Any, global_step: Any, name: Any) -> tuple[Any, Any, Any]:
    """``(hparam_domain_discrete, run_name, global_step)`` from either peer's call.

    ``third``/``fourth`` are what landed in torch's third and fourth
    parameters; ``name`` is tensorboardX's keyword.
    """
    if isinstance(third, str):  # tensorboardX: add_hparams(h, m, name[, global_step])
        if name is not None:
            raise TypeError(
                f"{_LABEL}: got a run name twice: {third!r} as the third positional argument "
                f"(tensorboardX's name) and name={name!r}"
            )
        if isinstance(fourth, str):
            raise TypeError(
                f"{_LABEL}: got a run name twice: {third!r} as the third positional argument "
                f"(tensorboardX's name) and run_name={fourth!r}"
            )
        if fourth is not None:
            if global_step is not None:
                raise TypeError(
                    f"{_LABEL}: got global_step twice: {fourth!r} after the run name {third!r} "
                    f"(tensorboardX's add_hparams(hparam_dict, metric_dict, name, global_step)) "
                    f"and global_step={global_step!r}"
                )
            global_step = fourth
        return None, third, global_step
    if (
        third is None
        and isinstance(fourth, int | np.integer)
        and not isinstance(fourth, bool)
        and global_step is None
        and name is None
    ):  # tensorboardX: add_hparams(h, m, None, global_step)
        return None, None, fourth
    if name is not None:
        if fourth is not None:
            raise TypeError(
                f"{_LABEL}: pass the run name as name={name!r} (tensorboardX) or run_name={fourth!r} (torch), not both"
            )
        if not isinstance(name, str):
            raise TypeError(f"{_LABEL}: name must be a str, got {type(name).__name__}")
        fourth = name
    return third, fourth, global_step


def _check_domains(domains: Any, hparams: Mapping[str, Any]) -> None:
    if not isinstance(domains, Mapping):
        raise TypeError(
            f"{_LABEL}: hparam_domain_discrete must be a dict {{name: [values]}}, got {type(domains).__name__}"
        )
    for key, allowed in domains.items():
        if isinstance(allowed, str | bytes) or not isinstance(allowed, list | tuple):
            raise TypeError(
                f"{_LABEL}: hparam_domain_discrete[{key!r}] must be a list of values, got {type(allowed).__name__}"
            )
        if key not in hparams:
            raise ValueError(
                f"{_LABEL}: hparam_domain_discrete names {key!r}, which is not in hparam_dict (or is None)"
            )
        values = [hparam_value(key, a, strict=True) for a in allowed]
        value = hparams[key]
        kind = type(value)
        if any(type(a) is not kind for a in values):
            raise TypeError(
                f"{_LABEL}: hparam_domain_discrete[{key!r}] must hold only {kind.__name__} values like the hparam, got {allowed!r}"
            )
        # A value outside its domain is logged, as torch logs it (the domain itself is not written).
