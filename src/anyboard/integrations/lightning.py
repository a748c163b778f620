"""``TensorBoardLogger`` for Lightning, writing through :class:`anyboard.SummaryWriter`.

Replace ``from lightning.pytorch.loggers import TensorBoardLogger`` (or
``from pytorch_lightning.loggers import TensorBoardLogger``) with::

    from anyboard.integrations.lightning import TensorBoardLogger

    trainer = Trainer(logger=TensorBoardLogger("logs", name="my_model"))

Same constructor arguments and directory layout as Lightning's logger; ``logger.experiment`` is an
anyboard writer. ``lightning`` and the standalone ``pytorch_lightning`` are separate class
hierarchies (each Trainer checks ``isinstance`` against its own), so the class is built on the base
of the distribution in use when this name is first looked up in a process: ``lightning`` if it is
imported, else ``pytorch_lightning`` if that is imported, else whichever is installed
(``lightning`` first). For a fixed choice use ``logger_for("lightning")`` or
:mod:`anyboard.integrations.pytorch_lightning`.

Lightning's base class requires the ``tensorboard`` or ``tensorboardX`` package to be installed
(its constructor checks), although anyboard writes the event files itself.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

from anyboard.integrations._lightning_logger import FLAVORS, logger_class

__all__ = ["TensorBoardLogger", "logger_for"]  # noqa: F822 - TensorBoardLogger comes from __getattr__


def logger_for(flavor: str) -> type:
    """anyboard's ``TensorBoardLogger`` for ``"lightning"`` or ``"pytorch_lightning"``."""
    if flavor not in FLAVORS:
        raise ValueError(f"flavor must be one of {sorted(FLAVORS)}, got {flavor!r}")
    return logger_class(flavor)


def _flavor_in_use() -> str:
    for flavor in FLAVORS:
        if flavor in sys.modules:
            return flavor
    for flavor in FLAVORS:
        if importlib.util.find_spec(flavor) is not None:
            return flavor
    raise ModuleNotFoundError("anyboard.integrations.lightning needs `lightning` or `pytorch_lightning` installed")


def __getattr__(name: str) -> Any:
    if name == "TensorBoardLogger":
        cls = logger_class(_flavor_in_use())
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
