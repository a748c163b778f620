"""add_openvino_graph: an OpenVINO IR written by the test, read back through a real tensorboard."""

from __future__ import annotations

import pytest
from google.protobuf import text_format
from tbread import TensorBoardServer

import anyboard
from anyboard.proto.graph_pb2 import GraphDef

IR = b"""<?xml version="1.0"?>
<net name="tiny" version="11">
  <layers>
    <layer id="0" name="data" type="Parameter" version="opset1">
      <data shape="1,3,8,8" element_type="f32"/>
      <output><port id="0" precision="FP32"><dim>1</dim><dim>3</dim><dim>8</dim><dim>8</dim></port></output>
    </layer>
    <layer id="1" name="conv_w" type="Const" version="opset1">
      <data element_type="f32" shape="4,3,3,3" offset="0" size="432"/>
      <output><port id="0" precision="FP32"><dim>4</dim><dim>3</dim><dim>3</dim><dim>3</dim></port></output>
    </layer>
    <layer id="2" name="conv" type="Convolution" version="opset1">
      <data strides="1,1" pads_begin="1,1" pads_end="1,1" dilations="1,1"/>
      <input><port id="0"/><port id="1"/></input>
      <output><port id="2" precision="FP32"><dim>1</dim><dim>4</dim><dim>8</dim><dim>8</dim></port></output>
    </layer>
    <layer id="3" name="relu" type="ReLU" version="opset1">
      <input><port id="0"/></input>
      <output><port id="1" precision="FP32"><dim>1</dim><dim>4</dim><dim>8</dim><dim>8</dim></port></output>
    </layer>
    <layer id="4" name="out" type="Result" version="opset1">
      <input><port id="0"/></input>
    </layer>
  </layers>
  <edges>
    <edge from-layer="0" from-port="0" to-layer="2" to-port="0"/>
    <edge from-layer="1" from-port="0" to-layer="2" to-port="1"/>
    <edge from-layer="2" from-port="2" to-layer="3" to-port="0"/>
    <edge from-layer="3" from-port="1" to-layer="4" to-port="0"/>
  </edges>
</net>
"""


def _graph(logdir: str) -> GraphDef:
    events = [e for e in anyboard.iter_run_events(logdir) if e.graph_def]
    assert len(events) == 1
    return GraphDef.FromString(events[0].graph_def)


def test_openvino_ir_becomes_a_graph_tensorboard_serves(tmp_path):
    path = tmp_path / "tiny.xml"
    path.write_bytes(IR)
    logdir = str(tmp_path / "logs")
    with anyboard.SummaryWriter(logdir) as w:
        w.add_openvino_graph(str(path))
    graph = _graph(logdir)
    nodes = {n.name: n for n in graph.node}
    assert [(n.name, n.op, list(n.input)) for n in graph.node] == [
        ("data", "Parameter", []),
        ("conv_w", "Const", []),
        ("conv", "Convolution", ["data", "conv_w"]),
        ("relu", "ReLU", ["conv"]),
        ("out", "Result", ["relu"]),
    ]
    assert nodes["conv"].attr["strides"].s == b"1,1"
    assert [d.size for d in nodes["relu"].attr["_output_shapes"].list.shape[0].dim] == [1, 4, 8, 8]
    with TensorBoardServer(logdir, load_fast=True) as tb:
        info = tb.wait_for(lambda: tb.get("/data/plugin/graphs/info").get("."))
        assert info["run_graph"] is True
        served = GraphDef()
        text_format.Parse(tb.get_raw("/data/plugin/graphs/graph?run=.").text, served)
        assert {n.name: n.op for n in served.node} == {n.name: n.op for n in graph.node}


def test_openvino_bad_input_is_a_clear_error(tmp_path):
    with anyboard.SummaryWriter(str(tmp_path / "logs")) as w:
        with pytest.raises(ValueError, match="not an OpenVINO IR"):
            w.add_openvino_graph(b"<model/>")
        with pytest.raises(ValueError, match="cannot read"):
            w.add_openvino_graph(str(tmp_path / "missing.xml"))
        with pytest.raises(TypeError, match="path of an IR"):
            w.add_openvino_graph(42)
