"""Model graphs as TensorBoard ``GraphDef`` protos (shown by the graphs plugin).

One converter per source, each imported only when its kind of model is seen:
:mod:`~anyboard.graph.torch_graph` (``torch.jit.trace``),
:mod:`~anyboard.graph.onnx_graph` (ONNX ``ModelProto``) and
:mod:`~anyboard.graph.mxnet_graph` (MXNet ``Symbol`` / ``HybridBlock``). This
module holds the small builders they share.

On disk a graph is ``Event(graph_def=<serialized GraphDef>)``; TensorBoard
shows the latest one per run (tag ``__run_graph__``). Node names are
``/``-separated scopes, which TensorBoard draws as nested, collapsible groups;
``NodeDef.input`` names the producing node (``name:k`` for its k-th output).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from anyboard.proto.graph_pb2 import AttrValue, GraphDef, NodeDef, VersionDef
from anyboard.proto.run_metadata_pb2 import DeviceStepStats, RunMetadata, StepStats
from anyboard.proto.tensor_shape_pb2 import TensorShapeProto

PRODUCER = 22  # VersionDef.producer torch and tensorboardX write
_MAX_ATTR_TEXT = 1000


class GraphTraceError(ValueError, RuntimeError):
    """A model could not be traced or converted for ``add_graph``.

    Both a ``ValueError`` (anyboard's rule for bad input) and a
    ``RuntimeError`` (what ``torch.utils.tensorboard`` and tensorboardX
    raise when ``torch.jit.trace`` fails: a wrong input size, a dict output
    under ``use_strict_trace=True``, no example input). The framework's own
    exception is the ``__cause__``.
    """


class GraphTraceTypeError(GraphTraceError, TypeError):
    """A :class:`GraphTraceError` whose cause is a ``TypeError`` (e.g. too few inputs for ``forward``).

    Also a ``TypeError``, as the peers raise the tracer's ``TypeError`` as is.
    """


def shape_proto(dims: Sequence[int] | None) -> TensorShapeProto:
    """A ``TensorShapeProto``; ``None`` is an unknown rank, a negative size an unknown dimension."""
    if dims is None:
        return TensorShapeProto(unknown_rank=True)
    return TensorShapeProto(dim=[TensorShapeProto.Dim(size=int(d)) for d in dims])


def shapes_attr(shapes: Iterable[Sequence[int] | None]) -> AttrValue:
    """The ``_output_shapes`` attribute: one shape per output of a node."""
    return AttrValue(list=AttrValue.ListValue(shape=[shape_proto(s) for s in shapes]))


def text_attr(value: object) -> AttrValue:
    """A readable string attribute (long values are cut to 1000 characters)."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) > _MAX_ATTR_TEXT:
        text = text[: _MAX_ATTR_TEXT - 3] + "..."
    return AttrValue(s=text.encode("utf-8", "replace"))


def node(name: str, op: str, inputs: Iterable[str] = (), attrs: dict[str, AttrValue] | None = None) -> NodeDef:
    """A ``NodeDef``."""
    out = NodeDef(name=name, op=op, input=list(inputs))
    for key, value in (attrs or {}).items():
        out.attr[key].CopyFrom(value)
    return out


def graph_def(nodes: Iterable[NodeDef]) -> GraphDef:
    """A ``GraphDef`` of ``nodes`` with ``versions.producer`` set."""
    return GraphDef(node=list(nodes), versions=VersionDef(producer=PRODUCER))


def cpu_run_metadata() -> RunMetadata:
    """The ``RunMetadata`` torch writes next to a graph: one CPU device, no timings."""
    return RunMetadata(step_stats=StepStats(dev_stats=[DeviceStepStats(device="/device:CPU:0")]))


class NameTable:
    """Unique node names: a clash gets ``_1``, ``_2``, ... appended."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def __contains__(self, name: object) -> bool:
        return name in self._used

    def unique(self, name: str) -> str:
        candidate, k = name, 0
        while candidate in self._used:
            k += 1
            candidate = f"{name}_{k}"
        self._used.add(candidate)
        return candidate
