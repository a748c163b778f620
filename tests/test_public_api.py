"""The public surface: what ``anyboard`` exports, and the signatures users switch from.

A method renamed, a parameter moved or an export dropped fails here first. Positional
parameter order is checked against the installed ``torch.utils.tensorboard`` and
``tensorboardX`` writers themselves (switching is a one-line import change only if
positional calls mean the same thing).
"""

from __future__ import annotations

import inspect
import os

import pytest

import anyboard
from anyboard import SummaryWriter

EXPORTS = {
    "FileWriter",
    "RecordError",
    "SummaryWriter",
    "UnsafePathError",
    "WriteError",
    "WriterClosedError",
    "__version__",
    "iter_events",
    "iter_run_events",
    "native_available",
    "register",
}
LAZY = {
    "GlobalSummaryWriter",
    "patch",
    "unpatch",
    "read_scalars",
    "read_histograms",
    "read_text",
    "read_hparams",
    "read_images",
    "read_audio",
}
ADD_METHODS = {
    "add_audio",
    "add_custom_scalars",
    "add_custom_scalars_marginchart",
    "add_custom_scalars_multilinechart",
    "add_embedding",
    "add_event",
    "add_figure",
    "add_graph",
    "add_histogram",
    "add_histogram_raw",
    "add_hparams",
    "add_image",
    "add_image_with_boxes",
    "add_images",
    "add_mesh",
    "add_onnx_graph",
    "add_openvino_graph",
    "add_pr_curve",
    "add_pr_curve_raw",
    "add_scalar",
    "add_scalars",
    "add_summary",
    "add_tensor",
    "add_text",
    "add_video",
}
# Where the two peers disagree on positional order, anyboard follows torch (the writer most users
# switch from); tensorboardX's differing parameters are accepted as keywords.
TBX_DIFFERS = {"add_scalar", "add_image_with_boxes", "add_onnx_graph", "add_hparams"}
# torch names add_onnx_graph's one argument `prototxt` (it is the ONNX model file, as tensorboardX's
# `onnx_model_file`): positional calls mean the same; both keywords are accepted.
TORCH_DIFFERS = {"add_onnx_graph"}


def _positional(function) -> list[str]:
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in inspect.signature(function).parameters.values() if p.kind in kinds][1:]


def test_exports_are_exactly_these():
    assert set(anyboard.__all__) == EXPORTS
    for name in EXPORTS | LAZY:
        assert name in dir(anyboard)


@pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt", reason="POSIX symlinks")
def test_unsafe_path_error_is_the_one_the_writer_raises(tmp_path):
    """``except anyboard.UnsafePathError`` catches a write refused through a symlink leaving the logdir."""
    assert issubclass(anyboard.UnsafePathError, PermissionError)
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "loss_a").symlink_to(tmp_path, target_is_directory=True)
    with SummaryWriter(str(tmp_path / "logs")) as w, pytest.raises(anyboard.UnsafePathError, match="loss_a"):
        w.add_scalars("loss", {"a": 1.0}, 0)


def test_every_add_method_is_a_real_method_of_the_class():
    assert {n for n in dir(SummaryWriter) if n.startswith("add_")} == ADD_METHODS
    for name in ADD_METHODS:
        assert inspect.isfunction(inspect.unwrap(getattr(SummaryWriter, name))) or callable(
            getattr(SummaryWriter, name)
        )
        assert getattr(SummaryWriter, name).__doc__, f"{name} has no docstring"


@pytest.mark.parametrize("peer", ["torch", "tensorboardX"])
def test_positional_order_matches_the_peer(peer):
    if peer == "torch":
        from torch.utils.tensorboard import SummaryWriter as Peer
    else:
        from tensorboardX import SummaryWriter as Peer
    checked = 0
    for name in sorted(ADD_METHODS):
        if not hasattr(Peer, name) or name in (TBX_DIFFERS if peer == "tensorboardX" else TORCH_DIFFERS):
            continue
        theirs, ours = _positional(getattr(Peer, name)), _positional(getattr(SummaryWriter, name))
        assert ours[: len(theirs)] == theirs, f"{name}: {peer} takes {theirs}, anyboard {ours}"
        checked += 1
    assert checked >= 15


def test_required_parameters_look_required():
    """help() shows real required parameters, not a sentinel object's repr."""
    for name in ADD_METHODS:
        text = str(inspect.signature(getattr(SummaryWriter, name)))
        assert "object object at" not in text, f"{name}{text}"
    image = inspect.signature(SummaryWriter.add_image).parameters
    assert image["img_tensor"].default is inspect.Parameter.empty
    assert image["global_step"].default is None
    assert SummaryWriter.__init__.__doc__


def test_file_layout_option_is_checked_and_travels_through_pickling_and_reopen(tmp_path):
    import pickle

    import anyboard.tensorboardX

    for bad in ("tensorboardx", "mxboard", 1):
        with pytest.raises(ValueError, match=r"file_layout must be one of \['torch', 'tensorboardX'\]"):
            SummaryWriter(str(tmp_path / "bad"), file_layout=bad)
    assert not (tmp_path / "bad").exists()

    def runs(logdir) -> set[str]:
        return {os.path.relpath(d, logdir) for d, _, files in os.walk(logdir) if any("tfevents" in f for f in files)}

    nested = {".", os.path.join("m", "a")}
    with SummaryWriter(str(tmp_path / "tbx"), file_layout="tensorboardX") as w:
        w.add_scalar("x", 1.0, 0)
        copy = pickle.loads(pickle.dumps(w))  # what a 'spawn' worker gets
    with copy:
        assert type(copy) is SummaryWriter
        copy.add_scalars("m", {"a": 1.0}, 0)
    assert runs(tmp_path / "tbx") == nested
    w.add_scalars("m", {"a": 2.0}, 1)  # after close(): reopens with the same layout
    w.close()
    assert runs(tmp_path / "tbx") == nested

    # The tensorboardX entry point: its default is tensorboardX's layout, an explicit one wins,
    # and a pickled writer stays of that class.
    with anyboard.tensorboardX.SummaryWriter(str(tmp_path / "entry")) as w:
        copy = pickle.loads(pickle.dumps(w))
        w.add_scalars("m", {"a": 1.0}, 0)
    assert type(copy) is anyboard.tensorboardX.SummaryWriter
    copy.close()
    assert runs(tmp_path / "entry") == nested
    with anyboard.tensorboardX.SummaryWriter(str(tmp_path / "torch"), file_layout="torch") as w:
        w.add_scalars("m", {"a": 1.0}, 0)
    assert runs(tmp_path / "torch") == {".", "m_a"}
