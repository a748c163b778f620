"""Shared fixtures. Read-back helpers live in ``tests/tbread.py``."""

from __future__ import annotations

import importlib
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


@pytest.fixture
def kit_compares(monkeypatch):
    """anyboard.testing compares golden files during this test, never writes them, even when the
    session runs with ``--anyboard-update-goldens`` or ``ANYBOARD_UPDATE_GOLDENS=1`` (tests that
    check a comparison fails)."""
    from anyboard.testing import _golden

    monkeypatch.delenv("ANYBOARD_UPDATE_GOLDENS", raising=False)
    monkeypatch.setattr(_golden, "_pytest_update", False)


@pytest.fixture(params=["native", "numpy"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Bin histograms with the compiled helper, or with the NumPy fallback (the helper hidden).

    ``ANYBOARD_REQUIRE_NATIVE=1`` (set by the test scripts) turns a missing helper into a failure.
    """
    h = importlib.import_module("anyboard.summary.histogram")
    if request.param == "numpy":
        monkeypatch.setattr(h, "_native", None)
    elif h._native is None:
        if os.environ.get("ANYBOARD_REQUIRE_NATIVE"):
            pytest.fail("anyboard._native is not compiled, and ANYBOARD_REQUIRE_NATIVE is set")
        pytest.skip("anyboard._native is not compiled (no C compiler at install)")
    return str(request.param)


@pytest.fixture(autouse=True)
def _empty_buffer_pool():
    """Each test starts and ends with an empty process-wide snapshot buffer pool (it outlives writers)."""
    from anyboard.io.buffer_pool import POOL

    POOL.clear()
    yield
    POOL.clear()
