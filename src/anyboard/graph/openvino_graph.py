"""OpenVINO IR (``.xml``) to ``GraphDef``, for ``add_openvino_graph``.

An IR file lists ``<layer id name type>`` elements, each with ``<data>``
attributes and ``<output><port><dim>`` shapes, and ``<edge from-layer
from-port to-layer to-port>`` elements. Each layer becomes a node named by the
layer's name (made unique), with ``op`` = the layer type, inputs wired from
the edges (a producer's second output port is ``name:1``), the layer's
``<data>`` attributes as string attributes and its output shapes as
``_output_shapes``. Parsed with the standard library; OpenVINO itself is not
needed.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from typing import Any

from anyboard.graph import NameTable, graph_def, node, shapes_attr, text_attr
from anyboard.proto.graph_pb2 import GraphDef


def _dims(port: ET.Element) -> list[int]:
    out = []
    for dim in port.findall("dim"):
        text = (dim.text or "").strip()
        out.append(int(text) if text.lstrip("-").isdigit() else -1)
    return out


def openvino_graph(xml: str | os.PathLike[str] | bytes) -> GraphDef:
    """Convert an OpenVINO IR (a path, or the XML itself as bytes) to a ``GraphDef``.

    Raises:
        ValueError: the file cannot be read or is not an IR ``<net>``.
    """
    try:
        if isinstance(xml, bytes):
            root = ET.fromstring(xml)
        else:
            root = ET.parse(os.fspath(xml)).getroot()
    except (OSError, ET.ParseError) as exc:
        raise ValueError(f"add_openvino_graph: cannot read an OpenVINO IR from {xml!r:.200}: {exc}") from exc
    layers = root.find("layers")
    if root.tag != "net" or layers is None:
        raise ValueError(f"add_openvino_graph: {xml!r:.200} is not an OpenVINO IR (expected <net><layers>...)")
    names = NameTable()
    by_id: dict[str, tuple[str, list[str]]] = {}
    for layer in layers.findall("layer"):
        name = names.unique(layer.get("name") or f"layer_{layer.get('id')}")
        ports = [p.get("id", "") for p in layer.findall("output/port")]
        by_id[layer.get("id", "")] = (name, ports)
    inputs: dict[str, list[tuple[int, str]]] = {}
    edges = root.find("edges")
    for edge in edges.findall("edge") if edges is not None else []:
        source = by_id.get(edge.get("from-layer", ""))
        if source is None:
            continue
        src_name, src_ports = source
        index = src_ports.index(edge.get("from-port", "")) if edge.get("from-port", "") in src_ports else 0
        ref = src_name if index == 0 else f"{src_name}:{index}"
        to_port = edge.get("to-port", "0")
        inputs.setdefault(edge.get("to-layer", ""), []).append((int(to_port) if to_port.isdigit() else 0, ref))
    nodes = []
    for layer in layers.findall("layer"):
        lid = layer.get("id", "")
        name, _ = by_id[lid]
        attrs: dict[str, Any] = {}
        data = layer.find("data")
        if data is not None:
            for key, value in sorted(data.attrib.items()):
                attrs[key] = text_attr(value)
        shapes = [_dims(p) for p in layer.findall("output/port")]
        if shapes:
            attrs["_output_shapes"] = shapes_attr(shapes)
        precision = [p.get("precision", "") for p in layer.findall("output/port") if p.get("precision")]
        if precision:
            attrs["precision"] = text_attr(",".join(precision))
        wired = [ref for _, ref in sorted(inputs.get(lid, []))]
        nodes.append(node(name, layer.get("type") or "Unknown", wired, attrs))
    return graph_def(nodes)
