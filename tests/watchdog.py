"""A watchdog for calls that must not hang: a hang fails the test instead of blocking the suite."""

from __future__ import annotations

import faulthandler
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest


def no_hang(fn: Callable[[], Any], timeout: float = 30.0, what: str | None = None) -> Any:
    """Run ``fn()`` on a helper thread and return its result (or raise its exception).

    If it has not returned after ``timeout`` seconds, every thread's stack is dumped on
    stderr and the test fails naming ``what`` (default: ``fn``).
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # re-raised on the test's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"watched-{what or fn}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        pytest.fail(f"{what or fn} did not return within {timeout} s (stacks of every thread dumped on stderr)")
    if "error" in box:
        raise box["error"]
    return box.get("value")
