"""``TensorBoardLogger`` built on the standalone ``pytorch_lightning`` package.

``from anyboard.integrations.pytorch_lightning import TensorBoardLogger`` is the logger of
:mod:`anyboard.integrations.lightning` on ``pytorch_lightning.loggers.TensorBoardLogger``'s base, for
code that uses ``import pytorch_lightning as pl`` while ``lightning`` is imported too.
"""

from __future__ import annotations

from typing import Any

from anyboard.integrations._lightning_logger import logger_class

__all__ = ["TensorBoardLogger"]  # noqa: F822 - provided by __getattr__


def __getattr__(name: str) -> Any:
    if name == "TensorBoardLogger":
        cls = logger_class("pytorch_lightning")
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
