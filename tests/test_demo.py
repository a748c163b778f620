"""Smoke-run the torch demo at a tiny setting, then check every plugin through a real server."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from tbread import TensorBoardServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_demo(script: str, logdir: str, python: str = sys.executable) -> str:
    proc = subprocess.run(
        [python, os.path.join(ROOT, "examples", script), "--logdir", logdir, "--steps", "3", "--device", "cpu"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"tensorboard --logdir {logdir}" in proc.stdout
    assert "logs written to" in proc.stdout
    return proc.stdout


def check_every_plugin(logdir: str, *, graph: bool = True) -> None:
    with TensorBoardServer(logdir, load_fast=True) as tb:
        scalars = tb.wait_for(lambda: tb.get("/data/plugin/scalars/tags").get("."))
        assert {"loss/train", "accuracy/train", "lr", "loss/val", "accuracy/val"} <= set(scalars)
        assert len(tb.scalars(".", "loss/train")) == 3
        histos = tb.get("/data/plugin/histograms/tags")["."]
        assert any(t.startswith("weights/") for t in histos) and any(t.startswith("gradients/") for t in histos)
        images = tb.get("/data/plugin/images/tags")["."]
        assert {
            "input/batch",
            "input/boxes",
            "conv1/filters",
            "conv1/feature_maps",
            "predictions/grid",
            "eval/confusion_matrix",
            "eval/predictions_vs_labels",
            "generated/moving_square",
        } <= set(images)
        assert "generated/class_tones" in tb.get("/data/plugin/audio/tags")["."]
        assert "notes" in tb.get("/data/plugin/text/tags")["."]
        assert {f"pr/{c}" for c in ("circle", "square", "cross", "triangle")} <= set(
            tb.get("/data/plugin/pr_curves/tags")["."]
        )
        layout = tb.get("/data/plugin/custom_scalars/layout")
        assert layout.get("category"), layout
        meshes = tb.get("/data/plugin/mesh/tags")["."]
        assert "point_cloud/sphere" in meshes
        experiment = tb.post("/data/plugin/hparams/experiment", {"experimentName": ""})
        names = {h["name"] for h in experiment["hparamInfos"]}
        assert {"lr", "batch_size", "optimizer"} <= names
        info = tb.wait_for(lambda: tb.get("/data/plugin/projector/info", run=".").get("embeddings"))
        assert any(e["tensorName"].startswith("features") for e in info)
        loss_parts = {run for run in tb.get("/data/runs")}
        assert {"loss_train", "loss_val"} <= loss_parts
        if graph:
            graphs = tb.get("/data/plugin/graphs/info")
            assert graphs["."]["run_graph"] is True


def test_torch_demo_logs_every_plugin(tmp_path):
    logdir = str(tmp_path / "torch_demo")
    out = run_demo("torch_train.py", logdir)
    assert "trained 3 steps" in out
    check_every_plugin(logdir)


@pytest.mark.mxnet
def test_mxnet_demo_logs_every_plugin(tmp_path):
    import mxnet  # noqa: F401 - this test runs in the MXNet environment, where it must import

    logdir = str(tmp_path / "mxnet_demo")
    out = run_demo("mxnet_train.py", logdir)
    assert "trained 3 steps" in out
    check_every_plugin(logdir)
