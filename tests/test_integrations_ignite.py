"""pytorch-ignite's TensorboardLogger writes through anyboard after anyboard.patch(): a tiny model, 2 CPU epochs.

Read back with TensorBoard's EventAccumulator and compared with the same run on ignite's default
writer (tensorboardX's).
"""

from __future__ import annotations

import os

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("ignite")
pytest.importorskip("tensorboard")
tensorboardX = pytest.importorskip("tensorboardX")

from ignite.engine import Events, create_supervised_evaluator, create_supervised_trainer
from ignite.handlers import global_step_from_engine
from ignite.handlers.tensorboard_logger import TensorboardLogger, WeightsHistHandler
from ignite.metrics import Loss
from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.plugins.hparams import plugin_data_pb2

import anyboard
from anyboard import patching

LR = 0.05


def _train(log_dir):
    """Two epochs of a seeded regression with ignite's handlers; returns (logger, the last validation mse)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 4, generator=g)
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True)), batch_size=8)
    trainer = create_supervised_trainer(model, optimizer, torch.nn.functional.mse_loss)
    evaluator = create_supervised_evaluator(model, metrics={"mse": Loss(torch.nn.functional.mse_loss)})
    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda engine: evaluator.run(data))

    tb_logger = TensorboardLogger(log_dir=str(log_dir))
    tb_logger.attach_output_handler(
        trainer, event_name=Events.ITERATION_COMPLETED, tag="training", output_transform=lambda loss: {"loss": loss}
    )
    tb_logger.attach_output_handler(
        evaluator,
        event_name=Events.COMPLETED,
        tag="validation",
        metric_names=["mse"],
        global_step_transform=global_step_from_engine(trainer),
    )
    tb_logger.attach_opt_params_handler(trainer, event_name=Events.ITERATION_STARTED, optimizer=optimizer)
    tb_logger.attach(trainer, log_handler=WeightsHistHandler(model), event_name=Events.EPOCH_COMPLETED)

    @trainer.on(Events.EPOCH_COMPLETED)
    def log_image(engine):
        # Through the logger (ignite forwards unknown attributes to its writer).
        tb_logger.add_image("inputs", x[:8].T.unsqueeze(0).sigmoid(), engine.state.epoch)

    trainer.run(data, max_epochs=2)
    mse = evaluator.state.metrics["mse"]
    tb_logger.add_hparams({"lr": LR, "optimizer": "sgd"}, {"hparam/mse": mse}, name="hparams")  # tensorboardX spelling
    tb_logger.close()
    return tb_logger, mse


def _accumulator(run_dir):
    acc = ea.EventAccumulator(
        str(run_dir), size_guidance={ea.SCALARS: 0, ea.HISTOGRAMS: 0, ea.IMAGES: 0, ea.TENSORS: 0}
    )
    acc.Reload()
    return acc


def _scalars(acc):
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_ignite_tensorboard_logger_writes_through_anyboard_after_patch(tmp_path):
    with patching.patched():
        tb_logger, mse = _train(tmp_path / "anyboard")
    # ignite imports tensorboardX's name first: patch() gives it anyboard's writer with tensorboardX's layout
    assert type(tb_logger.writer) is anyboard.tensorboardX.SummaryWriter
    reference, reference_mse = _train(tmp_path / "tbx")  # unpatched: ignite's default, tensorboardX
    assert type(reference.writer) is tensorboardX.SummaryWriter
    assert mse == pytest.approx(reference_mse, rel=1e-6)

    acc = _accumulator(tmp_path / "anyboard")
    scalars = _scalars(acc)
    expected = _scalars(_accumulator(tmp_path / "tbx"))
    assert set(scalars) == set(expected) == {"training/loss", "validation/mse", "lr/group_0"}
    for tag, values in expected.items():
        assert [s for s, _ in scalars[tag]] == [s for s, _ in values], tag
        assert [v for _, v in scalars[tag]] == pytest.approx([v for _, v in values], rel=1e-6), tag
    assert len(scalars["training/loss"]) == 8 and [s for s, _ in scalars["validation/mse"]] == [1, 2]  # epochs
    assert scalars["validation/mse"][-1][1] == pytest.approx(mse, rel=1e-6)

    # Ignite's weight histograms and the image logged through the logger.
    hist = acc.Histograms("weights/0/weight")
    assert [h.step for h in hist] == [1, 2] and hist[0].histogram_value.num == 8 * 4
    images = acc.Images("inputs")
    assert [(i.step, i.width, i.height) for i in images] == [(1, 8, 4), (2, 8, 4)]

    # add_hparams through the logger: a session in the "hparams" sub-run, with its metric.
    hp = _accumulator(tmp_path / "anyboard" / "hparams")
    content = hp.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    info = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    assert info.hparams["lr"].number_value == LR and info.hparams["optimizer"].string_value == "sgd"
    assert [e.value for e in hp.Scalars("hparam/mse")] == pytest.approx([mse], rel=1e-6)
    assert [d for d in os.listdir(tmp_path / "anyboard") if os.path.isdir(tmp_path / "anyboard" / d)] == ["hparams"]
