"""Logging overhead of one short Lightning run: anyboard's TensorBoardLogger vs Lightning's (torch's writer).

One tiny model (an MLP, 32 -> 64 -> 1, batch 32, generated data, CPU), the same seeded run three
ways, interleaved over ``--repeats`` rounds:

- ``none``: ``Trainer(logger=False)``, no logging at all (the baseline);
- ``torch``: ``lightning.pytorch.loggers.TensorBoardLogger`` (``torch.utils.tensorboard``'s writer);
- ``anyboard``: ``anyboard.integrations.lightning.TensorBoardLogger``.

Every training step logs two scalars with ``self.log`` (``log_every_n_steps=--log-every``), and
every ``--histogram-every`` steps the model logs a histogram of its first layer's weights through
``self.logger.experiment``. Measured per run: the training loop's steps/s (``on_train_start`` to
``on_train_end``) and the wall time of the whole ``fit()``, which includes the logger's close at
the end (every event on disk). The overhead is each logger's extra time per step over ``none``.
Medians over the rounds; the spread (min-max) is printed too.

Run: ``python benchmarks/lightning_overhead.py [--steps 2000] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
import warnings
from typing import Any


def _module_class() -> Any:
    import lightning as L
    import torch

    class Tiny(L.LightningModule):
        def __init__(self, histogram_every: int) -> None:
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1))
            self.histogram_every = histogram_every

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            x, y = batch
            out = self.net(x)
            loss = torch.nn.functional.mse_loss(out, y)
            self.log("train_loss", loss)
            self.log("train_mean", out.mean())
            if self.logger is not None and self.histogram_every and self.global_step % self.histogram_every == 0:
                self.logger.experiment.add_histogram("weights/first", self.net[0].weight, self.global_step)
            return loss

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.01)

    return Tiny


class _LoopTimer:
    """A callback measuring the training loop (``on_train_start`` .. ``on_train_end``)."""

    def __new__(cls) -> Any:
        import lightning as L

        class Timer(L.Callback):
            start = end = 0.0

            def on_train_start(self, trainer: Any, pl_module: Any) -> None:
                self.start = time.perf_counter()

            def on_train_end(self, trainer: Any, pl_module: Any) -> None:
                self.end = time.perf_counter()

        return Timer()


def _run(kind: str, steps: int, log_every: int, histogram_every: int, root: str) -> tuple[float, float]:
    """One seeded fit; returns (training-loop seconds, fit() seconds)."""
    import lightning as L
    import torch

    from anyboard.integrations.lightning import TensorBoardLogger as AnyboardLogger

    L.seed_everything(0, verbose=False)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(steps * 32, 32, generator=g)
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, x[:, :1].clone()), batch_size=32)
    logger: Any
    if kind == "none":
        logger = False
    elif kind == "torch":
        logger = L.pytorch.loggers.TensorBoardLogger(root, name=kind)
    else:
        logger = AnyboardLogger(root, name=kind)
    timer = _LoopTimer()
    trainer = L.Trainer(
        max_epochs=1,
        logger=logger,
        log_every_n_steps=log_every,
        callbacks=[timer],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        devices=1,
    )
    model = _module_class()(histogram_every)
    start = time.perf_counter()
    trainer.fit(model, data)
    fit_seconds = time.perf_counter() - start
    return timer.end - timer.start, fit_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--log-every", type=int, default=1, help="Trainer(log_every_n_steps=...)")
    parser.add_argument("--histogram-every", type=int, default=50, help="0: no histograms")
    args = parser.parse_args()

    import logging

    import lightning
    import torch

    import anyboard

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    kinds = ("none", "torch", "anyboard")
    loop: dict[str, list[float]] = {k: [] for k in kinds}
    fit: dict[str, list[float]] = {k: [] for k in kinds}
    with tempfile.TemporaryDirectory() as root:
        for kind in kinds:  # warm-up: imports, first Trainer, first writer
            _run(kind, min(args.steps, 50), args.log_every, args.histogram_every, os.path.join(root, "warm"))
        for _ in range(args.repeats):
            for kind in kinds:
                seconds, total = _run(kind, args.steps, args.log_every, args.histogram_every, root)
                loop[kind].append(seconds)
                fit[kind].append(total)

    print(
        f"Lightning {lightning.__version__}, torch {torch.__version__}, anyboard {anyboard.__version__}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, torch threads 1"
    )
    print(
        f"{args.steps} steps, batch 32, 2 scalars every {args.log_every} step(s), "
        f"a 64x32 histogram every {args.histogram_every} steps; median of {args.repeats} interleaved rounds\n"
    )
    print("| logger | steps/s (loop) | min-max | overhead per step vs none | fit() incl. close | overhead of fit() |")
    print("|---|---|---|---|---|---|")
    base_loop = statistics.median(loop["none"])
    base_fit = statistics.median(fit["none"])
    for kind in kinds:
        med = statistics.median(loop[kind])
        rate = args.steps / med
        lo, hi = args.steps / max(loop[kind]), args.steps / min(loop[kind])
        per_step = (med - base_loop) / args.steps * 1e6
        fit_med = statistics.median(fit[kind])
        print(
            f"| {kind} | {rate:,.0f} | {lo:,.0f}-{hi:,.0f} | "
            f"{'-' if kind == 'none' else f'{per_step:+.0f} µs'} | {fit_med:.2f} s | "
            f"{'-' if kind == 'none' else f'{fit_med - base_fit:+.2f} s'} |"
        )


if __name__ == "__main__":
    main()
