"""Builds anyboard's ``TensorBoardLogger`` on one Lightning distribution's own base class.

``lightning`` (``lightning.pytorch``, ``lightning.fabric``) and the standalone ``pytorch_lightning``
(with ``lightning_fabric``) ship the same code under two package names, and each Trainer checks
``isinstance`` against its own classes, so the logger is built once per distribution, on first use.
"""

from __future__ import annotations

import importlib
import inspect
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from anyboard.writer import SummaryWriter

# distribution -> (its pytorch package, its fabric package)
FLAVORS: dict[str, tuple[str, str]] = {
    "lightning": ("lightning.pytorch", "lightning.fabric"),
    "pytorch_lightning": ("pytorch_lightning", "lightning_fabric"),
}

# Keyword arguments of the peers' writers that anyboard's accepts and ignores (its **kwargs).
_PEER_ONLY_KEYWORDS = frozenset({"verbose", "comet_config"})

_classes: dict[str, type] = {}
_lock = threading.Lock()


def _hparam(value: Any) -> Any:
    """A hyperparameter the HParams dashboard can show: bool, number, str or a one-element tensor.

    Lightning's own sanitizing leaves tensors and 1-d arrays as they are; a tensor or array of more
    than one element is logged as its text (torch's writer would keep only its first element).
    """
    shape = getattr(value, "shape", None)
    if shape is None:
        return value
    count = 1
    for dim in shape:
        count *= int(dim)
    if count != 1:
        return str(value.tolist() if hasattr(value, "tolist") else value)
    return value


def logger_class(flavor: str) -> type:
    """anyboard's ``TensorBoardLogger`` subclassing ``flavor``'s (a key of :data:`FLAVORS`).

    Raises:
        ModuleNotFoundError: that distribution is not installed.
    """
    with _lock:
        cls = _classes.get(flavor)
        if cls is None:
            cls = _classes[flavor] = _build(flavor)
        return cls


def _build(flavor: str) -> type:
    pytorch_pkg, fabric_pkg = FLAVORS[flavor]
    loggers = importlib.import_module(f"{pytorch_pkg}.loggers")
    fabric_logger = importlib.import_module(f"{fabric_pkg}.loggers.logger")
    fabric_utils = importlib.import_module(f"{fabric_pkg}.utilities.logger")
    rank_zero = importlib.import_module(f"{pytorch_pkg}.utilities.rank_zero")
    imports = importlib.import_module(f"{pytorch_pkg}.utilities.imports")
    saving = importlib.import_module(f"{pytorch_pkg}.core.saving")
    cloud_io = importlib.import_module(f"{fabric_pkg}.utilities.cloud_io")
    rank_zero_only = rank_zero.rank_zero_only
    rank_zero_experiment = fabric_logger.rank_zero_experiment
    base: Any = loggers.TensorBoardLogger
    writer_keywords = {
        name
        for name, p in inspect.signature(SummaryWriter).parameters.items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    } | _PEER_ONLY_KEYWORDS

    class TensorBoardLogger(base):  # type: ignore[misc]  # base is Lightning's class, found at run time (Any)
        __doc__ = f"""Lightning's ``{pytorch_pkg}.loggers.TensorBoardLogger``, writing through :class:`anyboard.SummaryWriter`.

        Same constructor arguments, ``log_dir``/``version`` layout (``save_dir/name/version_N[/sub_dir]``),
        ``hparams.yaml``, ``log_metrics``, ``log_graph`` and ``finalize`` as Lightning's logger; extra keyword
        arguments go to :class:`anyboard.SummaryWriter` (``max_queue``, ``flush_secs``, ``filename_suffix``,
        ``max_pending_bytes``, ``on_full``, ``storage_options``...) and are checked here, on construction.
        ``experiment`` is the anyboard writer (``logger.experiment.add_histogram(...)``).

        ``log_hyperparams`` writes the session into the run itself (``add_hparams(..., into_run=True)``),
        once per writer; its metrics (``hp_metric`` by default) are scalars of the run, and TensorBoard's
        HParams dashboard shows every scalar tag of the run as a metric column. ``log_graph=True`` needs
        no ``tensorboard`` package (anyboard writes the graph itself).

        ``save()``, which Lightning calls after every logging step, waits for the writer (``flush()``)
        at most once per :attr:`save_flush_secs` seconds instead of every time: anyboard's writer
        thread writes the events meanwhile, and ``finalize`` (end of ``fit``/``test``) closes the
        writer, so everything is on disk when the run ends. Set ``save_flush_secs = 0`` to flush at
        every ``save()`` as Lightning's own logger does.
        """

        #: Seconds between the blocking flushes that ``save()`` makes (0: every call).
        save_flush_secs: float = 1.0

        def __init__(
            self,
            save_dir: Any,
            name: str | None = "lightning_logs",
            version: int | str | None = None,
            log_graph: bool = False,
            default_hp_metric: bool = True,
            prefix: str = "",
            sub_dir: Any = None,
            **kwargs: Any,
        ) -> None:
            unknown = sorted(set(kwargs) - writer_keywords)
            if unknown:
                raise TypeError(
                    f"TensorBoardLogger: anyboard.SummaryWriter takes no keyword argument(s) {unknown}; "
                    f"it takes {sorted(writer_keywords - {'log_dir', 'logdir'})}"
                )
            super().__init__(
                save_dir,
                name=name,
                version=version,
                log_graph=False,  # Lightning's check wants the tensorboard package; anyboard does not
                default_hp_metric=default_hp_metric,
                prefix=prefix,
                sub_dir=sub_dir,
                **kwargs,
            )
            self._log_graph = bool(log_graph)
            self._anyboard_flushed_at = -float("inf")
            self._anyboard_yaml_in: str | None = None  # the log_dir where hparams.yaml is known to exist
            self._anyboard_hparams: tuple[SummaryWriter, dict[str, Any]] | None = None

        @property
        @rank_zero_experiment  # type: ignore[untyped-decorator]  # Lightning's decorator has no annotations
        def experiment(self) -> SummaryWriter:
            """The :class:`anyboard.SummaryWriter` of ``log_dir``, created on first use (rank 0 only)."""
            existing: SummaryWriter | None = self.__dict__.get("_experiment")
            if existing is not None:
                return existing
            if rank_zero_only.rank != 0:
                raise RuntimeError("TensorBoardLogger: the writer can only be created on global rank 0")
            if self.root_dir:
                self._fs.makedirs(self.root_dir, exist_ok=True)
            writer = SummaryWriter(log_dir=self.log_dir, **self._kwargs)
            self._experiment = writer
            return writer

        @rank_zero_only  # type: ignore[untyped-decorator]
        def save(self) -> None:
            """Flush the writer (at most every :attr:`save_flush_secs`) and write ``hparams.yaml`` once."""
            writer = self.experiment
            now = time.monotonic()
            if now - self._anyboard_flushed_at >= self.save_flush_secs:
                writer.flush()
                self._anyboard_flushed_at = time.monotonic()
            # As Lightning: hparams.yaml beside the event files, written when it is not there yet
            # (checked until this logger has seen it there, not at every step).
            dir_path = self.log_dir
            if self._anyboard_yaml_in == dir_path:
                return
            hparams_file = os.path.join(dir_path, self.NAME_HPARAMS_FILE)
            if cloud_io._is_dir(self._fs, dir_path):
                if not self._fs.isfile(hparams_file):
                    saving.save_hparams_to_yaml(hparams_file, self.hparams)  # type: ignore[has-type]
                self._anyboard_yaml_in = dir_path

        @rank_zero_only  # type: ignore[untyped-decorator]
        def log_hyperparams(
            self, params: Any, metrics: Mapping[str, Any] | Any | None = None, step: int | None = None
        ) -> None:
            """Record ``params`` (for ``hparams.yaml`` and the HParams dashboard) and ``metrics`` as scalars.

            ``metrics``: a dict of metrics, a single number (logged as ``hp_metric``), or ``None``
            (``hp_metric = -1`` when ``default_hp_metric``; with no metrics nothing is written to
            the event file, as in Lightning).
            """
            params = fabric_utils._convert_params(params)
            stored: Any = self.hparams  # type: ignore[has-type]  # save() writes it to hparams.yaml
            omegaconf = importlib.import_module("omegaconf") if imports._OMEGACONF_AVAILABLE else None
            if omegaconf is not None and isinstance(params, omegaconf.Container):
                self.hparams = omegaconf.OmegaConf.merge(stored, params)
            else:
                stored.update(params)
            flat = self._sanitize_params(fabric_utils._flatten_dict(params))
            if metrics is None:
                metrics = {"hp_metric": -1} if self._default_hp_metric else None
            elif not isinstance(metrics, Mapping):
                metrics = {"hp_metric": metrics}
            if not metrics:
                return
            self.log_metrics(dict(metrics), step)
            hparams = {key: _hparam(value) for key, value in flat.items()}
            writer = self.experiment
            previous = self._anyboard_hparams
            # Lightning calls this at every fit/validate/test: TensorBoard keeps a run's first
            # session, so the same hyperparameters are written once per writer.
            if previous is not None and previous[0] is writer and previous[1] == hparams:
                return
            writer.add_hparams(hparams, {}, global_step=step, into_run=True)
            self._anyboard_hparams = (writer, hparams)

    TensorBoardLogger.__module__ = (
        "anyboard.integrations.lightning" if flavor == "lightning" else "anyboard.integrations.pytorch_lightning"
    )
    TensorBoardLogger.__qualname__ = "TensorBoardLogger"
    return TensorBoardLogger
