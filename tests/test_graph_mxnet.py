"""add_graph for MXNet Symbols and Gluon HybridBlocks (runs in the MXNet environment only)."""

from __future__ import annotations

import os

import mxnet as mx  # collected only where MXNet imports (tests/conftest.py)
import pytest
from google.protobuf import text_format
from mxnet import gluon
from tbread import TensorBoardServer

import anyboard
from anyboard.proto.graph_pb2 import GraphDef

pytestmark = pytest.mark.mxnet

GRAPHS = "/data/plugin/graphs"


def _net() -> gluon.HybridBlock:
    net = gluon.nn.HybridSequential(prefix="net_")
    with net.name_scope():
        net.add(gluon.nn.Dense(8, activation="relu", prefix="fc1_"))
        net.add(gluon.nn.BatchNorm(prefix="bn_"))
        net.add(gluon.nn.Dense(2, prefix="fc2_"))
    net.initialize()
    net.hybridize()
    net(mx.nd.ones((3, 5)))
    return net


def _symbol() -> mx.sym.Symbol:
    data = mx.sym.var("data")
    fc = mx.sym.FullyConnected(data, num_hidden=4, name="fc1")
    act = mx.sym.Activation(fc, act_type="relu", name="relu1")
    return mx.sym.SoftmaxOutput(act, name="softmax")


def test_gluon_and_symbol_graphs_read_back_through_tensorboard(tmp_path):
    logdir = str(tmp_path)
    with anyboard.SummaryWriter(os.path.join(logdir, "gluon")) as w:
        w.add_graph(_net())
    with anyboard.SummaryWriter(os.path.join(logdir, "symbol")) as w:
        w.add_graph(_symbol())

    with TensorBoardServer(logdir) as tb:
        info = tb.wait_for(lambda: (i := tb.get(GRAPHS + "/info")) and len(i) == 2 and i)
        assert info["gluon"]["run_graph"] and info["symbol"]["run_graph"]

        def graph(run: str) -> dict[str, object]:
            text = tb.get(GRAPHS + "/graph", run=run)
            parsed = text_format.Parse(text.decode() if isinstance(text, bytes) else text, GraphDef())
            return {n.name: n for n in parsed.node}

        g = graph("gluon")
        fc1 = g["net_fc1_fwd/net_fc1_fwd"]
        assert fc1.op == "FullyConnected"
        assert list(fc1.input) == ["data", "net_fc1_fwd/net_fc1_weight", "net_fc1_fwd/net_fc1_bias"]
        assert fc1.attr["num_hidden"].s == b"8"
        weight = g["net_fc1_fwd/net_fc1_weight"]
        assert weight.op == "null" and [d.size for d in weight.attr["_output_shapes"].list.shape[0].dim] == [8, 5]
        relu = g["net_fc1_relu_fwd/net_fc1_relu_fwd"]
        assert relu.op == "Activation" and list(relu.input) == [fc1.name]
        bn = g["net_bn_fwd/net_bn_fwd"]
        assert bn.op == "BatchNorm" and bn.input[0] == relu.name
        assert "net_bn_fwd/net_bn_running_mean" in bn.input  # aux states scoped under their op too
        assert g["data"].op == "null"
        assert list(g["output/net_fc2_fwd"].input) == ["net_fc2_fwd/net_fc2_fwd"]

        s = graph("symbol")
        assert list(s["fc1/fc1"].input) == ["data", "fc1/fc1_weight", "fc1/fc1_bias"]
        assert list(s["relu1/relu1"].input) == ["fc1/fc1"]
        assert "softmax/softmax_label" in s["softmax/softmax"].input
        assert "data" in s and s["softmax/softmax"].op == "SoftmaxOutput"


def test_non_hybrid_block_is_rejected(tmp_path):
    class Plain(gluon.Block):
        def forward(self, x):
            return x

    with anyboard.SummaryWriter(str(tmp_path)) as w, pytest.raises(TypeError, match="non-hybrid"):
        w.add_graph(Plain())
