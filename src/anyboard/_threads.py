"""Helper threads a writer borrows while a caller waits on it (``flush``, ``close``, the memory bound).

Shared by the histogram binning (one large array split over threads) and the
writer thread (a run of independent images encoded at once). ``THREADS`` is
how many threads such work may use in all, the calling one included:
``ANYBOARD_THREADS``, else the usable CPUs, at most 4. The helpers are one
process-wide pool of ``THREADS - 1`` threads, made on first use and made
anew in a forked child (the parent's threads do not survive ``fork``).
Helpers never wait on one another, so any number of writers may share them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any


def _configured_threads() -> int:
    """``ANYBOARD_THREADS`` if set (a positive int), else the usable CPUs, at most 4."""
    env = os.environ.get("ANYBOARD_THREADS", "")
    if env.strip():
        try:
            value = int(env)
        except ValueError:
            value = 0
        if value < 1:
            raise ValueError(f"ANYBOARD_THREADS must be a positive integer, got {env!r}")
        return value
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


def call_all(calls: Sequence[tuple[Callable[..., Any], tuple[Any, ...]]]) -> list[tuple[bool, Any]]:
    """Run every ``fn(*args)`` of ``calls`` on this thread and the helpers; return once all have run.

    Returns ``(True, result)`` or ``(False, exception)`` per call, in the order
    of ``calls`` (an ``Exception`` is caught per call; anything else still
    propagates, after the helpers are done). The first call runs here; each
    call a helper has not started yet when this thread is free is taken back
    and run here too, so nothing waits behind a busy pool. A pool that refuses
    work (interpreter shutdown) leaves every call to this thread.
    """
    pool = None
    if len(calls) > 1 and THREADS > 1:
        try:
            pool = helper_pool()
        except RuntimeError:  # no thread could start
            pool = None
    futures: list[Future[Any] | None] = []
    for fn, args in calls[1:]:
        future = None
        if pool is not None:
            try:
                future = pool.submit(fn, *args)
            except RuntimeError:  # shutting down: not queued, run here below
                pool = None
        futures.append(future)
    out: list[tuple[bool, Any]] = [(False, None)] * len(calls)
    try:
        out[0] = _outcome(*calls[0])
        for i, future in enumerate(futures, 1):
            if future is None or future.cancel():  # not started by a helper: run it here
                out[i] = _outcome(*calls[i])
    finally:
        # No helper still runs a call when this returns. (A call taken back is not waited
        # for: its future counts as done only once a helper dequeues it.)
        wait([f for f in futures if f is not None and not f.cancelled()])
    for i, future in enumerate(futures, 1):
        if future is not None and not future.cancelled():
            exc = future.exception()
            out[i] = (False, exc) if exc is not None else (True, future.result())
    return out


def _outcome(fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[bool, Any]:
    try:
        return True, fn(*args)
    except Exception as exc:  # noqa: BLE001 - handed back to the caller of call_all
        return False, exc
