"""Helper threads a writer borrows while a caller waits on it (``flush``, ``close``, the memory bound).

Used by the writer thread to encode a run of independent images at once (a large
histogram's pass is shared with the compiled module's own worker thread instead,
see ``anyboard._native``). ``THREADS`` is how many threads such work may use in
all, the calling one included (and, capped at 2, a histogram pass):
``ANYBOARD_THREADS``, else the usable CPUs, at most 4. The helpers are one
process-wide pool of ``THREADS - 1`` threads, made on first use and made
anew in a forked child (the parent's threads do not survive ``fork``).
Helpers never wait on one another, so any number of writers may share them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from anyboard._flag import Flag


def _configured_threads() -> int:
    """``ANYBOARD_THREADS`` (or its older name ``ANYBOARD_BIN_THREADS``) if set, else the usable CPUs, at most 4.

    0 means no helper threads (the same as 1); anything but a non-negative integer is an error.
    """
    name = "ANYBOARD_THREADS" if os.environ.get("ANYBOARD_THREADS", "").strip() else "ANYBOARD_BIN_THREADS"
    env = os.environ.get(name, "")
    if env.strip():
        try:
            value = int(env)
        except ValueError:
            value = -1
        if value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {env!r}")
        return max(1, value)
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 4))


THREADS = _configured_threads()
_pool: tuple[int, ThreadPoolExecutor] | None = None  # (pid, pool): a forked child makes its own
_pool_lock = threading.Lock()


def _forget_pool() -> None:  # in a forked child: the parent's threads (and a held lock) are gone
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def helper_pool() -> ThreadPoolExecutor:
    """The process's helper threads (``THREADS - 1`` of them; at least one)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (os.getpid(), ThreadPoolExecutor(max(1, THREADS - 1), thread_name_prefix="anyboard-helper"))
        return _pool[1]


class _Call:
    """One call of :func:`call_all`: run by whichever thread claims it first, exactly once."""

    __slots__ = ("args", "claim", "done", "fn", "outcome")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.fn, self.args = fn, args
        self.claim = threading.Lock()
        self.done = Flag()  # not threading.Event: a Ctrl-C in wait() must not leave its lock held
        self.outcome: tuple[bool, Any] = (False, None)

    def run(self) -> None:
        """Run the call unless another thread has claimed it (then return at once)."""
        if not self.claim.acquire(blocking=False):
            return
        try:
            self.outcome = (True, self.fn(*self.args))
        except BaseException as exc:  # an Exception is handed back; anything else also propagates
            self.outcome = (False, exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            self.done.set()


def call_all(calls: Sequence[tuple[Callable[..., Any], tuple[Any, ...]]]) -> list[tuple[bool, Any]]:
    """Run every ``fn(*args)`` of ``calls`` on this thread and the helpers; return once all have run.

    Returns ``(True, result)`` or ``(False, exception)`` per call, in the order
    of ``calls``. Each call runs exactly once, on whichever thread claims it
    first: the helpers take calls from the pool's queue while this thread
    runs, in order, every call not claimed yet (so nothing waits behind a busy
    or refusing pool). An ``Exception`` is caught per call; a ``BaseException``
    raised here (``KeyboardInterrupt``) propagates once no helper runs a call
    any more (calls not started by then are not run).
    """
    tasks = [_Call(fn, args) for fn, args in calls]
    pool = None
    if len(tasks) > 1 and THREADS > 1:
        try:
            pool = helper_pool()
        except RuntimeError:  # no helper pool (a test's, or a failing one): this thread runs everything
            pool = None
    if pool is not None:
        for task in tasks[1:]:
            try:
                pool.submit(task.run)
            except RuntimeError:  # shutting down, or no thread could start: this thread runs the rest
                break
    try:
        for task in tasks:
            task.run()
    finally:
        for task in tasks:
            if task.claim.acquire(blocking=False):  # not started: nobody runs it now
                task.done.set()
        for task in tasks:
            task.done.wait()
    return [task.outcome for task in tasks]
