"""DataLoader workers logging through the parent's writer (torch's DataLoader, ``anyboard.patch()``).

Persistent workers are daemonic: the parent's exit terminates them (SIGTERM) and their targets
never return, so what they log must reach the file without a close().
"""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from pathlib import Path

import pytest

import anyboard

pytest.importorskip("torch")


def _steps(run_dir: str, tag: str) -> list[int]:
    out = []
    for path in sorted(Path(run_dir).glob("events.out.tfevents.*")):
        out += [e.step for e in anyboard.iter_events(path) for v in e.summary.value if v.tag == tag]
    return out


_PERSISTENT_WORKERS = """
import sys
import anyboard

anyboard.patch()
import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.tensorboard import SummaryWriter


class Items(Dataset):
    def __init__(self, writer):
        self.writer = writer

    def __len__(self):
        return 40

    def __getitem__(self, i):
        self.writer.add_scalar("item", float(i), i)  # logged in a worker process
        return torch.tensor([float(i)])


if __name__ == "__main__":
    writer = SummaryWriter(sys.argv[1])
    loader = DataLoader(Items(writer), batch_size=4, num_workers=2, persistent_workers=True,
                        multiprocessing_context=sys.argv[2])
    for epoch in range(2):
        for batch in loader:
            writer.add_scalar("main", float(batch.sum()), int(batch[0]) + 100 * epoch)
    # no close(): the workers' targets never return; the parent's exit terminates them (SIGTERM)
"""


@pytest.mark.parametrize("method", [m for m in ("fork", "spawn") if m in multiprocessing.get_all_start_methods()])
def test_persistent_dataloader_workers_lose_nothing_when_the_parent_exits(tmp_path, method):
    """Persistent DataLoader workers are daemonic: the parent's exit sends them SIGTERM, and their
    targets never return. What they had queued and not yet written was lost (72-79 of 80 events);
    tensorboardX's writer keeps all of them."""
    script = tmp_path / "train.py"
    script.write_text(_PERSISTENT_WORKERS)
    logdir = tmp_path / "run"
    for trial in range(2):
        run = logdir / str(trial)
        proc = subprocess.run(
            [sys.executable, str(script), str(run), method], capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0, proc.stderr
        assert sorted(_steps(str(run), "item")) == sorted(list(range(40)) * 2), f"trial {trial}"
        assert len(_steps(str(run), "main")) == 20
