"""anyboard.patch() / unpatch(): torch's and tensorboardX's SummaryWriter names give anyboard's writer,
each with the file layout (run directories, tag spellings) of the library it replaces."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import anyboard
import anyboard.tensorboardX as anyboard_tbx
from anyboard import patching

pytest.importorskip("torch")
pytest.importorskip("tensorboardX")


def _run_python(code: str, tmp_path) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON object as its last line."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=tmp_path,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _scalars(run_dir: str, tag: str) -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing import event_accumulator as ea

    acc = ea.EventAccumulator(run_dir, size_guidance={ea.SCALARS: 0})
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def test_patch_before_import_torch_uses_the_import_hook(tmp_path):
    out = _run_python(
        """
        import json, sys
        import anyboard, anyboard.tensorboardX
        anyboard.patch()
        anyboard.patch()  # twice is the same as once
        state = {"torch_imported_by_patch": "torch" in sys.modules, "tbx_imported_by_patch": "tensorboardX" in sys.modules}
        from torch.utils.tensorboard import SummaryWriter as TorchWriter
        import torch.utils.tensorboard.writer as torch_writer_module
        from tensorboardX import SummaryWriter as TbxWriter
        import tensorboardX, tensorboardX.writer
        state["patched"] = [
            TorchWriter is anyboard.SummaryWriter,
            torch_writer_module.SummaryWriter is anyboard.SummaryWriter,
            TbxWriter is anyboard.tensorboardX.SummaryWriter,
            tensorboardX.SummaryWriter is anyboard.tensorboardX.SummaryWriter,
            tensorboardX.writer.SummaryWriter is anyboard.tensorboardX.SummaryWriter,
        ]
        # The modules keep their real loaders.
        state["loaders"] = [type(m.__loader__).__name__ for m in (tensorboardX, sys.modules["torch.utils.tensorboard"])]
        with TorchWriter(log_dir="torch_run") as w:
            w.add_scalar("loss", 0.5, 3)
        with tensorboardX.SummaryWriter(logdir="tbx_run") as w:
            w.add_scalar("loss", 0.25, 4)
        anyboard.unpatch()
        anyboard.unpatch()
        import torch
        state["restored"] = [
            f"{c.__module__}.{c.__qualname__}"
            for c in (
                torch.utils.tensorboard.SummaryWriter,
                torch_writer_module.SummaryWriter,
                tensorboardX.SummaryWriter,
                tensorboardX.writer.SummaryWriter,
            )
        ]
        state["hook_left"] = any(type(f).__module__ == "anyboard.patching" for f in sys.meta_path)
        print(json.dumps(state))
        """,
        tmp_path,
    )
    assert out["torch_imported_by_patch"] is False and out["tbx_imported_by_patch"] is False
    assert out["patched"] == [True] * 5
    assert out["loaders"] == ["SourceFileLoader", "SourceFileLoader"]
    assert out["restored"] == [
        "torch.utils.tensorboard.writer.SummaryWriter",
        "torch.utils.tensorboard.writer.SummaryWriter",
        "tensorboardX.writer.SummaryWriter",
        "tensorboardX.writer.SummaryWriter",
    ]
    assert out["hook_left"] is False
    # Written by anyboard (its event file names carry a per-process counter), read by TensorBoard.
    for run, expected in (("torch_run", [(3, 0.5)]), ("tbx_run", [(4, 0.25)])):
        run_dir = tmp_path / run
        names = os.listdir(run_dir)
        assert len(names) == 1 and names[0].startswith("events.out.tfevents."), names
        assert _scalars(str(run_dir), "loss") == expected


def test_patch_imports_nothing_and_tolerates_missing_packages(tmp_path):
    out = _run_python(
        """
        import importlib.abc, json, sys

        class Block(importlib.abc.MetaPathFinder):  # torch and tensorboardX "not installed"
            def find_spec(self, name, path, target=None):
                if name.split(".")[0] in ("torch", "tensorboardX"):
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                return None

        sys.meta_path.insert(0, Block())
        import anyboard
        anyboard.patch()
        errors = []
        for name in ("tensorboardX", "torch.utils.tensorboard"):
            try:
                __import__(name)
            except ModuleNotFoundError as exc:
                errors.append(exc.name)
        anyboard.unpatch()
        print(json.dumps({"errors": errors, "loaded": sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "tensorboardX"))}))
        """,
        tmp_path,
    )
    assert out == {"errors": ["tensorboardX", "torch"], "loaded": []}


def test_reimported_module_is_patched_again_and_its_own_class_restored(tmp_path):
    out = _run_python(
        """
        import json, sys
        import tensorboardX
        first = tensorboardX.writer.SummaryWriter
        import anyboard
        anyboard.patch()
        for name in [m for m in sys.modules if m == "tensorboardX" or m.startswith("tensorboardX.")]:
            del sys.modules[name]
        import tensorboardX as again
        fresh = sys.modules["tensorboardX.writer"].__dict__
        import anyboard.tensorboardX
        state = {"patched": again.SummaryWriter is anyboard.tensorboardX.SummaryWriter}
        anyboard.unpatch()
        state["restored_is_new_class"] = again.SummaryWriter is not first and again.SummaryWriter.__module__ == "tensorboardX.writer"
        print(json.dumps(state))
        """,
        tmp_path,
    )
    assert out == {"patched": True, "restored_is_new_class": True}


def test_already_imported_modules_are_patched_and_restored_in_process():
    import tensorboardX
    import torch.utils.tensorboard
    import torch.utils.tensorboard.writer
    from torch.utils.tensorboard import SummaryWriter as BoundBefore

    originals = (torch.utils.tensorboard.SummaryWriter, tensorboardX.SummaryWriter)
    assert not patching.is_patched()
    try:
        anyboard.patch()
        anyboard.patch()
        assert patching.is_patched()
        from tensorboardX import SummaryWriter as X
        from torch.utils.tensorboard import SummaryWriter as T

        assert T is anyboard.SummaryWriter
        assert X is tensorboardX.writer.SummaryWriter is anyboard_tbx.SummaryWriter
        assert torch.utils.tensorboard.writer.SummaryWriter is anyboard.SummaryWriter
        # The documented limit: a name bound before patch() keeps the original class.
        assert BoundBefore is originals[0]
    finally:
        anyboard.unpatch()
    anyboard.unpatch()
    assert not patching.is_patched()
    assert (torch.utils.tensorboard.SummaryWriter, tensorboardX.SummaryWriter) == originals
    assert torch.utils.tensorboard.writer.SummaryWriter is originals[0]
    assert tensorboardX.writer.SummaryWriter is originals[1]
    assert not any(isinstance(f, patching._ImportHook) for f in sys.meta_path)


def test_unpatch_leaves_a_value_someone_else_set_and_patched_restores_state():
    import tensorboardX

    original = tensorboardX.SummaryWriter

    class Other:
        pass

    with patching.patched():
        assert tensorboardX.SummaryWriter is anyboard_tbx.SummaryWriter
        tensorboardX.SummaryWriter = Other  # type: ignore[misc, assignment]
    try:
        assert tensorboardX.SummaryWriter is Other
        assert tensorboardX.writer.SummaryWriter is original
    finally:
        tensorboardX.SummaryWriter = original  # type: ignore[misc]
    # patched() inside patch(): still patched after the block.
    anyboard.patch()
    try:
        with patching.patched():
            pass
        assert tensorboardX.SummaryWriter is anyboard_tbx.SummaryWriter
    finally:
        anyboard.unpatch()
    assert tensorboardX.SummaryWriter is original


def test_lazy_export_is_the_module_function():
    assert anyboard.patch is patching.patch and anyboard.unpatch is patching.unpatch


def _layout_calls(w) -> None:
    import torch

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(2, 1)

        def forward(self, x):
            return self.lin(x)

    w.add_scalars("loss/parts", {"a": 1.0, "b": 2.0}, 1)
    w.add_mesh("m", np.zeros((1, 3, 3), np.float32), faces=np.array([[[0, 1, 2]]]), global_step=0)
    w.add_graph(Net(), torch.zeros(1, 2))


def _layout_seen(logdir) -> dict:
    """Run directories, the main run's tensor tags and run metadata tags, as TensorBoard lists them."""
    from tensorboard.backend.event_processing import event_accumulator as ea

    runs = sorted(os.path.relpath(d, logdir) for d, _, files in os.walk(logdir) if any("tfevents" in f for f in files))
    acc = ea.EventAccumulator(str(logdir), size_guidance={ea.TENSORS: 0})
    acc.Reload()
    return {"runs": runs, "tensors": sorted(acc.Tags()["tensors"]), "run_metadata": acc.Tags()["run_metadata"]}


def test_each_patched_name_writes_its_own_peers_layout(tmp_path):
    """After patch(), torch's name writes torch's run directories and tags, tensorboardX's name
    tensorboardX's: the same as the unpatched peers write for the same calls."""
    import tensorboardX
    import torch.utils.tensorboard

    seen = {}
    for name, module in (("torch", torch.utils.tensorboard), ("tensorboardX", tensorboardX)):
        with module.SummaryWriter(str(tmp_path / f"{name}-peer")) as w:
            _layout_calls(w)
        seen[f"{name}-peer"] = _layout_seen(tmp_path / f"{name}-peer")
        with patching.patched():
            writer = module.SummaryWriter(str(tmp_path / f"{name}-patched"))
        assert isinstance(writer, anyboard.SummaryWriter)
        with writer:
            _layout_calls(writer)
        seen[f"{name}-patched"] = _layout_seen(tmp_path / f"{name}-patched")
    assert (
        seen["torch-patched"]
        == seen["torch-peer"]
        == {
            "runs": [".", "loss_parts_a", "loss_parts_b"],
            "tensors": ["m_FACE", "m_VERTEX"],
            "run_metadata": ["step1"],
        }
    )
    sep = os.sep
    assert (
        seen["tensorboardX-patched"]
        == seen["tensorboardX-peer"]
        == {
            "runs": [".", f"loss{sep}parts{sep}a", f"loss{sep}parts{sep}b"],
            "tensors": ["m_1", "m_2"],
            "run_metadata": ["profiler"],
        }
    )


def test_patch_while_another_thread_imports_the_peer_waits_and_patches_it(tmp_path):
    """The package is in sys.modules (half initialized, no SummaryWriter yet) and its import chose
    its loader before the hook existed: patch() had skipped it and left it unpatched for good."""
    out = _run_python(
        """
        import json, sys, threading, time, warnings
        warnings.simplefilter("ignore")
        import torch
        import anyboard
        t = threading.Thread(target=lambda: __import__("torch.utils.tensorboard"))
        t.start()
        while "torch.utils.tensorboard" not in sys.modules:
            time.sleep(0.0005)
        anyboard.patch()
        t.join()
        import torch.utils.tensorboard as tut
        print(json.dumps([tut.SummaryWriter is anyboard.SummaryWriter, tut.writer.SummaryWriter is anyboard.SummaryWriter]))
        """,
        tmp_path,
    )
    assert out == [True, True]
