"""Lightning trains for real on CPU with anyboard's TensorBoardLogger (and with Lightning's own under patch()).

Every run is read back with TensorBoard's EventAccumulator and compared with what Lightning itself
reports (callback metrics, test results) and with a run of Lightning's stock logger on torch's writer.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
L = pytest.importorskip("lightning")
pytest.importorskip("tensorboard")

from tbread import TensorBoardServer
from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.plugins.hparams import plugin_data_pb2

import anyboard
from anyboard import patching
from anyboard.integrations.lightning import TensorBoardLogger, logger_for

HPARAMS = {"lr": 0.05, "hidden": 8, "name": "tiny"}
START = "_hparams_/session_start_info"


def _module_class(pl):
    """A tiny regression LightningModule on ``pl`` (``lightning`` or ``pytorch_lightning``)."""

    class Tiny(pl.LightningModule):
        def __init__(self, lr=0.05, hidden=8, name="tiny"):
            super().__init__()
            self.save_hyperparameters()
            self.net = torch.nn.Sequential(torch.nn.Linear(4, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))
            self.example_input_array = torch.zeros(2, 4)

        def forward(self, x):
            return self.net(x)

        def _loss(self, batch):
            x, y = batch
            return torch.nn.functional.mse_loss(self(x), y)

        def training_step(self, batch, batch_idx):
            loss = self._loss(batch)
            self.log("train_loss", loss)
            return loss

        def validation_step(self, batch, batch_idx):
            self.log("val_loss", self._loss(batch))

        def test_step(self, batch, batch_idx):
            self.log("test_loss", self._loss(batch))

        def on_train_epoch_end(self):
            experiment = self.logger.experiment
            experiment.add_histogram("weights/first", self.net[0].weight.detach(), self.current_epoch)
            image = torch.linspace(0, 1, 3 * 8 * 8).reshape(3, 8, 8)
            experiment.add_image("samples", image, self.current_epoch)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    return Tiny


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 4, generator=g)
    y = x.sum(1, keepdim=True)
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)


def _trainer(pl, logger, epochs=2):
    return pl.Trainer(
        max_epochs=epochs,
        logger=logger,
        log_every_n_steps=1,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        devices=1,
    )


def _fit_and_test(pl, logger):
    """Seeded fit (2 epochs) then test; returns (trainer, Lightning's last val_loss, test results)."""
    pl.seed_everything(0, verbose=False)
    model = _module_class(pl)(**HPARAMS)
    trainer = _trainer(pl, logger)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(model, _data(), _data())
        val_loss = float(trainer.callback_metrics["val_loss"])
        results = trainer.test(model, _data(), verbose=False)
    return trainer, val_loss, results


def _accumulator(run_dir):
    acc = ea.EventAccumulator(
        run_dir, size_guidance={ea.SCALARS: 0, ea.HISTOGRAMS: 0, ea.IMAGES: 0, ea.TENSORS: 0, ea.GRAPH: 0}
    )
    acc.Reload()
    return acc


def _scalars(acc):
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def _session_hparams(acc):
    content = acc.PluginTagToContent("hparams")[START]
    info = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    out = {}
    for key, value in info.hparams.items():
        kind = value.WhichOneof("kind")
        out[key] = getattr(value, kind)
    return out


def test_fit_then_test_matches_lightnings_own_logger(tmp_path):
    save_dir = str(tmp_path / "logs")
    logger = TensorBoardLogger(save_dir, name="exp", log_graph=True, flush_secs=30)
    assert isinstance(logger, L.pytorch.loggers.TensorBoardLogger)
    trainer, val_loss, results = _fit_and_test(L, logger)
    # Lightning's layout: save_dir/name/version_N, hparams.yaml next to the event files.
    assert logger.log_dir == os.path.join(save_dir, "exp", "version_0") == trainer.log_dir
    assert isinstance(logger.experiment, anyboard.SummaryWriter)
    assert TensorBoardLogger(save_dir, name="exp").version == 1
    import yaml

    with open(os.path.join(logger.log_dir, "hparams.yaml")) as f:
        assert yaml.safe_load(f) == HPARAMS
    files = sorted(os.listdir(logger.log_dir))
    assert [n for n in files if not n.startswith("events.out.tfevents.")] == ["hparams.yaml"]

    acc = _accumulator(logger.log_dir)
    scalars = _scalars(acc)
    # Lightning's own numbers: the last validation loss and the test result.
    assert scalars["val_loss"][-1][1] == pytest.approx(val_loss, rel=1e-6)
    assert [v for _, v in scalars["test_loss"]] == pytest.approx([results[0]["test_loss"]], rel=1e-6)
    assert [s for s, _ in scalars["val_loss"]] == [3, 7]  # 4 batches per epoch, 2 epochs
    # The same run on Lightning's stock logger (torch's writer) logs the same scalars.
    stock = L.pytorch.loggers.TensorBoardLogger(str(tmp_path / "stock"), name="exp", log_graph=True)
    _fit_and_test(L, stock)
    expected = _scalars(_accumulator(stock.log_dir))
    assert set(scalars) == set(expected) == {"hp_metric", "train_loss", "epoch", "val_loss", "test_loss"}
    for tag, values in expected.items():
        assert [s for s, _ in scalars[tag]] == [s for s, _ in values], tag
        assert [v for _, v in scalars[tag]] == pytest.approx([v for _, v in values], rel=1e-5), tag

    # Hyperparameters (one session in the run) and what the model logged through logger.experiment.
    assert _session_hparams(acc) == HPARAMS
    weights = acc.Histograms("weights/first")
    assert [h.step for h in weights] == [0, 1]
    assert weights[-1].histogram_value.num == 8 * 4
    images = acc.Images("samples")
    assert [(i.step, i.width, i.height) for i in images] == [(0, 8, 8), (1, 8, 8)]
    graph = acc.Graph()
    assert any("Linear" in node.name for node in graph.node), [n.name for n in graph.node][:10]

    # The HParams dashboard shows the session with its metrics.
    with TensorBoardServer(os.path.join(save_dir, "exp"), load_fast=False) as tb:
        tb.wait_for(lambda: tb.post("/data/plugin/hparams/experiment", {"experimentName": ""}).get("metricInfos"))
        exp = tb.post("/data/plugin/hparams/experiment", {"experimentName": ""})
        assert {h["name"] for h in exp["hparamInfos"]} == set(HPARAMS)
        metrics = {m["name"]["tag"] for m in exp["metricInfos"]}
        assert {"hp_metric", "val_loss", "test_loss"} <= metrics


def test_stock_lightning_logger_writes_through_anyboard_after_patch(tmp_path):
    with patching.patched():
        logger = L.pytorch.loggers.TensorBoardLogger(str(tmp_path), name="patched")
        _, _, results = _fit_and_test(L, logger)
        assert type(logger.experiment) is anyboard.SummaryWriter
    acc = _accumulator(logger.log_dir)
    scalars = _scalars(acc)
    assert [v for _, v in scalars["test_loss"]] == pytest.approx([results[0]["test_loss"]], rel=1e-6)
    assert len(scalars["val_loss"]) == 2
    # Lightning's hparams() summaries (torch's protos) went through anyboard's file writer.
    assert _session_hparams(acc) == HPARAMS
    assert [h.step for h in acc.Histograms("weights/first")] == [0, 1]


def test_pytorch_lightning_flavor(tmp_path):
    pl = pytest.importorskip("pytorch_lightning")
    from anyboard.integrations.pytorch_lightning import TensorBoardLogger as PLLogger

    assert PLLogger is logger_for("pytorch_lightning") is not TensorBoardLogger
    logger = PLLogger(str(tmp_path), name="pl", version="run_a", sub_dir="tb")
    assert isinstance(logger, pl.loggers.TensorBoardLogger)
    assert not isinstance(logger, L.pytorch.loggers.TensorBoardLogger)
    pl.seed_everything(0, verbose=False)
    trainer = _trainer(pl, logger, epochs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(_module_class(pl)(**HPARAMS), _data(), _data())
    assert logger.log_dir == os.path.join(str(tmp_path), "pl", "run_a", "tb")
    acc = _accumulator(logger.log_dir)
    assert len(acc.Scalars("train_loss")) == 4
    assert acc.Scalars("val_loss")[0].value == pytest.approx(float(trainer.callback_metrics["val_loss"]), rel=1e-6)
    assert _session_hparams(acc) == HPARAMS


def test_bad_writer_arguments_fail_on_construction(tmp_path):
    with pytest.raises(TypeError, match="flush_sec"):
        TensorBoardLogger(str(tmp_path), flush_sec=5)
    with pytest.raises(ValueError, match="flavor"):
        logger_for("keras")
    assert not os.listdir(tmp_path)


def test_log_hyperparams_with_metrics_and_array_values(tmp_path):
    logger = TensorBoardLogger(str(tmp_path), name="", version=0, default_hp_metric=False)
    logger.log_hyperparams({"lr": 0.1}, metrics=None)  # no metrics: nothing written, as in Lightning
    assert logger._experiment is None
    params = {"lr": 0.1, "layers": torch.tensor([2, 3]), "scale": torch.tensor(0.5), "opt": {"name": "sgd"}}
    logger.log_hyperparams(params, metrics={"acc": 0.75}, step=3)
    logger.log_hyperparams(params, metrics={"acc": 0.75}, step=3)  # again (fit then test): no second session
    logger.finalize("success")
    acc = _accumulator(logger.log_dir)
    assert _session_hparams(acc) == {"lr": 0.1, "layers": "[2, 3]", "scale": 0.5, "opt/name": "sgd"}
    assert [(e.step, e.value) for e in acc.Scalars("acc")] == [(3, 0.75), (3, 0.75)]
    starts = [
        v
        for path in sorted(os.listdir(logger.log_dir))
        if path.startswith("events")
        for e in anyboard.iter_events(os.path.join(logger.log_dir, path))
        for v in e.summary.value
        if v.tag == START
    ]
    assert len(starts) == 1
    assert np.isclose(float(acc.Scalars("acc")[0].value), 0.75)


def test_save_flushes_at_most_every_save_flush_secs_and_finalize_writes_all(tmp_path):
    logger = TensorBoardLogger(str(tmp_path), name="", version=0)
    assert logger.save_flush_secs == 1.0
    logger.save_flush_secs = 0  # every save() waits for the writer, as Lightning's own logger
    logger.log_metrics({"a": 1.0}, step=1)
    logger.save()
    assert not logger.experiment.closed
    assert [(e.step, e.value) for e in _accumulator(logger.log_dir).Scalars("a")] == [(1, 1.0)]
    logger.save_flush_secs = 3600
    for step in range(2, 50):
        logger.log_metrics({"a": float(step)}, step=step)
        logger.save()
    logger.finalize("success")
    assert [e.step for e in _accumulator(logger.log_dir).Scalars("a")] == list(range(1, 50))
    assert os.path.isfile(os.path.join(logger.log_dir, "hparams.yaml"))
