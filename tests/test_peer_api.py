"""Public-API behaviours a user switching from tensorboardX or torch.utils.tensorboard relies on.

Each test writes with anyboard and, where the peer has the call, with the peer too, and
reads both back with the real readers (tbparse, TensorBoard's EventAccumulator).
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
import torch

import anyboard
from anyboard.graph import GraphTraceError

tensorboardX = pytest.importorskip("tensorboardX")
tbparse = pytest.importorskip("tbparse")


def _hparams_and_metrics(logdir):
    """``({run: {hparam: value}}, {run: [(tag, step, value)]})`` through tbparse."""
    reader = tbparse.SummaryReader(logdir, extra_columns={"dir_name"})
    hp: dict[str, dict[str, object]] = {}
    for row in reader.hparams.itertuples():
        hp.setdefault(row.dir_name, {})[row.tag] = row.value
    metrics: dict[str, list[tuple[str, int, float]]] = {}
    for row in reader.scalars.itertuples():
        metrics.setdefault(row.dir_name, []).append((row.tag, int(row.step), float(row.value)))
    return hp, metrics


def _both(tmp_path, call):
    """Run ``call(writer)`` with anyboard and tensorboardX; tbparse's view of each."""
    out = []
    for name, cls in (("anyboard", anyboard.SummaryWriter), ("tbx", tensorboardX.SummaryWriter)):
        d = str(tmp_path / name)
        w = cls(d)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            call(w)
        w.close()
        out.append(_hparams_and_metrics(d))
    return out


# ---------------------------------------------------------------- add_hparams: both dialects


def test_tensorboardx_positional_name_and_step_match_tensorboardx(tmp_path):
    def call(w):
        w.add_hparams({"lr": 0.1, "opt": "sgd", "bn": True}, {"hp/acc": 0.5}, "trial_a", 5)
        w.add_hparams({"lr": 0.2, "opt": "adam", "bn": False}, {"hp/acc": 0.75}, "trial_b")

    ours, theirs = _both(tmp_path, call)
    assert ours == theirs
    hp, metrics = ours
    assert set(hp) == {"trial_a", "trial_b"}
    assert hp["trial_a"] == {"lr": 0.1, "opt": "sgd", "bn": True}
    assert metrics["trial_a"] == [("hp/acc", 5, 0.5)]
    assert metrics["trial_b"] == [("hp/acc", 0, 0.75)]


def test_tensorboardx_keywords_match_tensorboardx(tmp_path):
    def call(w):
        w.add_hparams({"depth": 3}, {"m": 1.5}, name="kw_run", global_step=9)
        w.add_hparams({"depth": 4}, {"m": 2.5}, None, 11)  # tensorboardX: name=None, global_step=11

    ours, theirs = _both(tmp_path, call)
    hp, metrics = ours
    assert hp["kw_run"] == {"depth": 3.0}
    assert metrics["kw_run"] == [("m", 9, 1.5)]
    # the unnamed session gets a time-based run name in both; compare everything but the name
    (unnamed,) = [r for r in hp if r != "kw_run"]
    assert metrics[unnamed] == [("m", 11, 2.5)]
    (their_unnamed,) = [r for r in theirs[0] if r != "kw_run"]
    assert theirs[0][their_unnamed] == hp[unnamed]
    assert theirs[1][their_unnamed] == metrics[unnamed]
    assert theirs[0]["kw_run"] == hp["kw_run"]


def test_torch_dialect_still_takes_domain_run_name_and_step(tmp_path):
    from torch.utils.tensorboard import SummaryWriter as TorchWriter

    views = []
    for name, cls in (("anyboard", anyboard.SummaryWriter), ("torch", TorchWriter)):
        d = str(tmp_path / name)
        with cls(d) as w:
            w.add_hparams({"opt": "adam", "lr": 0.01}, {"acc": 0.9}, {"opt": ["sgd", "adam"]}, "torch_run", 4)
            w.add_hparams({"opt": "sgd", "lr": 0.02}, {"acc": 0.8}, run_name="torch_kw", global_step=6)
        views.append(_hparams_and_metrics(d))
    assert views[0] == views[1]
    assert views[0][1]["torch_run"] == [("acc", 4, pytest.approx(0.9))]
    # the torch dialect's third argument is a domain: its types are checked, as torch checks them
    with anyboard.SummaryWriter(str(tmp_path / "bad")) as w, pytest.raises(TypeError, match="opt"):
        w.add_hparams({"opt": "rmsprop"}, {"acc": 1.0}, {"opt": ["sgd", 1]}, "r")


def test_hparams_dashboard_reads_tensorboardx_dialect_sessions(tmp_path):
    from tbread import python_accumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    d = str(tmp_path / "dash")
    with anyboard.SummaryWriter(d) as w:
        w.add_hparams({"lr": 0.3, "act": "relu"}, {"loss": 0.25}, "s1", 2)
    acc = python_accumulator(os.path.join(d, "s1"))
    content = acc.PluginTagToContent("hparams")
    data = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    start = data.session_start_info
    assert start.hparams["lr"].number_value == 0.3
    assert start.hparams["act"].string_value == "relu"
    assert "_hparams_/session_end_info" in content


def test_empty_run_name_is_a_fresh_run_as_in_the_peers(logdir):
    with anyboard.SummaryWriter(logdir) as w:
        w.add_hparams({"a": 1}, {"m": 1.0}, name="")
        w.add_hparams({"a": 2}, {"m": 2.0}, run_name="")
    subdirs = [e for e in os.listdir(logdir) if os.path.isdir(os.path.join(logdir, e))]
    assert len(subdirs) == 2


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        (("a",), {"name": "b"}, "run name twice"),
        (("a", "b"), {}, "run name twice"),
        (("a",), {"run_name": "b"}, "run name twice"),
        ((None, "b"), {"name": "c"}, "not both"),
        ((), {"name": "a", "run_name": "b"}, "not both"),
        (("a", 3), {"global_step": 4}, "global_step twice"),
        ((), {"name": 5}, "name must be a str"),
    ],
)
def test_ambiguous_hparams_calls_raise_type_error_and_write_nothing(logdir, args, kwargs, match):
    with anyboard.SummaryWriter(logdir) as w, pytest.raises(TypeError, match=match):
        w.add_hparams({"a": 1}, {"m": 1.0}, *args, **kwargs)
    assert [e for e in os.listdir(logdir) if os.path.isdir(os.path.join(logdir, e))] == []


# ---------------------------------------------------------------- add_graph: the peers' exception classes


class _Linear(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 2)

    def forward(self, x):
        return self.fc(x)


class _DictOut(torch.nn.Module):
    def forward(self, x):
        return {"double": x * 2}


class _TwoInputs(torch.nn.Module):
    def forward(self, x, y):
        return x + y


def _peer_exception(tmp_path, model, inputs, **kwargs):
    """The exception class each peer's ``add_graph`` raises (``None`` if it does not)."""
    import contextlib
    import io

    from torch.utils.tensorboard import SummaryWriter as TorchWriter

    found = []
    for i, cls in enumerate((TorchWriter, tensorboardX.SummaryWriter)):
        w = cls(str(tmp_path / f"peer{i}"))
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                w.add_graph(model, inputs, **kwargs)
        except Exception as exc:
            found.append(type(exc))
        else:
            found.append(None)
        finally:
            w.close()
    return found


@pytest.mark.parametrize(
    "model, inputs, kwargs, peer_class",
    [
        (_Linear(), torch.zeros(1, 5), {}, RuntimeError),  # wrong input size
        (_DictOut(), torch.zeros(2), {"use_strict_trace": True}, RuntimeError),
        (_Linear(), None, {}, RuntimeError),  # no example input
        (_TwoInputs(), torch.zeros(2), {}, TypeError),  # too few inputs for forward
    ],
    ids=["wrong-size", "dict-output-strict", "no-input", "too-few-inputs"],
)
def test_add_graph_raises_what_the_peers_raise(tmp_path, model, inputs, kwargs, peer_class):
    peers = _peer_exception(tmp_path, model, inputs, **kwargs)
    assert all(p is not None and issubclass(p, peer_class) for p in peers), peers
    logdir = str(tmp_path / "ours")
    with anyboard.SummaryWriter(logdir) as w, pytest.raises(peer_class) as info:
        w.add_graph(model, inputs, **kwargs)
    # still anyboard's own rule: a ValueError naming the model, chained to the tracer's error
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, GraphTraceError)
    assert type(model).__name__ in str(info.value)
    assert info.value.__cause__ is not None
    if inputs is not None:
        assert isinstance(info.value.__cause__, peer_class)
    else:
        assert "no input_to_model" in str(info.value)
    from tbread import python_accumulator

    assert python_accumulator(logdir).Tags()["graph"] is False


def test_dict_output_without_strict_trace_is_written(logdir):
    with anyboard.SummaryWriter(logdir) as w:
        w.add_graph(_DictOut(), torch.zeros(2), use_strict_trace=False)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(logdir)
    acc.Reload()
    assert acc.Tags()["graph"] is True
    assert any("mul" in n.op for n in acc.Graph().node)


# ---------------------------------------------------------------- utils.figure_to_image


def _figure(color, size=(2.0, 1.5), dpi=40):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=size, dpi=dpi)
    fig.patch.set_facecolor(color)
    return fig


def test_figure_to_image_matches_tensorboardx():
    import matplotlib.pyplot as plt
    from tensorboardX.utils import figure_to_image as tbx_figure_to_image

    from anyboard.utils import figure_to_image

    ours = figure_to_image(_figure("red"))
    theirs = tbx_figure_to_image(_figure("red"))
    assert ours.dtype == np.uint8 and ours.shape == (3, 60, 80)  # CHW, figsize * dpi
    np.testing.assert_array_equal(ours, theirs)
    assert tuple(ours[:, 30, 40]) == (255, 0, 0)

    batch = figure_to_image([_figure("blue"), _figure("lime")])
    their_batch = tbx_figure_to_image([_figure("blue"), _figure("lime")])
    assert batch.shape == (2, 3, 60, 80)
    np.testing.assert_array_equal(batch, their_batch)
    assert tuple(batch[1, :, 0, 0]) == (0, 255, 0)
    assert plt.get_fignums() == []  # close=True closed every figure


def test_figure_to_image_close_false_keeps_the_figure_and_its_canvas():
    import matplotlib.pyplot as plt

    from anyboard.utils import figure_to_image

    fig = _figure("white")
    canvas = fig.canvas
    image = figure_to_image(fig, close=False)
    assert image.shape == (3, 60, 80)
    assert fig.number in plt.get_fignums()
    assert fig.canvas is canvas
    plt.close(fig)


def test_figure_to_image_output_logs_as_an_image(logdir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from anyboard.utils import figure_to_image

    with anyboard.SummaryWriter(logdir) as w:
        w.add_image("fig", figure_to_image(_figure("red")), 0)
        w.add_images("figs", figure_to_image([_figure("red"), _figure("blue")]), 0)
    acc = EventAccumulator(logdir)
    acc.Reload()
    img = acc.Images("fig")[0] if "fig" in acc.Tags()["images"] else None
    if img is not None:
        assert (img.width, img.height) == (80, 60)
    else:  # tensor (v2) image encoding: width and height are the first two strings
        from tbread import python_tensors

        (_, _, arr) = python_tensors(logdir, "fig")[0]
        assert arr[:2].tolist() == [b"80", b"60"]


def test_figure_to_image_bad_input():
    from anyboard.utils import figure_to_image

    with pytest.raises(TypeError, match="matplotlib Figure"):
        figure_to_image(np.zeros((3, 4, 4)))
    with pytest.raises(ValueError, match="empty"):
        figure_to_image([])
    with pytest.raises(ValueError, match="pixel size"):
        figure_to_image([_figure("red"), _figure("red", size=(3.0, 1.5))])


def test_boolean_scalars_are_written_as_the_peers_write_them(tmp_path):
    """add_scalar(True) and a bool in add_scalars: 1.0 / 0.0, as tensorboardX and torch write them
    (a Python bool was refused while NumPy and torch booleans were accepted)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter as TorchWriter

    def call(w):
        w.add_scalar("flag", True, 0)
        w.add_scalar("flag", False, 1)
        w.add_scalar("flag", np.bool_(True), 2)
        w.add_scalars("both", {"on": True, "off": False}, 0)

    seen = {}
    for name, cls in (
        ("anyboard", anyboard.SummaryWriter),
        ("tbx", tensorboardX.SummaryWriter),
        ("torch", TorchWriter),
    ):
        d = str(tmp_path / name)
        w = cls(d)
        call(w)
        w.close()
        acc = EventAccumulator(d)
        acc.Reload()
        seen[name] = [(e.step, e.value) for e in acc.Scalars("flag")]
    assert seen["anyboard"] == seen["tbx"] == seen["torch"] == [(0, 1.0), (1, 0.0), (2, 1.0)]
    values = {
        key: [
            v.simple_value
            for e in anyboard.iter_run_events(str(tmp_path / "anyboard" / f"both_{key}"))
            for v in e.summary.value
        ]
        for key in ("on", "off")
    }
    assert values == {"on": [1.0], "off": [0.0]}


def test_torch_writer_attributes_are_there_after_patch(tmp_path):
    """``os.path.join(writer.log_dir, "model.pt")`` and ``tensorboard_trace_handler(writer.log_dir)``
    are common torch idioms: after anyboard.patch() the writer lacked log_dir and torch's other
    public attributes."""
    from torch.utils.tensorboard import SummaryWriter as TorchWriter

    kwargs = {"purge_step": 5, "max_queue": 7, "flush_secs": 30, "filename_suffix": ".x"}
    theirs = TorchWriter(str(tmp_path / "t"), **kwargs)
    ours = anyboard.SummaryWriter(str(tmp_path / "a"), **kwargs)
    try:
        for w in (theirs, ours):
            w.add_scalars("m", {"k": 1.0}, 0)
        for name in ("max_queue", "flush_secs", "filename_suffix"):
            assert getattr(ours, name) == getattr(theirs, name), name
        assert ours.purge_step == 5  # torch resets its own to None once its file is open
        assert ours.log_dir == str(tmp_path / "a") and theirs.log_dir == str(tmp_path / "t")
        rel = {w.log_dir: sorted(os.path.relpath(d, w.log_dir) for d in w.all_writers) for w in (theirs, ours)}
        assert rel[ours.log_dir] == rel[theirs.log_dir] == [".", "m_k"]
        assert all(f.get_logdir() == d for d, f in ours.all_writers.items())
    finally:
        theirs.close()
        ours.close()


def test_float32_predictions_on_a_threshold_fall_in_the_peers_bucket(tmp_path):
    """The bucket is floor(p * (n - 1)) in p's own float type, as tensorboardX and torch take it:
    float32 0.7 * 10 is 7.0, but 6.99999988 once widened to float64 (the bucket below)."""
    from tbread import python_tensors
    from torch.utils.tensorboard import SummaryWriter as TorchWriter

    rng = np.random.default_rng(3)
    preds = (np.arange(127) / 126).astype(np.float32)
    labels = rng.integers(0, 2, preds.size).astype(bool)
    got = {}
    for name, cls in (("ours", anyboard.SummaryWriter), ("tbx", tensorboardX.SummaryWriter), ("torch", TorchWriter)):
        d = str(tmp_path / name)
        w = cls(d)
        w.add_pr_curve("pr", torch.from_numpy(labels), torch.from_numpy(preds), 0, num_thresholds=127)
        w.add_pr_curve("pr11", np.array([1, 0]), np.array([0.7, 0.3], np.float32), 0, num_thresholds=11)
        w.close()
        got[name] = {tag: python_tensors(d, tag)[0][2] for tag in ("pr", "pr11")}
    for tag in ("pr", "pr11"):
        np.testing.assert_array_equal(got["ours"][tag], got["tbx"][tag])
        np.testing.assert_array_equal(got["ours"][tag], got["torch"][tag])
    assert got["ours"]["pr11"][0].tolist() == [1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0]  # the 0.7 positive at threshold 0.7


def _hparams_start_info(run_dir):
    from anyboard.proto.hparams_pb2 import HParamsPluginData

    for e in anyboard.iter_run_events(run_dir):
        for v in e.summary.value:
            if v.tag == "_hparams_/session_start_info":
                return HParamsPluginData.FromString(v.metadata.plugin_data.content).session_start_info
    raise AssertionError(f"no session start in {run_dir}")


def test_hparam_values_tensorboardx_takes_do_not_lose_the_session(logdir):
    """``vars(args)`` holds classes, functions, lists and infinities: tensorboardX logs a callable by
    its name, skips what it cannot show and writes non-finite numbers; each had raised, and the
    whole session (its metrics too) was lost."""
    import torch

    hp = {"optimizer": torch.optim.Adam, "act": torch.relu, "milestones": [30, 60], "vec": np.arange(3),
          "thing": object(), "clip": float("inf"), "lr": 0.1}  # fmt: skip
    with anyboard.SummaryWriter(logdir) as w, pytest.warns(UserWarning) as caught:
        w.add_hparams(hp, {"hparam/acc": 0.5}, run_name="s")
    skipped = sorted(
        k for k in ("milestones", "vec", "thing") if any(f"hparam {k!r}" in str(c.message) for c in caught)
    )
    assert skipped == ["milestones", "thing", "vec"] and all(c.filename == __file__ for c in caught)
    got = _hparams_start_info(os.path.join(logdir, "s")).hparams
    assert got["optimizer"].string_value == "Adam" and got["act"].string_value == "relu"
    assert got["clip"].number_value == float("inf") and got["lr"].number_value == 0.1
    assert set(got) == {"optimizer", "act", "clip", "lr"}
    tbx_dir = os.path.join(logdir, "tbx")
    import tensorboardX

    with tensorboardX.SummaryWriter(tbx_dir) as t:
        t.add_hparams(hp, {"hparam/acc": 0.5}, name="s")
    tbx = _hparams_start_info(os.path.join(tbx_dir, "s")).hparams
    assert {k: tbx[k] for k in got} == dict(got)  # the same values as tensorboardX's


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
@pytest.mark.filterwarnings("ignore:The input to trace is already a ScriptModule:UserWarning")
def test_add_graph_of_scripted_and_traced_models_names_scopes_as_torch(tmp_path):
    """A ScriptModule's type is RecursiveScriptModule / TracedModule: torch names its scopes after
    the class the module was made from, which anyboard had lost (every layer type gone)."""
    from torch.utils.tensorboard import SummaryWriter as TorchWriter

    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Linear(3, 4)
            self.bn = torch.nn.BatchNorm1d(4)

        def forward(self, x):
            return self.bn(self.a(x))

    x = torch.randn(2, 3)
    for kind, model in (("script", torch.jit.script(M())), ("trace", torch.jit.trace(M().eval(), x))):

        def scopes(d):
            graphs = [e.graph_def for e in anyboard.iter_run_events(d) if e.graph_def]
            from anyboard.proto.graph_pb2 import GraphDef

            return {n.name[: n.name.rfind("]") + 1] for n in GraphDef.FromString(graphs[0]).node if "[" in n.name}

        ours, theirs = str(tmp_path / f"{kind}-any"), str(tmp_path / f"{kind}-torch")
        with anyboard.SummaryWriter(ours) as w:
            w.add_graph(model, x)
        with TorchWriter(theirs) as t:
            t.add_graph(model, x)
        assert scopes(ours) == scopes(theirs) == {"M/Linear[a]", "M/BatchNorm1d[bn]"}, kind


def test_add_graph_restores_each_submodules_mode(tmp_path):
    """A model in training with a frozen (eval-mode) BatchNorm: tracing puts all in eval mode, and
    restoring only the top level's mode had switched the frozen one back to training."""
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.ReLU()).train()
    model[1].eval()
    with anyboard.SummaryWriter(str(tmp_path)) as w:
        w.add_graph(model, torch.randn(2, 3))
    assert [m.training for m in model.modules()] == [True, True, False, True]


def test_pr_curve_with_soft_labels_and_a_prediction_an_ulp_above_one_matches_tensorboardx(tmp_path):
    """Both had raised ValueError in anyboard, where tensorboardX writes the curve: read back through
    the legacy EventAccumulator, the two tensors are now the same."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    import anyboard.tensorboardX as anyboard_tbx

    rng = np.random.default_rng(0)
    labels = rng.random(200)  # soft labels
    predictions = rng.random(200).astype(np.float32)
    predictions[0] = np.nextafter(np.float32(1), np.float32(2))
    curves = []
    for name, cls in (("peer", tensorboardX.SummaryWriter), ("ours", anyboard_tbx.SummaryWriter)):
        logdir = str(tmp_path / name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the peer's own deprecation noise
            w = cls(logdir)
            w.add_pr_curve("pr", labels, predictions, 0, num_thresholds=11)
            w.close()
        acc = EventAccumulator(logdir, size_guidance={"tensors": 0})
        acc.Reload()
        curves.append(tensor_util.make_ndarray(acc.Tensors("pr")[0].tensor_proto))
    np.testing.assert_array_equal(curves[1], curves[0])
