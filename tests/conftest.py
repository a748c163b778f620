"""Shared fixtures. Read-back helpers live in ``tests/tbread.py``."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture
def logdir(tmp_path):
    """A fresh log directory (a path string)."""
    path = tmp_path / "logs"
    return str(path)
