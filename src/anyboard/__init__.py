"""anyboard: TensorBoard logging for any framework.

``from anyboard import SummaryWriter`` replaces ``tensorboardX``'s,
``torch.utils.tensorboard``'s or MXBoard's writer. Importing anyboard imports
no deep-learning framework.
"""

from __future__ import annotations

from anyboard._paths import UnsafePathError
from anyboard.adapters import register
from anyboard.errors import WriteError, WriterClosedError
from anyboard.io.reader import RecordError, iter_events, iter_run_events
from anyboard.writer import FileWriter, SummaryWriter

__version__ = "0.1.0"


def native_available() -> bool:
    """Whether anyboard's compiled helpers (``anyboard._native``) were built at install.

    Without them (no C compiler at install, an unsupported platform) every path falls back to
    NumPy/Python code that writes the same bytes, 2-3x slower; a ``RuntimeWarning`` says so
    once, at import (``ANYBOARD_QUIET=1`` silences it).
    """
    import importlib.util

    return importlib.util.find_spec("anyboard._native") is not None


def _warn_if_not_compiled() -> None:
    import os

    if native_available() or os.environ.get("ANYBOARD_QUIET"):
        return
    import warnings

    warnings.warn(
        "anyboard: the compiled helpers (anyboard._native) are not installed (no C compiler at install?); "
        "using the NumPy fallbacks: the same files, 2-3x slower. Set ANYBOARD_QUIET=1 to silence this.",
        RuntimeWarning,
        stacklevel=3,
    )


_warn_if_not_compiled()

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


# Sub-packages reachable as attributes after a plain ``import anyboard`` (``anyboard.read.find_runs``),
# loaded on first use as well.
_LAZY_PACKAGES = ("read", "testing")


def __getattr__(name: str) -> object:
    import importlib

    if name in _LAZY_PACKAGES:
        return importlib.import_module(f"anyboard.{name}")  # the import binds it in this module
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'anyboard' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_LAZY_PACKAGES))


__all__ = [
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
]
