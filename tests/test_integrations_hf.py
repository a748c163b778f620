"""The Hugging Face Trainer logs through anyboard: a tiny GPT-2 built from a config (no downloads), a few CPU steps.

Read back with TensorBoard's EventAccumulator and compared with the Trainer's own ``log_history``.
"""

from __future__ import annotations

import json
import os

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"  # never reach the Hub (before transformers is imported)
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate")  # the Trainer needs it
pytest.importorskip("tensorboard")

from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.util import tensor_util

import anyboard
from anyboard import patching
from anyboard.integrations.transformers import TensorBoardCallback

STEPS = 4
LR = 1e-3


def _model():
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=32, n_positions=16, n_embd=16, n_layer=2, n_head=2)
    return transformers.GPT2LMHeadModel(config)


def _data(n):
    g = torch.Generator().manual_seed(0)
    out = []
    for _ in range(n):
        ids = torch.randint(0, 32, (16,), generator=g)
        out.append({"input_ids": ids, "labels": ids})
    return out


class _LogWeights(transformers.TrainerCallback):
    """Logs a histogram of the token embedding through the TensorBoard callback's writer each step."""

    def __init__(self, tensorboard):
        self.tensorboard = tensorboard

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self.tensorboard.tb_writer.add_histogram("weights/wte", model.transformer.wte.weight, state.global_step)


def _trainer(output_dir, report_to, callbacks):
    args = transformers.TrainingArguments(
        output_dir=str(output_dir),
        max_steps=STEPS,
        logging_steps=1,
        per_device_train_batch_size=4,
        per_device_eval_batch_size=4,
        learning_rate=LR,
        report_to=report_to,
        use_cpu=True,
        save_strategy="no",
        disable_tqdm=True,
        seed=0,
    )
    return transformers.Trainer(
        model=_model(), args=args, train_dataset=_data(16), eval_dataset=_data(8), callbacks=callbacks
    )


def _accumulator(run_dir):
    acc = ea.EventAccumulator(str(run_dir), size_guidance={ea.SCALARS: 0, ea.HISTOGRAMS: 0, ea.TENSORS: 0})
    acc.Reload()
    return acc


def _check_run(acc, trainer, eval_result):
    """The scalars the Trainer logged (its log_history), its args, and the histogram."""
    history = [h for h in trainer.state.log_history if "loss" in h]
    assert [e.step for e in acc.Scalars("train/loss")] == [h["step"] for h in history] == list(range(1, STEPS + 1))
    assert [e.value for e in acc.Scalars("train/loss")] == pytest.approx([h["loss"] for h in history], rel=1e-6)
    assert [e.value for e in acc.Scalars("train/learning_rate")] == pytest.approx(
        [h["learning_rate"] for h in history], rel=1e-6
    )
    assert [(e.step, e.value) for e in acc.Scalars("eval/loss")] == [(STEPS, pytest.approx(eval_result["eval_loss"]))]
    # TrainingArguments, logged as JSON text at the start of training.
    (args_event,) = acc.Tensors("args")
    args = json.loads(tensor_util.make_ndarray(args_event.tensor_proto).reshape(-1)[0].decode())
    assert args["learning_rate"] == LR and args["max_steps"] == STEPS
    config = json.loads(tensor_util.make_ndarray(acc.Tensors("model_config")[0].tensor_proto).reshape(-1)[0])
    assert config["n_layer"] == 2


def _event_dirs(root):
    return sorted({d for d, _, files in os.walk(root) for f in files if "tfevents" in f})


def test_callback_with_an_anyboard_writer_and_evaluate_after_train(tmp_path):
    run_dir = tmp_path / "tb"
    writer = anyboard.SummaryWriter(str(run_dir))
    tensorboard = TensorBoardCallback(writer)
    trainer = _trainer(tmp_path / "out", "none", [tensorboard, _LogWeights(tensorboard)])
    trainer.train()
    assert tensorboard.tb_writer is None and writer.closed  # transformers closes it when training ends
    eval_result = trainer.evaluate()  # logs through a new anyboard writer, in the same directory
    assert isinstance(tensorboard.tb_writer, anyboard.SummaryWriter)
    tensorboard.tb_writer.close()
    assert _event_dirs(tmp_path) == [str(run_dir)]
    acc = _accumulator(run_dir)
    _check_run(acc, trainer, eval_result)
    weights = acc.Histograms("weights/wte")
    assert [h.step for h in weights] == list(range(1, STEPS + 1))
    assert weights[0].histogram_value.num == 32 * 16


def test_transformers_own_callback_with_an_anyboard_writer(tmp_path):
    writer = anyboard.SummaryWriter(str(tmp_path / "tb"))
    tensorboard = transformers.integrations.TensorBoardCallback(tb_writer=writer)
    trainer = _trainer(tmp_path / "out", "none", [tensorboard, _LogWeights(tensorboard)])
    trainer.train()
    assert writer.closed
    acc = _accumulator(tmp_path / "tb")
    history = [h for h in trainer.state.log_history if "loss" in h]
    assert [e.value for e in acc.Scalars("train/loss")] == pytest.approx([h["loss"] for h in history], rel=1e-6)
    assert [h.step for h in acc.Histograms("weights/wte")] == list(range(1, STEPS + 1))


def test_report_to_tensorboard_uses_anyboard_after_patch(tmp_path, monkeypatch):
    monkeypatch.delenv("TENSORBOARD_LOGGING_DIR", raising=False)
    with patching.patched():
        trainer = _trainer(tmp_path / "out", "tensorboard", None)
        (tensorboard,) = [c for c in trainer.callback_handler.callbacks if type(c).__name__ == "TensorBoardCallback"]
        assert type(tensorboard) is transformers.integrations.TensorBoardCallback
        trainer.add_callback(_LogWeights(tensorboard))
        trainer.train()
        eval_result = trainer.evaluate()
    assert type(tensorboard.tb_writer) is anyboard.SummaryWriter
    tensorboard.tb_writer.close()
    # transformers' default directory, output_dir/runs/<date>_<host>; train and evaluate in one run.
    (run_dir,) = _event_dirs(tmp_path)
    assert os.path.dirname(run_dir) == str(tmp_path / "out" / "runs")
    acc = _accumulator(run_dir)
    _check_run(acc, trainer, eval_result)
    assert len(acc.Histograms("weights/wte")) == STEPS
