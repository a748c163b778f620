"""add_graph / add_onnx_graph: GraphDefs read back through a real TensorBoard."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest
from google.protobuf import text_format
from tbread import TensorBoardServer

import anyboard
from anyboard.graph.onnx_graph import ONNX_TO_TF, tf_dtype
from anyboard.proto.graph_pb2 import GraphDef
from anyboard.proto.types_pb2 import DataType

# Optional frameworks: the module is skipped without them (not a collection error).
torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
helper = pytest.importorskip("onnx.helper")
numpy_helper = pytest.importorskip("onnx.numpy_helper")
nn = torch.nn
TensorProto = onnx.TensorProto

GRAPHS = "/data/plugin/graphs"


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Linear(4 * 3 * 3, 2)

    def forward(self, x):
        return self.head(torch.flatten(self.features(x), 1))


class Inner(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(4, 4), nn.Linear(4, 3)])

    def forward(self, x):
        for layer in self.layers:
            x = torch.tanh(layer(x))
        return x


class Outer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = nn.Sequential(Inner(), nn.Dropout(0.5))
        self.skip = nn.Linear(4, 3)
        self.register_buffer("scale", torch.full((3,), 2.0))

    def forward(self, x, y):
        a = self.block(x)
        return a * self.scale + self.skip(y), a


def _onnx_model() -> onnx.ModelProto:
    w = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(3, 2), name="W")
    nodes = [
        helper.make_node("MatMul", ["X", "W"], ["XW"], name="mm"),
        helper.make_node("Add", ["XW", "B"], ["Y"]),
        helper.make_node("Relu", ["Y"], ["Z"]),
        helper.make_node("Gather", ["W", "idx"], ["G"], axis=0),
        helper.make_node("TopK", ["Z", "k"], ["vals", "inds"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        inputs=[
            helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 3]),
            helper.make_tensor_value_info("B", TensorProto.FLOAT, [2]),
            helper.make_tensor_value_info("idx", TensorProto.INT64, [4]),
        ],
        outputs=[
            helper.make_tensor_value_info("G", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("inds", TensorProto.INT64, None),
        ],
        initializer=[w, numpy_helper.from_array(np.array([1], np.int64), name="k")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _graph(tb: TensorBoardServer, run: str) -> dict[str, object]:
    text = tb.get(GRAPHS + "/graph", run=run)
    graph = text_format.Parse(text.decode() if isinstance(text, bytes) else text, GraphDef())
    return {n.name: n for n in graph.node}


def _shape(n, k: int = 0) -> list[int]:
    return [d.size for d in n.attr["_output_shapes"].list.shape[k].dim]


def test_graphs_read_back_through_tensorboard(tmp_path):
    logdir = str(tmp_path)
    net = Net().train()
    with anyboard.SummaryWriter(os.path.join(logdir, "cnn")) as w:
        w.add_graph(net, torch.randn(1, 1, 8, 8))
    assert net.training  # the training mode is restored after tracing in eval mode
    outer = Outer().eval()
    with anyboard.SummaryWriter(os.path.join(logdir, "nested")) as w:
        w.add_graph(outer, (torch.randn(2, 4), torch.randn(2, 4)))
    assert not outer.training
    with anyboard.SummaryWriter(os.path.join(logdir, "onnx")) as w:
        w.add_onnx_graph(_onnx_model())

    with TensorBoardServer(logdir) as tb:
        info = tb.wait_for(lambda: (i := tb.get(GRAPHS + "/info")) and len(i) == 3 and i)
        assert all(info[run]["run_graph"] for run in ("cnn", "nested", "onnx"))
        assert info["cnn"]["tags"]["step1"]["profile"] is True
        assert "/device:CPU:0" in tb.get(GRAPHS + "/run_metadata", run="cnn", tag="step1").decode()

        cnn = _graph(tb, "cnn")
        conv = cnn["Net/Sequential[features]/Conv2d[0]/_convolution"]
        assert conv.op == "aten::_convolution"
        assert conv.input[:3] == [
            "input/x",
            "Net/Sequential[features]/Conv2d[0]/weight",
            "Net/Sequential[features]/Conv2d[0]/bias",
        ]
        assert _shape(conv) == [1, 4, 6, 6]
        assert _shape(cnn["Net/Sequential[features]/Conv2d[0]/weight"]) == [4, 1, 3, 3]
        assert _shape(cnn["input/x"]) == [1, 1, 8, 8] and cnn["input/x"].op == "IO Node"
        relu = cnn["Net/Sequential[features]/ReLU[1]/relu"]
        assert relu.op == "aten::relu" and list(relu.input) == [conv.name]
        pool = cnn["Net/Sequential[features]/MaxPool2d[2]/max_pool2d"]
        assert pool.input[0] == relu.name and _shape(pool) == [1, 4, 3, 3]
        linear = cnn["Net/Linear[head]/linear"]
        assert linear.op == "aten::linear" and linear.input[0] == "Net/flatten" and _shape(linear) == [1, 2]
        assert list(cnn["output/output.0"].input) == [linear.name]

        nested = _graph(tb, "nested")
        scope = "Outer/Sequential[block]/Inner[0]/ModuleList[layers]"
        first, second = nested[f"{scope}/Linear[0]/linear"], nested[f"{scope}/Linear[1]/linear"]
        assert first.input[0] == "input/x" and _shape(second) == [2, 3]
        assert nested[f"{scope}/Linear[1]/linear"].input[0] == "Outer/Sequential[block]/Inner[0]/tanh"
        assert nested["Outer/Linear[skip]/linear"].input[0] == "input/y"
        assert "Outer/scale" in nested and _shape(nested["Outer/scale"]) == [3]
        mul = next(n for n in nested.values() if n.op == "aten::mul")
        assert "Outer/scale" in mul.input
        outputs = [n for n in nested if n.startswith("output/")]
        assert outputs == ["output/output.0"] and nested["output/output.0"].input[0].endswith("TupleConstruct")

        g = _graph(tb, "onnx")
        assert g["X"].op == "Variable" and g["X"].attr["dtype"].type == DataType.Value("DT_FLOAT")
        assert [d.size for d in g["X"].attr["shape"].shape.dim] == [-1, 3]
        assert g["idx"].attr["dtype"].type == DataType.Value("DT_INT64")  # ONNX 7, TF 9: mapped by name
        assert g["W"].op == "Const" and [d.size for d in g["W"].attr["shape"].shape.dim] == [3, 2]
        assert g["XW"].op == "MatMul" and list(g["XW"].input) == ["X", "W"]
        assert list(g["Y"].input) == ["XW", "B"] and list(g["Z"].input) == ["Y"]
        assert list(g["G"].input) == ["W", "idx"] and g["G"].attr["axis"].s == b"0"
        assert g["vals"].op == "TopK" and list(g["vals"].input) == ["Z", "k"]
        assert list(g["output/inds"].input) == ["vals:1"] and g["output/inds"].op == "Variable"
        assert g["output/inds"].attr["dtype"].type == DataType.Value("DT_INT64")
        assert list(g["output/G"].input) == ["G"]
        assert [d.size for d in g["Z"].attr["_output_shapes"].list.shape[0].dim] == [-1, 2]  # from shape inference


def test_onnx_from_path_and_bytes_and_errors(tmp_path, caplog, capsys):
    path = tmp_path / "m.onnx"
    onnx.save(_onnx_model(), str(path))
    logdir = str(tmp_path / "logs")
    with anyboard.SummaryWriter(logdir) as w:
        w.add_onnx_graph(str(path))
        w.add_onnx_graph(path.read_bytes())
        w.add_graph(_onnx_model())
        with pytest.raises(ValueError, match=r"missing\.onnx"):
            w.add_onnx_graph(str(tmp_path / "missing.onnx"))
        with pytest.raises(TypeError):
            w.add_onnx_graph(42)
    graphs = [GraphDef.FromString(e.graph_def) for e in anyboard.iter_run_events(logdir) if e.graph_def]
    assert len(graphs) == 3 and all({n.name for n in g.node} >= {"X", "W", "XW", "output/G"} for g in graphs)
    assert capsys.readouterr() == ("", "")  # nothing printed


def test_onnx_dtype_table_is_by_name():
    for onnx_name, tf_name in ONNX_TO_TF.items():
        assert tf_dtype(TensorProto.DataType.Value(onnx_name)) == DataType.Value(tf_name)
    assert tf_dtype(TensorProto.STRING) == DataType.Value("DT_STRING")  # ONNX 8 vs TF 7
    assert tf_dtype(TensorProto.FLOAT8E4M3FN) == DataType.Value("DT_INVALID")


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
def test_untraceable_model_raises_clear_error(logdir, capsys):
    class Broken(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(2, 2)

        def forward(self, x):
            return {"a": self.lin(x), "b": "not a tensor"}

    model = Broken().train()
    with anyboard.SummaryWriter(logdir) as w:
        with pytest.raises(ValueError, match="Broken") as info:
            w.add_graph(model, torch.randn(1, 2))
        assert info.value.__cause__ is not None and len(str(info.value)) < 600
        assert model.training
        with pytest.raises(ValueError, match=r"Net.*input_to_model"):
            w.add_graph(Net())
        with pytest.raises(TypeError, match="add_graph expects"):
            w.add_graph(object())
    assert not [e for e in anyboard.iter_run_events(logdir) if e.graph_def]
    assert capsys.readouterr().out == ""


def test_verbose_logs_instead_of_printing(logdir, caplog, capsys):
    with caplog.at_level(logging.INFO, logger="anyboard"), anyboard.SummaryWriter(logdir) as w:
        w.add_graph(Net(), [torch.randn(1, 1, 8, 8)], verbose=True)
    assert "aten::_convolution" in caplog.text
    assert capsys.readouterr().out == ""
    events = list(anyboard.iter_run_events(logdir))
    assert sum(1 for e in events if e.graph_def) == 1
    assert [e.tagged_run_metadata.tag for e in events if e.HasField("tagged_run_metadata")] == ["step1"]


def test_add_graph_lets_no_torch_deprecation_warning_reach_the_user(logdir):
    """torch 2.13 deprecates torch.jit.trace; anyboard's tracer keeps that warning from its users.

    The suite's own filter for it (pyproject.toml) exists for torch's writer, which the
    comparison tests run; here every warning is an error again, whatever that filter says.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with anyboard.SummaryWriter(logdir) as w:
            w.add_graph(Net(), torch.zeros(1, 1, 8, 8))
    events = [e for e in anyboard.iter_run_events(logdir) if e.HasField("graph_def")]
    assert len(events) == 1


def test_add_graph_leaves_the_warnings_already_shown_alone(tmp_path):
    """Under the default filters (which ignore torch's deprecation), add_graph changes no filter:
    ``warnings.catch_warnings`` would clear every module's record of the warnings it has shown, so
    a user's warning shown once per location would print again after each ``add_graph``."""
    import subprocess
    import sys

    script = tmp_path / "user.py"
    script.write_text(
        "import warnings, torch, anyboard\n"
        "def mine():\n"
        "    warnings.warn('shown once', UserWarning)\n"
        "mine()\n"
        f"with anyboard.SummaryWriter({str(tmp_path / 'logs')!r}) as w:\n"
        "    w.add_graph(torch.nn.Linear(3, 2), torch.zeros(1, 3))\n"
        "mine()\n"
    )
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stderr.count("UserWarning: shown once") == 1, run.stderr
