"""A watchdog for calls that must not hang: a hang fails the test instead of blocking the suite."""

from __future__ import annotations

import _thread
import faulthandler
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


def interrupt_at_bytecode(n: int, calls: list[Callable[[], Any]]) -> bool:
    """Run ``calls`` with a KeyboardInterrupt raised at their ``n``-th bytecode; whether it was raised.

    A signal handler runs between two bytecodes of the main thread; a trace function raising
    there reaches every such point in turn, the ones a real Ctrl-C hits once in a million too.
    """
    count = [0]

    def local(frame: Any, event: str, arg: Any) -> Any:
        if event == "opcode":
            count[0] += 1
            if count[0] == n:
                raise KeyboardInterrupt
        return local

    def trace(frame: Any, event: str, arg: Any) -> Any:
        frame.f_trace_opcodes = True
        return local

    sys.settrace(trace)
    try:
        for call in calls:
            call()
    except KeyboardInterrupt:
        return True
    finally:
        sys.settrace(None)
    return False


@contextmanager
def ctrl_c_storm(period: float) -> Iterator[list[bool]]:
    """Interrupt the main thread (``SIGINT``) every ``period`` seconds while the block runs.

    Yields ``armed``: the handler raises ``KeyboardInterrupt`` only while ``armed[0]`` is true,
    once per armed stretch (it disarms itself), so the test decides which code a Ctrl-C may
    hit and its own bookkeeping is never interrupted. Must run on the main thread.
    """
    armed = [False]
    stop = threading.Event()

    def on_sigint(signum: int, frame: Any) -> None:
        if armed[0]:
            armed[0] = False
            raise KeyboardInterrupt

    def pest() -> None:
        while not stop.wait(period):
            _thread.interrupt_main(signal.SIGINT)

    previous = signal.signal(signal.SIGINT, on_sigint)
    thread = threading.Thread(target=pest, name="ctrl-c-storm", daemon=True)
    thread.start()
    try:
        yield armed
    finally:
        armed[0] = False
        stop.set()
        thread.join()
        signal.signal(signal.SIGINT, previous)


@contextmanager
def frequent_thread_switches(interval: float = 1e-6) -> Iterator[None]:
    """Make the interpreter switch threads every ``interval`` seconds inside the block (races show up).

    The previous switch interval is restored however the block ends.
    """
    previous = sys.getswitchinterval()
    sys.setswitchinterval(interval)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def wait_for(condition: Callable[[], object], timeout: float = 30.0) -> None:
    """Poll ``condition()`` every 2 ms until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.002)
