"""``TensorBoardCallback`` for the Hugging Face ``Trainer``, writing through :class:`anyboard.SummaryWriter`.

Two ways to make a ``Trainer`` log through anyboard:

- ``anyboard.patch()`` before building the ``Trainer``: ``report_to="tensorboard"`` then builds
  transformers' own ``TensorBoardCallback``, which creates an anyboard writer (it looks up
  ``torch.utils.tensorboard.SummaryWriter`` when the callback is built).
- Pass a callback with ``report_to="none"`` (with ``report_to="tensorboard"`` too, the Trainer would
  log twice)::

      from anyboard.integrations.transformers import TensorBoardCallback
      Trainer(..., args=TrainingArguments(..., report_to="none"),
              callbacks=[TensorBoardCallback(anyboard.SummaryWriter("runs/exp"))])

  transformers' own ``TensorBoardCallback(tb_writer=anyboard.SummaryWriter(...))`` logs the
  training run through anyboard too, but it drops the writer when training ends and builds a
  writer of torch's (without ``patch()``) in its default directory for a later ``evaluate()``. This
  subclass builds anyboard writers only, and the one after training in the directory of the writer
  passed in (a new event file there; TensorBoard shows the run as one).

What it logs is transformers' choice: ``args`` and ``model_config`` as text at the start, every
``Trainer.log`` entry as a scalar (``train/loss``, ``eval/loss``...; strings as text), at the
Trainer's ``global_step``. Needs ``tensorboard`` or ``tensorboardX`` installed (transformers checks).
"""

from __future__ import annotations

import os
from typing import Any

# transformers exports it lazily (its __init__ names it only under TYPE_CHECKING, without re-exporting it)
from transformers.integrations import TensorBoardCallback as _TransformersTensorBoardCallback  # type: ignore[attr-defined]

from anyboard.writer import SummaryWriter

__all__ = ["TensorBoardCallback"]


class TensorBoardCallback(_TransformersTensorBoardCallback):
    """transformers' ``TensorBoardCallback`` with :class:`anyboard.SummaryWriter` writers.

    Args:
        tb_writer: a writer to log the training run to (an anyboard writer, or any writer with
            ``get_logdir()``); the writer built after training (for ``evaluate()``) uses its
            directory. Default: a writer created at the start of training in
            ``$TENSORBOARD_LOGGING_DIR`` or ``output_dir/runs/<date>_<host>``, as in transformers.
        **writer_kwargs: for the writers this callback creates (``flush_secs``, ``max_queue``,
            ``filename_suffix``...).
    """

    def __init__(self, tb_writer: Any = None, **writer_kwargs: Any) -> None:
        super().__init__(tb_writer=tb_writer)  # type: ignore[no-untyped-call]  # transformers leaves it unannotated
        # transformers annotates this as torch's SummaryWriter class; anyboard's is a drop-in for it
        self._SummaryWriter = SummaryWriter  # type: ignore[assignment]
        self._writer_kwargs = writer_kwargs
        get_logdir = getattr(tb_writer, "get_logdir", None)
        if self.logging_dir is None and callable(get_logdir):
            self.logging_dir = os.fspath(get_logdir())

    def _init_summary_writer(self, args: Any) -> None:
        self.tb_writer = SummaryWriter(log_dir=self.logging_dir, **self._writer_kwargs)
