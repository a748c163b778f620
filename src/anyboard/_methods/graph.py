"""``add_graph``, ``add_onnx_graph`` and ``add_openvino_graph``: model graphs for TensorBoard's graphs plugin."""

from __future__ import annotations

import os
from typing import Any

from anyboard._layout import run_metadata_tag
from anyboard._methods.base import MethodsBase
from anyboard.proto.event_pb2 import Event, TaggedRunMetadata
from anyboard.proto.graph_pb2 import GraphDef


def _root(x: Any) -> str:
    """The framework of ``x``: the module root of the first framework class in its MRO (user subclasses too)."""
    roots = [(cls.__module__ or "").partition(".")[0] for cls in type(x).__mro__]
    return next((r for r in roots if r in ("torch", "mxnet", "onnx")), roots[0])


class Methods(MethodsBase):
    """``add_graph`` (torch modules, MXNet symbols and blocks, ONNX models) and ``add_onnx_graph``."""

    def add_graph(
        self,
        model: Any,
        input_to_model: Any = None,
        verbose: bool = False,
        use_strict_trace: bool = True,
    ) -> None:
        """Log a model's graph (shown in TensorBoard's Graphs tab).

        Args:
            model: a ``torch.nn.Module``; an ``mxnet.symbol.Symbol`` or a
                hybridized ``gluon.HybridBlock`` that has run forward once
                (MXBoard's ``add_graph(net)``); an ONNX ``ModelProto``; or a
                ready ``GraphDef`` (anyboard's proto).
            input_to_model: example input(s) for ``torch.jit.trace``: a tensor,
                or a tuple/list of them.
            verbose: log the traced graph with :mod:`logging` (level INFO).
            use_strict_trace: ``strict`` for ``torch.jit.trace`` (``False``
                allows mutable containers such as dicts as outputs).

        The model is converted on the caller's thread (a torch model is traced
        in eval mode and put back in its previous mode). On disk:
        ``Event(graph_def=<GraphDef>)``, and for torch models also
        ``Event(tagged_run_metadata=TaggedRunMetadata(tag="step1", ...))`` with
        one CPU device, as torch writes (tag ``"profiler"``, tensorboardX's,
        with ``file_layout="tensorboardX"``). See :mod:`anyboard.graph`.

        Raises:
            ValueError: the model cannot be traced or converted (names its class;
                the framework's error is the ``__cause__``). A torch trace
                failure is an :class:`anyboard.graph.GraphTraceError`, which is
                also a ``RuntimeError`` as the peers raise (and a ``TypeError``
                when the tracer raised one).
            TypeError: ``model`` is none of the kinds above.
        """
        root = _root(model)
        with_metadata = False
        if isinstance(model, GraphDef):
            graph = model
        elif root == "torch":
            import torch

            if not isinstance(model, torch.nn.Module):
                raise TypeError(
                    f"add_graph expects a torch.nn.Module, got {type(model).__module__}.{type(model).__name__}"
                )
            from anyboard.graph.torch_graph import torch_graph

            graph = torch_graph(model, input_to_model, strict=bool(use_strict_trace), verbose=bool(verbose))
            with_metadata = True
        elif root == "mxnet":
            from anyboard.graph.mxnet_graph import mxnet_graph

            graph = mxnet_graph(model)
        elif root == "onnx":
            from anyboard.graph.onnx_graph import onnx_graph

            graph = onnx_graph(model)
        else:
            raise TypeError(
                "add_graph expects a torch.nn.Module, an MXNet Symbol or HybridBlock, an ONNX ModelProto or a "
                f"GraphDef, got {type(model).__module__}.{type(model).__name__}"
            )
        self._write_graph(graph, with_metadata)

    def add_onnx_graph(self, onnx_model_file: Any = None, *, prototxt: Any = None) -> None:
        """Log an ONNX model's graph.

        Args:
            onnx_model_file: an ``onnx.ModelProto``, the path of a ``.onnx``
                file, or its bytes (``prototxt=`` is torch's spelling).

        Graph inputs and outputs become ``Variable`` nodes with ``dtype`` and
        ``shape`` attributes, initializers ``Const`` nodes, and each op a node
        named by its first output. See :mod:`anyboard.graph.onnx_graph`.

        Raises:
            ValueError: the file cannot be read or parsed as ONNX.
            TypeError: the argument is none of the kinds above.
        """
        if onnx_model_file is None:
            onnx_model_file = prototxt
        if onnx_model_file is None:
            raise TypeError("add_onnx_graph needs an ONNX model or the path of one")
        from anyboard.graph.onnx_graph import onnx_graph

        if isinstance(onnx_model_file, str | bytes | os.PathLike) or _root(onnx_model_file) == "onnx":
            graph = onnx_graph(onnx_model_file)
        else:
            raise TypeError(
                f"add_onnx_graph expects an onnx.ModelProto, a path or bytes, got {type(onnx_model_file).__name__}"
            )
        self._write_graph(graph, False)

    def add_openvino_graph(self, xmlname: Any) -> None:
        """Log an OpenVINO IR model's graph (tensorboardX's method).

        Args:
            xmlname: the path of the IR ``.xml`` file, or its contents as bytes.

        Each layer becomes a node (op = layer type, its ``<data>`` as
        attributes, output shapes as ``_output_shapes``), wired by the IR's
        edges. See :mod:`anyboard.graph.openvino_graph`.

        Raises:
            ValueError: the file cannot be read or is not an OpenVINO IR.
            TypeError: ``xmlname`` is not a path or bytes.
        """
        if not isinstance(xmlname, str | bytes | os.PathLike):
            raise TypeError(f"add_openvino_graph expects the path of an IR .xml file, got {type(xmlname).__name__}")
        from anyboard.graph.openvino_graph import openvino_graph

        self._write_graph(openvino_graph(xmlname), False)

    def _write_graph(self, graph: GraphDef, with_metadata: bool) -> None:
        wall = self._walltime("graph", None)
        self._emit_event(Event(wall_time=wall, step=0, graph_def=graph.SerializeToString()))
        if with_metadata:
            from anyboard.graph import cpu_run_metadata

            tag = run_metadata_tag(self._file_layout)
            tagged = TaggedRunMetadata(tag=tag, run_metadata=cpu_run_metadata().SerializeToString())
            self._emit_event(Event(wall_time=wall, step=0, tagged_run_metadata=tagged))
