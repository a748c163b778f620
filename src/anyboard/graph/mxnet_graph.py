"""An MXNet ``Symbol`` or Gluon ``HybridBlock`` as a ``GraphDef`` (MXBoard's ``add_graph(net)``).

Read from ``symbol.tojson()`` (MXNet 1.x):

- each op (``op != "null"``) is a node ``<op name>/<op name>`` with ``op`` =
  the MXNet operator and every operator attribute as a string attribute;
- a variable (``null`` node) that feeds exactly one op and is a parameter is
  put in that op's scope, ``<op name>/<variable name>`` (so a layer and its
  weights form one group in TensorBoard); other variables keep their name.
  A parameter is any variable that is not a data input: for a
  ``HybridBlock`` the data inputs are those it was run with; for a bare
  ``Symbol``, a variable used as the first input of an op counts as data;
- variables get op ``null`` and, when known, ``_output_shapes``;
- each head (graph output) is a node ``output/<name>`` of op ``Output``.

A ``HybridBlock`` must have been hybridized and run forward once (its cached
graph is used); otherwise it is called once on ``mx.sym.var("data")``.
"""

from __future__ import annotations

import json
from typing import Any

from anyboard.graph import NameTable, graph_def, node, shapes_attr, text_attr
from anyboard.proto.graph_pb2 import GraphDef


def _symbol_and_inputs(model: Any) -> tuple[Any, set[str] | None, dict[str, tuple[int, ...]]]:
    """``(symbol, data input names or None, parameter shapes)`` of a Symbol or HybridBlock."""
    import mxnet as mx

    if isinstance(model, mx.symbol.Symbol):
        return model, None, {}
    if not isinstance(model, mx.gluon.HybridBlock):
        kind = "a non-hybrid gluon Block" if isinstance(model, mx.gluon.Block) else type(model).__name__
        raise TypeError(f"add_graph expects an mxnet.symbol.Symbol or a gluon.HybridBlock, got {kind}")
    shapes: dict[str, tuple[int, ...]] = {}
    for name, param in model.collect_params().items():
        shape = getattr(param, "shape", None)
        if shape and all(int(d) > 0 for d in shape):
            shapes[getattr(param, "name", name)] = tuple(int(d) for d in shape)
    cached = getattr(model, "_cached_graph", ())
    if cached and len(cached) == 2:
        inputs, symbol = cached
        return symbol, {s.name for s in inputs}, shapes
    try:
        symbol = model(mx.sym.var("data"))
    except Exception as exc:
        raise ValueError(
            f"add_graph: could not build the graph of {type(model).__name__}; hybridize() it and run it forward "
            f"once first: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}"
        ) from exc
    if isinstance(symbol, list | tuple):
        symbol = mx.sym.Group(list(symbol))
    return symbol, {"data"}, shapes


def mxnet_graph(model: Any) -> GraphDef:
    """``model`` (a ``Symbol`` or ``HybridBlock``) as a ``GraphDef``."""
    symbol, data_inputs, param_shapes = _symbol_and_inputs(model)
    doc = json.loads(symbol.tojson())
    items = doc["nodes"]

    first_input_of_some_op: set[int] = set()
    users: dict[int, set[int]] = {}
    for i, item in enumerate(items):
        if item["op"] == "null":
            continue
        for k, entry in enumerate(item["inputs"]):
            src = entry[0]
            users.setdefault(src, set()).add(i)
            if k == 0:
                first_input_of_some_op.add(src)

    def is_data(i: int) -> bool:
        name = items[i]["name"]
        return name in data_inputs if data_inputs is not None else i in first_input_of_some_op

    names = NameTable()
    node_name: dict[int, str] = {}
    for i, item in enumerate(items):  # names first: an op's inputs may be scoped under it
        if item["op"] != "null":
            node_name[i] = names.unique(f"{item['name']}/{item['name']}")
        elif len(users.get(i, ())) == 1 and not is_data(i):
            (owner,) = users[i]
            node_name[i] = names.unique(f"{items[owner]['name']}/{item['name']}")
        else:
            node_name[i] = names.unique(item["name"])

    nodes = []
    for i, item in enumerate(items):
        raw = item.get("attrs", item.get("attr", item.get("param", {}))) or {}
        attrs = {key: text_attr(str(value)) for key, value in sorted(raw.items())}
        if item["op"] == "null":
            shape = param_shapes.get(item["name"])
            if shape is not None:
                attrs["_output_shapes"] = shapes_attr([shape])
            nodes.append(node(node_name[i], "null", attrs=attrs))
            continue
        inputs = [node_name[src] if out == 0 else f"{node_name[src]}:{out}" for src, out, *_ in item["inputs"]]
        nodes.append(node(node_name[i], item["op"], inputs, attrs))
    for src, out, *_ in doc.get("heads", []):
        producer = node_name[src] if out == 0 else f"{node_name[src]}:{out}"
        nodes.append(node(names.unique(f"output/{items[src]['name']}"), "Output", [producer]))
    return graph_def(nodes)
