"""Collect the ``Methods`` mixins of the ``anyboard._methods`` modules."""

from __future__ import annotations

import importlib
import pkgutil

import anyboard._methods as _pkg

_NOT_GROUPS = {"base", "core", "registry"}


def method_groups() -> tuple[type, ...]:
    """Every group's ``Methods`` class, in module-name order."""
    names = sorted(m.name for m in pkgutil.iter_modules(_pkg.__path__) if m.name not in _NOT_GROUPS)
    return tuple(importlib.import_module(f"anyboard._methods.{name}").Methods for name in names)
