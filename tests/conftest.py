"""Shared fixtures. Read-back helpers live in ``tests/tbread.py``."""

from __future__ import annotations

import importlib.util
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture
def logdir(tmp_path):
    """A fresh log directory (a path string)."""
    path = tmp_path / "logs"
    return str(path)


# MXNet-only modules run in the MXNet environment (scripts/test.sh builds it). Where MXNet
# cannot be imported they are not collected at all, rather than being reported as skipped.
if importlib.util.find_spec("mxnet") is None:
    collect_ignore = ["test_adapters_mxnet.py", "test_graph_mxnet.py"]
