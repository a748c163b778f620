"""The generated shapes dataset and the plotting/media helpers both demos share."""

from __future__ import annotations

import math

import numpy as np

CLASSES = ["circle", "square", "cross", "triangle"]
SIZE = 16


def make_shape(kind: int, rng: np.random.Generator) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """One noisy 16x16 image of shape ``kind`` and its bounding box (x1, y1, x2, y2)."""
    img = np.zeros((SIZE, SIZE), np.float32)
    r = int(rng.integers(3, 6))
    cx, cy = (int(v) for v in rng.integers(r + 1, SIZE - r - 1, size=2))
    yy, xx = np.mgrid[:SIZE, :SIZE]
    if kind == 0:
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    elif kind == 1:
        mask = (abs(xx - cx) <= r) & (abs(yy - cy) <= r)
    elif kind == 2:
        mask = ((abs(xx - cx) <= 1) & (abs(yy - cy) <= r)) | ((abs(yy - cy) <= 1) & (abs(xx - cx) <= r))
    else:
        mask = (yy - cy <= r) & (yy - cy >= -r) & (abs(xx - cx) <= (yy - cy + r) / 2)
    img[mask] = 1.0
    img += rng.normal(0, 0.15, img.shape).astype(np.float32)
    return np.clip(img, 0, 1), (cx - r, cy - r, cx + r, cy + r)


def make_dataset(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(CLASSES), n)
    images, boxes = zip(*(make_shape(int(k), rng) for k in labels))
    return np.stack(images)[:, None], labels.astype(np.int64), np.array(boxes, np.float32)


def confusion_figure(cm: np.ndarray):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(CLASSES)), CLASSES, rotation=45)
    ax.set_yticks(range(len(CLASSES)), CLASSES)
    for (i, j), v in np.ndenumerate(cm):
        ax.text(j, i, str(int(v)), ha="center", va="center")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.tight_layout()
    return fig


def predictions_figure(images: np.ndarray, labels: np.ndarray, preds: np.ndarray):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 4, figsize=(6, 3.5))
    for ax, img, y, p in zip(axes.flat, images, labels, preds):
        ax.imshow(img[0], cmap="gray")
        ax.set_title(f"{CLASSES[p]}\n(true {CLASSES[y]})", color="green" if p == y else "red", fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    return fig


def moving_shape_video(steps: int = 12) -> np.ndarray:
    """[1, T, 3, 32, 32] uint8: a square moving across, changing colour."""
    frames = np.zeros((1, steps, 3, 32, 32), np.uint8)
    for t in range(steps):
        x = 2 + t * 2
        frames[0, t, t % 3, 10:20, x : x + 8] = 255
    return frames


def class_tones(sample_rate: int = 16000) -> np.ndarray:
    """One second with a quarter-second tone per class (rising pitch), float in [-1, 1]."""
    t = np.arange(sample_rate // 4) / sample_rate
    return np.concatenate([0.5 * np.sin(2 * math.pi * 220 * (k + 1) * t) for k in range(len(CLASSES))])


def sphere_points(n: int = 500) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    v = rng.normal(size=(n, 3))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    colors = ((v + 1) * 127.5).astype(np.uint8)
    return v[None].astype(np.float32), colors[None]


def tensorboard_command(logdir: str) -> str:
    """The command that opens ``logdir`` in TensorBoard, runnable as printed.

    ``tensorboard`` is installed next to this interpreter (``.venv/bin`` in the README's quick
    start), which a fresh shell does not have on its PATH: print that path when it is there.
    """
    import os
    import shlex
    import shutil
    import sys

    beside = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    if os.path.exists(beside) and shutil.which("tensorboard") != beside:
        try:
            shown = os.path.relpath(beside)
        except ValueError:  # another drive (Windows)
            shown = beside
        program = shown if shown.startswith(("/", ".")) or os.sep in shown else os.path.join(".", shown)
    else:
        program = "tensorboard"
    return f"{shlex.quote(program)} --logdir {shlex.quote(logdir)}"
