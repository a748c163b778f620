"""Train a small Gluon CNN on the generated shapes dataset and log every kind of summary.

The MXNet twin of ``torch_train.py`` (MXNet 1.9.1 needs ``numpy<1.24``: run it in
the MXNet environment that ``scripts/mxnet_env.sh`` builds). Inputs are passed to
anyboard as MXNet NDArrays. Runs on a GPU context when one is available.

Usage::

    .venv-mx/bin/python examples/mxnet_train.py --logdir runs/mxnet_demo --steps 300
    .venv/bin/tensorboard --logdir runs/mxnet_demo
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


def build_net(gluon):
    nn = gluon.nn
    net = nn.HybridSequential()
    net.add(
        nn.Conv2D(8, 3, padding=1, activation="relu"),
        nn.MaxPool2D(2),
        nn.Conv2D(16, 3, padding=1, activation="relu"),
        nn.MaxPool2D(2),
        nn.Flatten(),
        nn.Dense(32, activation="relu"),
        nn.Dense(len(CLASSES)),
    )
    return net


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", default=os.path.join("runs", "mxnet_demo"))
    parser.add_argument("--device", default="auto", help="auto, cpu or gpu")
    parser.add_argument("--steps", type=int, default=300, help="training steps (CI uses a tiny value)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--no-logging", action="store_true", help="train without logging (to measure overhead)")
    args = parser.parse_args(argv)

    import mxnet as mx
    from mxnet import autograd, gluon, nd

    from anyboard import SummaryWriter
    from anyboard.utils import make_grid

    use_gpu = args.device == "gpu" or (args.device == "auto" and mx.context.num_gpus() > 0)
    ctx = mx.gpu(0) if use_gpu else mx.cpu()
    mx.random.seed(0)
    x_train, y_train, boxes = make_dataset(2048, seed=1)
    x_val, y_val, _ = make_dataset(512, seed=2)
    xt, yt = nd.array(x_train, ctx=ctx), nd.array(y_train, ctx=ctx)
    xv = nd.array(x_val, ctx=ctx)
    net = build_net(gluon)
    net.initialize(mx.init.Xavier(), ctx=ctx)
    net.hybridize()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": args.lr, "momentum": 0.9})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    steps_per_epoch = max(1, len(x_train) // args.batch_size)
    log = not args.no_logging
    rng = np.random.default_rng(3)

    writer = SummaryWriter(args.logdir) if log else None
    if log:
        writer.add_text("notes", f"**Shapes demo (MXNet Gluon)** on `{ctx}`: {args.steps} steps.", 0)
        writer.add_image("input/batch", make_grid(xt[:32]), 0)
        writer.add_image_with_boxes("input/boxes", xt[0], boxes[:1], 0, labels=[CLASSES[y_train[0]]])
        writer.add_custom_scalars_multilinechart(["loss/train", "loss/val"], category="Training", title="loss")
        writer.add_video("generated/moving_square", moving_shape_video(), 0, fps=6)
        writer.add_audio("generated/class_tones", class_tones(), 0, sample_rate=16000)
        vertices, colors = sphere_points()
        writer.add_mesh("point_cloud/sphere", vertices, colors=colors, global_step=0)

    start = time.perf_counter()
    loss = None
    for step in range(args.steps):
        idx = nd.array(rng.integers(0, len(x_train), args.batch_size), ctx=ctx)
        data, label = xt.take(idx), yt.take(idx)
        with autograd.record():
            out = net(data)
            loss = loss_fn(out, label).mean()
        loss.backward()
        trainer.step(1)
        if step == 0 and log:
            writer.add_graph(net)  # hybridized and run once: the symbol is available now
        if log:
            writer.add_scalar("loss/train", loss, step)
            writer.add_scalar("accuracy/train", (out.argmax(axis=1) == label).mean(), step)
            writer.add_scalar("lr", trainer.learning_rate, step)
        end_of_epoch = (step + 1) % steps_per_epoch == 0 or step == args.steps - 1
        if log and end_of_epoch:
            for name, param in net.collect_params().items():
                writer.add_histogram(f"weights/{name}", param.data(ctx), step)
                if param.grad_req != "null":
                    writer.add_histogram(f"gradients/{name}", param.grad(ctx), step)
        if end_of_epoch or step % 50 == 0:
            val_out = net(xv)
            val_loss = float(loss_fn(val_out, nd.array(y_val, ctx=ctx)).mean().asscalar())
            val_acc = float((val_out.argmax(axis=1).asnumpy() == y_val).mean())
            if log:
                writer.add_scalars("loss", {"train": float(loss.asscalar()), "val": val_loss}, step)
                writer.add_scalar("loss/val", val_loss, step)
                writer.add_scalar("accuracy/val", val_acc, step)
            rate = (step + 1) / (time.perf_counter() - start)
            print(
                f"step {step + 1:5d}/{args.steps}  loss {float(loss.asscalar()):.3f}  val_acc {val_acc:.3f}  "
                f"{rate:.1f} steps/s",
                flush=True,
            )
    elapsed = time.perf_counter() - start
    print(
        f"trained {args.steps} steps in {elapsed:.2f} s ({args.steps / max(elapsed, 1e-9):.1f} steps/s, "
        f"logging {'on' if log else 'off'}, context {ctx})"
    )
    if not log:
        return 0

    val_out = net(xv)
    probs = nd.softmax(val_out, axis=1).asnumpy()
    preds = probs.argmax(1)
    cm = np.zeros((len(CLASSES), len(CLASSES)), np.int64)
    np.add.at(cm, (y_val, preds), 1)
    final = args.steps
    conv1 = net[0]
    filters = conv1.weight.data(ctx)  # [8, 1, 3, 3] NDArray
    writer.add_image("conv1/filters", make_grid(filters, nrow=4, padding=1, normalize=True, scale_each=True), final)
    fmap = conv1(xv[:1])[0]  # [8, 16, 16]
    writer.add_image(
        "conv1/feature_maps", make_grid(fmap.expand_dims(1), nrow=4, normalize=True, scale_each=True), final
    )
    writer.add_images("predictions/grid", xv[:16], final)
    writer.add_figure("eval/confusion_matrix", confusion_figure(cm), final)
    writer.add_figure("eval/predictions_vs_labels", predictions_figure(x_val[:8], y_val[:8], preds[:8]), final)
    writer.add_tensor("eval/confusion_matrix_counts", cm, final)
    for k, name in enumerate(CLASSES):
        writer.add_pr_curve(f"pr/{name}", y_val == k, probs[:, k], final)
    feats = net[:6](xv[:256])  # the 32-d Dense features
    writer.add_embedding(
        feats, metadata=[CLASSES[y] for y in y_val[:256]], label_img=xv[:256], global_step=final, tag="features"
    )
    accuracy = float((preds == y_val).mean())
    writer.add_hparams(
        {"lr": args.lr, "batch_size": args.batch_size, "optimizer": "sgd"}, {"hparam/accuracy": accuracy}
    )
    writer.close()
    print(f"final validation accuracy {accuracy:.3f}")
    print(f"logs written to {os.path.abspath(args.logdir)}")
    print(f"open them with:  {tensorboard_command(args.logdir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
