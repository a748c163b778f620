"""What TensorBoard's own Python loader reads from a log directory (reference for the read_* tests).

:func:`tb_values` loads a log directory with ``plugin_event_multiplexer.EventMultiplexer``
(what ``tensorboard --load_fast=false`` uses: its run discovery and naming, file order,
``data_compat`` conversions and restart purge), keeping every value, and returns the
values of one plugin as ``(run, tag, step, wall_time, ndarray)`` tuples in TensorBoard's
order per (run, tag).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np


def tb_values(logdir: str | os.PathLike[str], plugin: str) -> list[tuple[str, str, int, float, Any]]:
    from tensorboard.backend.event_processing import plugin_event_accumulator as pea
    from tensorboard.backend.event_processing import plugin_event_multiplexer as pem
    from tensorboard.util import tensor_util

    mux = pem.EventMultiplexer(size_guidance={pea.TENSORS: 0})
    mux.AddRunsFromDirectory(os.fspath(logdir))
    mux.Reload()
    out = []
    for run in sorted(mux.Runs()):
        acc = mux.GetAccumulator(run)
        for tag in acc.Tags()[pea.TENSORS]:
            if tag not in acc.summary_metadata or acc.SummaryMetadata(tag).plugin_data.plugin_name != plugin:
                continue
            for e in acc.Tensors(tag):
                out.append((run, tag, e.step, e.wall_time, tensor_util.make_ndarray(e.tensor_proto)))
    return out


def tb_scalars(logdir: str | os.PathLike[str]) -> dict[tuple[str, str], list[tuple[int, float, float]]]:
    """``{(run, tag): [(step, wall_time, value), ...]}`` as TensorBoard's scalars dashboard reads them."""
    out: dict[tuple[str, str], list[tuple[int, float, float]]] = {}
    for run, tag, step, wall, array in tb_values(logdir, "scalars"):
        out.setdefault((run, tag), []).append((step, wall, float(np.asarray(array).reshape(()))))
    return out


def legacy_scalars(run_dir: str | os.PathLike[str]) -> dict[str, list[tuple[int, float, float]]]:
    """``{tag: [(step, wall_time, value)]}`` from the legacy ``event_accumulator`` (tbparse's loader)."""
    from tensorboard.backend.event_processing import event_accumulator as ea

    acc = ea.EventAccumulator(os.fspath(run_dir), size_guidance={ea.SCALARS: 0})
    acc.Reload()
    return {t: [(e.step, e.wall_time, e.value) for e in acc.Scalars(t)] for t in acc.Tags()[ea.SCALARS]}


def frame_scalars(columns: dict[str, Any]) -> dict[tuple[str, str], list[tuple[int, float, float]]]:
    """The same shape from anyboard's ``read_scalars(..., output="numpy")`` (row order kept)."""
    out: dict[tuple[str, str], list[tuple[int, float, float]]] = {}
    for run, tag, step, wall, value in zip(
        columns["run"],
        columns["tag"],
        columns["step"].tolist(),
        columns["wall_time"].tolist(),
        columns["value"].tolist(),
    ):
        out.setdefault((run, tag), []).append((step, wall, value))
    return out
