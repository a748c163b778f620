"""Hyperparameter (HParams dashboard) summaries.

On disk: metadata-only ``Summary.Value`` s (no ``value`` field) with plugin
``hparams`` metadata whose content is ``HParamsPluginData(version=0, ...)``
(:mod:`anyboard.proto.hparams_pb2`):

- tag ``_hparams_/session_start_info``: ``SessionStartInfo(hparams={name:
  google.protobuf.Value}, start_time_secs)``; a bool is stored as
  ``bool_value``, a number as ``number_value`` (float64), a str as
  ``string_value``;
- tag ``_hparams_/session_end_info``: ``SessionEndInfo(status, end_time_secs)``;
- tag ``_hparams_/experiment``: ``Experiment(hparam_infos, metric_infos)``
  (:func:`experiment`; the writer does not write it, see
  :meth:`anyboard.SummaryWriter.add_hparams`).

Each run holding a ``session_start_info`` is one session of the dashboard;
its metrics are ordinary scalar tags in that run (or its sub-runs, which
become metric groups). TensorBoard keeps the FIRST metadata of a tag in a run,
so one run records one set of hyperparameters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from google.protobuf.struct_pb2 import Value

from anyboard.proto.hparams_pb2 import (
    DATA_TYPE_BOOL,
    DATA_TYPE_FLOAT64,
    DATA_TYPE_STRING,
    STATUS_SUCCESS,
    Experiment,
    HParamInfo,
    HParamsPluginData,
    MetricInfo,
    MetricName,
    SessionEndInfo,
    SessionStartInfo,
)
from anyboard.proto.summary_pb2 import Summary
from anyboard.summary.metadata import metadata

PLUGIN_NAME = "hparams"
EXPERIMENT_TAG = "_hparams_/experiment"
SESSION_START_INFO_TAG = "_hparams_/session_start_info"
SESSION_END_INFO_TAG = "_hparams_/session_end_info"

HParamValue = bool | float | str


def to_value(value: HParamValue) -> Value:
    """A ``google.protobuf.Value`` for a bool, float or str (bool checked first)."""
    if isinstance(value, bool):
        return Value(bool_value=value)
    if isinstance(value, str):
        return Value(string_value=value)
    return Value(number_value=float(value))


def data_type(value: HParamValue) -> int:
    """The ``DataType`` enum of a bool, float or str."""
    if isinstance(value, bool):
        return DATA_TYPE_BOOL
    if isinstance(value, str):
        return DATA_TYPE_STRING
    return DATA_TYPE_FLOAT64


def _value(tag: str, data: HParamsPluginData) -> Summary.Value:
    data.version = 0
    return Summary.Value(tag=tag, metadata=metadata(PLUGIN_NAME, data.SerializeToString()))


def session_start_info(
    hparams: Mapping[str, HParamValue], start_time_secs: float, group_name: str = ""
) -> Summary.Value:
    """The ``_hparams_/session_start_info`` value for ``hparams`` (bool/float/str values)."""
    info = SessionStartInfo(start_time_secs=start_time_secs, group_name=group_name)
    for name, v in hparams.items():
        info.hparams[name].CopyFrom(to_value(v))
    return _value(SESSION_START_INFO_TAG, HParamsPluginData(session_start_info=info))


def session_end_info(end_time_secs: float, status: int = STATUS_SUCCESS) -> Summary.Value:
    """The ``_hparams_/session_end_info`` value."""
    return _value(
        SESSION_END_INFO_TAG,
        HParamsPluginData(session_end_info=SessionEndInfo(status=status, end_time_secs=end_time_secs)),  # type: ignore[arg-type]
    )


def experiment(
    hparams: Mapping[str, HParamValue],
    metric_tags: Sequence[str],
    domain_discrete: Mapping[str, Sequence[HParamValue]] | None = None,
) -> Summary.Value:
    """The ``_hparams_/experiment`` value listing ``hparams`` and ``metric_tags``.

    Hparams named in ``domain_discrete`` get that list as their domain.
    TensorBoard uses the first experiment value it finds in any run and
    ignores the session values' own keys, so write at most one per log
    directory, listing every hparam.
    """
    exp = Experiment()
    for name, v in hparams.items():
        info = HParamInfo(name=name, type=data_type(v))  # type: ignore[arg-type]
        if domain_discrete and name in domain_discrete:
            info.domain_discrete.values.extend(to_value(d) for d in domain_discrete[name])
        exp.hparam_infos.append(info)
    exp.metric_infos.extend(MetricInfo(name=MetricName(tag=t)) for t in metric_tags)
    return _value(EXPERIMENT_TAG, HParamsPluginData(experiment=exp))


def session(
    hparams: Mapping[str, HParamValue],
    metrics: Mapping[str, float],
    start_time_secs: float,
    end_time_secs: float,
) -> Summary:
    """One ``Summary`` with a whole session: start info, the metrics, end info.

    Metrics are legacy ``simple_value`` scalars (as
    :func:`anyboard.summary.scalar.scalar` writes them).
    """
    from anyboard.summary.scalar import scalar

    values = [session_start_info(hparams, start_time_secs)]
    values.extend(scalar(tag, v).value[0] for tag, v in metrics.items())
    values.append(session_end_info(end_time_secs))
    return Summary(value=values)
