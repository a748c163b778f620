"""Train a small CNN on a generated shapes dataset and log every kind of summary.

No downloads: the dataset (16x16 images of four shapes with noise) is generated
here. Runs on CUDA when available, CPU otherwise. Logs, in context:

- scalars: loss/accuracy/learning rate every step, ``add_scalars`` train vs val;
- histograms of weights and gradients per layer, every epoch;
- images: an input batch, a prediction grid, boxes around the shapes, the first
  convolution's filters and its feature maps for one input (normalized grids);
- figures: a confusion matrix and predictions vs labels (matplotlib);
- a video of generated frames, audio (one tone per class), text notes;
- PR curves per class, hparams with final metrics, a custom-scalars layout;
- a point-cloud mesh and an embedding of learned features with labels and thumbnails;
- the model graph (and the raw confusion matrix as a tensor).

Usage::

    python examples/torch_train.py --logdir runs/torch_demo --steps 300
    .venv/bin/tensorboard --logdir runs/torch_demo
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shapes_data import (
    CLASSES,
    class_tones,
    confusion_figure,
    make_dataset,
    moving_shape_video,
    predictions_figure,
    sphere_points,
    tensorboard_command,
)


def build_model(torch):
    nn = torch.nn

    class ShapesNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(1, 8, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(8, 16, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),
            )
            self.embed = nn.Linear(16 * 4 * 4, 32)
            self.head = nn.Linear(32, len(CLASSES))

        def forward(self, x):
            return self.head(self.features_of(x))

        def features_of(self, x):
            return torch.relu(self.embed(self.features(x).flatten(1)))

    return ShapesNet()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", default=os.path.join("runs", "torch_demo"))
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--steps", type=int, default=300, help="training steps (CI uses a tiny value)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--no-logging", action="store_true", help="train without logging (to measure overhead)")
    args = parser.parse_args(argv)

    import torch

    from anyboard import SummaryWriter
    from anyboard.utils import make_grid

    device = torch.device(
        "cuda"
        if args.device == "auto" and torch.cuda.is_available()
        else ("cpu" if args.device == "auto" else args.device)
    )
    torch.manual_seed(0)
    x_train, y_train, boxes = make_dataset(2048, seed=1)
    x_val, y_val, _ = make_dataset(512, seed=2)
    xt, yt = torch.from_numpy(x_train).to(device), torch.from_numpy(y_train).to(device)
    xv, yv = torch.from_numpy(x_val).to(device), torch.from_numpy(y_val).to(device)
    model = build_model(torch).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(args.steps, 1))
    loss_fn = torch.nn.CrossEntropyLoss()
    steps_per_epoch = max(1, len(x_train) // args.batch_size)
    log = not args.no_logging

    writer = SummaryWriter(args.logdir) if log else None
    if log:
        writer.add_text("notes", f"**Shapes demo** on `{device}`: {len(CLASSES)} classes, {args.steps} steps.", 0)
        writer.add_images("input/batch", x_train[:32], 0)
        writer.add_image_with_boxes("input/boxes", x_train[0], boxes[:1], 0, labels=[CLASSES[y_train[0]]])
        writer.add_graph(model, xt[:2])
        writer.add_custom_scalars(
            {
                "Training": {
                    "loss": ["Multiline", ["loss/train", "loss/val"]],
                    "accuracy": ["Multiline", ["accuracy/.*"]],
                },
            }
        )
        writer.add_video("generated/moving_square", moving_shape_video(), 0, fps=6)
        writer.add_audio("generated/class_tones", class_tones(), 0, sample_rate=16000)
        vertices, colors = sphere_points()
        writer.add_mesh("point_cloud/sphere", vertices, colors=colors, global_step=0)

    start = time.perf_counter()
    rng = np.random.default_rng(3)
    for step in range(args.steps):
        model.train()
        idx = torch.from_numpy(rng.integers(0, len(x_train), args.batch_size)).to(device)
        logits = model(xt[idx])
        loss = loss_fn(logits, yt[idx])
        opt.zero_grad()
        loss.backward()
        if log:
            writer.add_scalar("loss/train", loss.detach(), step)  # a device tensor: no sync on the caller
            writer.add_scalar("accuracy/train", (logits.argmax(1) == yt[idx]).float().mean(), step)
            writer.add_scalar("lr", sched.get_last_lr()[0], step)
        end_of_epoch = (step + 1) % steps_per_epoch == 0 or step == args.steps - 1
        if log and end_of_epoch:
            for name, p in model.named_parameters():
                writer.add_histogram(f"weights/{name}", p.detach(), step)
                writer.add_histogram(f"gradients/{name}", p.grad, step)
        opt.step()
        sched.step()
        if end_of_epoch or step % 50 == 0:
            model.eval()
            with torch.no_grad():
                val_logits = model(xv)
                val_loss = float(loss_fn(val_logits, yv))
                val_acc = float((val_logits.argmax(1) == yv).float().mean())
            if log:
                writer.add_scalars("loss", {"train": loss.detach(), "val": val_loss}, step)
                writer.add_scalar("loss/val", val_loss, step)
                writer.add_scalar("accuracy/val", val_acc, step)
            rate = (step + 1) / (time.perf_counter() - start)
            print(
                f"step {step + 1:5d}/{args.steps}  loss {float(loss.detach()):.3f}  val_acc {val_acc:.3f}  {rate:.1f} steps/s",
                flush=True,
            )
    elapsed = time.perf_counter() - start
    print(
        f"trained {args.steps} steps in {elapsed:.2f} s ({args.steps / max(elapsed, 1e-9):.1f} steps/s, "
        f"logging {'on' if log else 'off'}, device {device})"
    )
    if not log:
        return 0

    model.eval()
    with torch.no_grad():
        val_logits = model(xv)
        probs = torch.softmax(val_logits, 1).cpu().numpy()
        preds = probs.argmax(1)
        feats = model.features_of(xv[:256]).cpu()
        fmap = model.features[1](model.features[0](xv[:1]))[0].cpu()  # [8, 16, 16] after conv1 + ReLU
    cm = np.zeros((len(CLASSES), len(CLASSES)), np.int64)
    np.add.at(cm, (y_val, preds), 1)
    final = args.steps
    filters = model.features[0].weight.detach().cpu()  # [8, 1, 3, 3]
    writer.add_image("conv1/filters", make_grid(filters, nrow=4, padding=1, normalize=True, scale_each=True), final)
    writer.add_image("conv1/feature_maps", make_grid(fmap[:, None], nrow=4, normalize=True, scale_each=True), final)
    writer.add_images("predictions/grid", x_val[:16], final)
    writer.add_figure("eval/confusion_matrix", confusion_figure(cm), final)
    writer.add_figure("eval/predictions_vs_labels", predictions_figure(x_val[:8], y_val[:8], preds[:8]), final)
    writer.add_tensor("eval/confusion_matrix_counts", cm, final)
    for k, name in enumerate(CLASSES):
        writer.add_pr_curve(f"pr/{name}", y_val == k, probs[:, k], final)
    writer.add_embedding(
        feats, metadata=[CLASSES[y] for y in y_val[:256]], label_img=xv[:256].cpu(), global_step=final, tag="features"
    )
    accuracy = float((preds == y_val).mean())
    writer.add_hparams(
        {"lr": args.lr, "batch_size": args.batch_size, "optimizer": "sgd", "momentum": True},
        {"hparam/accuracy": accuracy, "hparam/val_loss": float(loss_fn(val_logits, yv))},
    )
    writer.close()
    print(f"final validation accuracy {accuracy:.3f}")
    print(f"logs written to {os.path.abspath(args.logdir)}")
    print(f"open them with:  {tensorboard_command(args.logdir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
