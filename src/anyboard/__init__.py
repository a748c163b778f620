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
