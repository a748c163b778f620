"""anyboard: TensorBoard logging for any framework.

``from anyboard import SummaryWriter`` replaces ``tensorboardX``'s,
``torch.utils.tensorboard``'s or MXBoard's writer. Importing anyboard imports
no deep-learning framework.
"""

from __future__ import annotations

from anyboard.adapters import register
from anyboard.errors import WriteError, WriterClosedError
from anyboard.io.reader import RecordError, iter_events, iter_run_events
from anyboard.writer import FileWriter, SummaryWriter

__version__ = "0.1.0"

# Exported names whose modules load only when first used (pandas, torch or tensorboardX are
# imported by those modules at most, never by ``import anyboard``): name -> module.
_LAZY = {
    "read_scalars": "anyboard.read",
    "read_histograms": "anyboard.read",
    "read_text": "anyboard.read",
    "read_hparams": "anyboard.read",
    "read_images": "anyboard.read",
    "read_audio": "anyboard.read",
    "GlobalSummaryWriter": "anyboard.global_writer",
    "patch": "anyboard.patching",
    "unpatch": "anyboard.patching",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'anyboard' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

__all__ = [
    "FileWriter",
    "RecordError",
    "SummaryWriter",
    "WriteError",
    "WriterClosedError",
    "__version__",
    "iter_events",
    "iter_run_events",
    "register",
]
