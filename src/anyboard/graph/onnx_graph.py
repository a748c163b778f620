"""An ONNX model as a ``GraphDef``.

- each graph input that is not an initializer: a ``Variable`` node named by
  the input, with ``dtype`` (a TensorFlow ``DataType``) and ``shape``
  attributes (unknown dimensions are -1);
- each initializer (weights): a ``Const`` node with ``dtype`` and ``shape``;
- each op: a node named by its first output, ``op`` = the ONNX ``op_type``
  (``domain.op_type`` outside the default domain), inputs wired to the nodes
  producing them (``name:k`` for a k-th output), every ONNX attribute as a
  readable string attribute, and ``_output_shapes`` where shape inference
  knows them;
- each graph output: a ``Variable`` node ``output/<name>`` fed by its producer.

ONNX element types map to TensorFlow ``DataType`` by name through
:data:`ONNX_TO_TF` (the two enums agree numerically only for a few types);
types TensorFlow lacks (float8, int4, ...) become ``DT_INVALID``.
"""

from __future__ import annotations

import os
from typing import Any

from anyboard.graph import NameTable, graph_def, node, shape_proto, shapes_attr, text_attr
from anyboard.proto.graph_pb2 import AttrValue, GraphDef
from anyboard.proto.types_pb2 import DataType

ONNX_TO_TF: dict[str, str] = {
    "FLOAT": "DT_FLOAT",
    "UINT8": "DT_UINT8",
    "INT8": "DT_INT8",
    "UINT16": "DT_UINT16",
    "INT16": "DT_INT16",
    "INT32": "DT_INT32",
    "INT64": "DT_INT64",
    "STRING": "DT_STRING",
    "BOOL": "DT_BOOL",
    "FLOAT16": "DT_HALF",
    "DOUBLE": "DT_DOUBLE",
    "UINT32": "DT_UINT32",
    "UINT64": "DT_UINT64",
    "COMPLEX64": "DT_COMPLEX64",
    "COMPLEX128": "DT_COMPLEX128",
    "BFLOAT16": "DT_BFLOAT16",
}


def tf_dtype(onnx_elem_type: int) -> Any:
    """The TensorFlow ``DataType`` number of an ONNX ``TensorProto.DataType`` number."""
    from onnx import TensorProto

    try:
        name = TensorProto.DataType.Name(onnx_elem_type)
    except ValueError:
        return DataType.Value("DT_INVALID")
    return DataType.Value(ONNX_TO_TF.get(name, "DT_INVALID"))


def _load(model: Any) -> Any:
    import onnx

    if isinstance(model, onnx.ModelProto):
        return model
    if isinstance(model, bytes):
        try:
            return onnx.load_from_string(model)
        except Exception as exc:
            raise ValueError(f"add_onnx_graph: the bytes given are not an ONNX model: {exc}") from exc
    if isinstance(model, str | os.PathLike):
        path = os.fspath(model)
        try:
            return onnx.load(path)
        except OSError as exc:
            raise ValueError(f"add_onnx_graph: cannot read ONNX file {path!r}: {exc}") from exc
        except Exception as exc:
            raise ValueError(f"add_onnx_graph: {path!r} is not an ONNX model: {exc}") from exc
    raise TypeError(f"add_onnx_graph expects an onnx.ModelProto, a path or bytes, got {type(model).__name__}")


def _value_shape(value_info: Any) -> list[int] | None:
    tensor = value_info.type.tensor_type
    if not value_info.type.HasField("tensor_type") or not tensor.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim]


def _variable_attrs(value_info: Any) -> dict[str, AttrValue]:
    return {
        "dtype": AttrValue(type=tf_dtype(value_info.type.tensor_type.elem_type)),
        "shape": AttrValue(shape=shape_proto(_value_shape(value_info))),
    }


def onnx_graph(model: Any) -> GraphDef:
    """``model`` (a ``ModelProto``, a path, or serialized bytes) as a ``GraphDef``."""
    import onnx
    from onnx import helper, shape_inference

    model = _load(model)
    try:
        inferred = shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - shape inference is best effort; the graph itself is still valid
        inferred = model
    graph = inferred.graph
    known = {v.name: v for v in [*graph.value_info, *graph.output, *graph.input]}
    names = NameTable()
    source: dict[str, str] = {}
    nodes = []
    for init in graph.initializer:
        name = names.unique(init.name)
        source[init.name] = name
        const_attrs = {
            "dtype": AttrValue(type=tf_dtype(init.data_type)),
            "shape": AttrValue(shape=shape_proto(list(init.dims))),
        }
        nodes.append(node(name, "Const", attrs=const_attrs))
    for value in graph.input:
        if value.name in source:
            continue
        name = names.unique(value.name)
        source[value.name] = name
        nodes.append(node(name, "Variable", attrs=_variable_attrs(value)))
    for i, op in enumerate(graph.node):
        first = next((o for o in op.output if o), "")
        name = names.unique(first or op.name or f"{op.op_type}_{i}")
        op_type = op.op_type if op.domain in ("", "ai.onnx") else f"{op.domain}.{op.op_type}"
        attrs: dict[str, AttrValue] = {}
        for attribute in op.attribute:
            attr_value: Any
            try:
                attr_value = helper.get_attribute_value(attribute)
            except Exception:  # noqa: BLE001 - a malformed attribute is shown as such, never fails the graph
                attr_value = "<unreadable attribute>"
            if isinstance(attr_value, onnx.GraphProto | onnx.TensorProto):
                attr_value = f"<{type(attr_value).__name__} {attr_value.name}>"
            elif isinstance(attr_value, bytes):
                attr_value = attr_value.decode("utf-8", "replace")
            attrs[attribute.name] = text_attr(attr_value)
        shapes = [_value_shape(known[o]) if o in known else None for o in op.output]
        if any(s is not None for s in shapes):
            attrs["_output_shapes"] = shapes_attr(shapes)
        inputs = [source.get(x, x) for x in op.input if x]
        nodes.append(node(name, op_type, inputs, attrs))
        for k, out in enumerate(op.output):
            if out:
                source[out] = name if k == 0 else f"{name}:{k}"
    for value in graph.output:
        producer = source.get(value.name)
        nodes.append(
            node(
                names.unique(f"output/{value.name}"), "Variable", [producer] if producer else [], _variable_attrs(value)
            )
        )
    return graph_def(nodes)
