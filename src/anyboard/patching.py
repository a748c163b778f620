"""``anyboard.patch()``: make torch's and tensorboardX's ``SummaryWriter`` names give anyboard's writer.

Most PyTorch training frameworks build their writer themselves. After :func:`patch`, these
module attributes are anyboard's writer, each with the file layout of the library it replaces
(``SummaryWriter(file_layout=...)``: run directories and tag spellings, see :mod:`anyboard._layout`):

- ``torch.utils.tensorboard.SummaryWriter`` and ``torch.utils.tensorboard.writer.SummaryWriter``:
  :class:`anyboard.SummaryWriter` (torch's layout);
- ``tensorboardX.SummaryWriter`` and ``tensorboardX.writer.SummaryWriter``:
  :class:`anyboard.tensorboardX.SummaryWriter` (a subclass whose layout is tensorboardX's), so a
  script that reads tensorboardX's runs and tags back by name keeps working;

so every ``from torch.utils.tensorboard import SummaryWriter`` (or the tensorboardX one) that runs
after the call gets anyboard's class. :func:`unpatch` puts the original classes back.

Which frameworks this reaches (each looks the class up through the module when it builds a writer):

- Lightning (``lightning`` and ``pytorch_lightning``): ``TensorBoardLogger.experiment`` imports
  ``SummaryWriter`` from ``torch.utils.tensorboard`` (tensorboardX when tensorboard is missing)
  each time it creates its writer, so ``patch()`` any time before the first log call works.
  (:class:`anyboard.integrations.lightning.TensorBoardLogger` needs no patching.)
- Hugging Face ``transformers``: ``TensorBoardCallback.__init__`` imports the class and keeps it,
  so ``patch()`` before building the ``Trainer`` (which builds the callback for
  ``report_to="tensorboard"``).
- pytorch-ignite: ``TensorboardLogger.__init__`` imports the class (tensorboardX first, then
  torch), so ``patch()`` before building the logger.

Modules need not be imported before the call: :func:`patch` imports neither torch nor tensorboardX.
Modules already imported are patched at once; for the others, an import hook (a finder at the
front of ``sys.meta_path``, removed by :func:`unpatch`) patches ``torch.utils.tensorboard`` and
``tensorboardX`` right after they are first imported (or re-imported), so ``patch()`` before
``import torch`` works too. Nothing is imported or patched for a package that is not installed.

Limits:

- A name bound before the call stays what it was: ``from torch.utils.tensorboard import
  SummaryWriter`` executed before ``patch()`` bound the original class in that module, and writers
  already constructed stay torch's or tensorboardX's. Call ``patch()`` first thing (before
  importing your training code), or construct writers after it.
- Subclasses of the original classes (defined before or after the call, e.g. ``class
  MyWriter(torch.utils.tensorboard.SummaryWriter)`` evaluated earlier) keep their original base.
- Only ``SummaryWriter`` is replaced: ``FileWriter``, tensorboardX's ``GlobalSummaryWriter`` (it
  builds tensorboardX's own writer: its tags keep tensorboardX's spelling, ``add_text`` under
  ``<tag>/text_summary``) and
  the summary-building functions (``torch.utils.tensorboard.summary.hparams`` and friends) stay
  the originals; anyboard's writer accepts the ``Summary`` protos they build
  (``writer._get_file_writer().add_summary(...)``, as Lightning's ``log_hyperparams`` does).
- ``isinstance(w, torch.utils.tensorboard.SummaryWriter)`` evaluated after the call checks against
  anyboard's class (``type(w) is anyboard.SummaryWriter`` is false for a writer built through the
  patched tensorboardX name: its class is the subclass above).
- The replacement is process-wide (module attributes), not per thread; :func:`patch` and
  :func:`unpatch` are thread-safe and idempotent (calling either twice does nothing more).
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import Any

__all__ = ["is_patched", "patch", "patched", "unpatch"]

#: package -> the modules (the package first) whose ``SummaryWriter`` attribute is replaced.
PATCHED_MODULES: dict[str, tuple[str, ...]] = {
    "torch.utils.tensorboard": ("torch.utils.tensorboard", "torch.utils.tensorboard.writer"),
    "tensorboardX": ("tensorboardX", "tensorboardX.writer"),
}
_ATTR = "SummaryWriter"
_MISSING = object()

_lock = threading.RLock()
_patched = False
# (module name, attribute) -> the original value, recorded when it was first replaced.
_originals: dict[tuple[str, str], Any] = {}
_hook: _ImportHook | None = None


def _replacement(package: str) -> type:
    """anyboard's writer for ``package``'s names: tensorboardX's layout for tensorboardX, torch's otherwise."""
    if package == "tensorboardX":
        from anyboard.tensorboardX import SummaryWriter as TensorboardXLayoutWriter

        return TensorboardXLayoutWriter
    from anyboard.writer import SummaryWriter

    return SummaryWriter


def _apply(package: str) -> None:
    """Replace ``SummaryWriter`` in ``package`` and its writer module (those in ``sys.modules``).

    The original is the class the writer module defines: a package attribute that already is
    anyboard's class (bound from a patched submodule) takes the writer module's recorded original.
    """
    new = _replacement(package)
    names = PATCHED_MODULES[package]
    found = [(name, sys.modules.get(name)) for name in names]
    originals = []
    for name, module in found:
        value = _MISSING if module is None else module.__dict__.get(_ATTR, _MISSING)
        originals.append(_originals.get((name, _ATTR), _MISSING) if value is new else value)
    # The writer module's class is the authority when the package's name is unrecorded.
    fallback = next((v for v in reversed(originals) if v is not _MISSING), _MISSING)
    for (name, module), original in zip(found, originals, strict=True):
        if module is None or _ATTR not in module.__dict__:
            continue
        if original is _MISSING:
            original = fallback
        if original is _MISSING or original is new:
            continue
        _originals[(name, _ATTR)] = original
        setattr(module, _ATTR, new)


class _PatchingLoader(importlib.abc.Loader):
    """Runs the real loader, then patches the package it loaded (if still patching)."""

    def __init__(self, loader: Any, package: str) -> None:
        self._loader = loader
        self._package = package

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        create = getattr(self._loader, "create_module", None)
        return None if create is None else create(spec)

    def exec_module(self, module: ModuleType) -> None:
        # The module keeps the real loader (resources, tracebacks, reload).
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        module.__loader__ = self._loader
        self._loader.exec_module(module)
        with _lock:
            if _patched:
                _apply(self._package)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class _ImportHook(importlib.abc.MetaPathFinder):
    """Finder at the front of ``sys.meta_path`` that wraps the loaders of the patched packages."""

    def __init__(self) -> None:
        self._searching = threading.local()

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in PATCHED_MODULES or getattr(self._searching, "active", False):
            return None
        self._searching.active = True
        try:
            spec: importlib.machinery.ModuleSpec | None = None
            for finder in list(sys.meta_path):
                find = getattr(finder, "find_spec", None)
                if finder is self or find is None:
                    continue
                spec = find(fullname, path, target)
                if spec is not None:
                    break
        finally:
            self._searching.active = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _PatchingLoader(spec.loader, fullname)
        return spec


def patch() -> None:
    """Make torch's and tensorboardX's ``SummaryWriter`` names give anyboard's writer (each peer's file layout).

    Patches the modules already imported now and the others when they are imported (see the
    module docstring for what is patched and the limits). Imports no framework. Calling it
    again while patched does nothing.
    """
    global _patched, _hook
    with _lock:
        if _patched:
            return
        _patched = True
        for package in PATCHED_MODULES:
            if package in sys.modules:
                _apply(package)
        if _hook is None:
            _hook = _ImportHook()
            sys.meta_path.insert(0, _hook)
        present = [p for p in PATCHED_MODULES if p in sys.modules]
    # A package another thread was importing just now was skipped above (no SummaryWriter yet), and
    # its import chose its loader before the hook was there: wait for any such import (a lookup
    # for a finished one), then patch again (patching twice changes nothing).
    for package in present:
        try:
            importlib.import_module(package)  # returns once the other thread's import is done
        except Exception:  # noqa: BLE001 - that import failed for its own thread to see; nothing to patch
            continue
        with _lock:
            if _patched:
                _apply(package)


def unpatch() -> None:
    """Restore the original ``SummaryWriter`` classes and remove the import hook.

    Only attributes that still hold anyboard's class are restored (a value set by someone else
    since is left alone). Calling it when not patched does nothing.
    """
    global _patched, _hook
    with _lock:
        if not _patched:
            return
        _patched = False
        if _hook is not None:
            with contextlib.suppress(ValueError):
                sys.meta_path.remove(_hook)
            _hook = None
        replacement = {name: _replacement(package) for package, names in PATCHED_MODULES.items() for name in names}
        for (name, attr), original in _originals.items():
            module = sys.modules.get(name)
            if module is not None and module.__dict__.get(attr) is replacement.get(name):
                setattr(module, attr, original)
        _originals.clear()


def is_patched() -> bool:
    """Whether :func:`patch` is in effect."""
    return _patched


@contextlib.contextmanager
def patched() -> Iterator[None]:
    """``with patched():`` patches for the block, then restores what was there before.

    If :func:`patch` was already in effect, it stays in effect after the block.
    """
    was = is_patched()
    patch()
    try:
        yield
    finally:
        if not was:
            unpatch()
