"""A wake-up flag that Ctrl-C cannot break: the writer's stand-in for ``threading.Event``.

``threading.Event`` and ``threading.Condition`` guard their state with a lock
taken inside Python code. A ``KeyboardInterrupt`` raised in the main thread
between that lock's acquire and the ``with`` block that releases it leaves the
lock held for good, and the next ``set()`` from any thread (the writer thread
releasing a ``flush()``, a caller waking the writer) blocks forever: a
training job that survived one Ctrl-C then hangs in ``close()``.

:class:`Flag` keeps no lock that anyone holds. Its state is a bool and a raw
lock used as a gate: locked while the flag is clear, released by :meth:`set`.
Every operation is one attribute store and one C call on the gate, so an
interrupt can land only between whole steps, and the state it leaves behind is
at worst a spurious wake-up, which every waiter here tolerates (each waits in a
loop that re-checks what it waits for), or, if it lands inside ``wait`` just
after the gate was taken, the gate left closed while the flag is set: later
waits see the flag and return at once, and only another thread already blocked
on the same flag would sleep to its timeout (the writer gives each waiter its
own flag, or has a single one).
"""

from __future__ import annotations

import _thread


class Flag:
    """A level-triggered flag (``set``/``clear``/``is_set``/``wait``) safe against interrupts.

    ``wait`` wakes every waiter (each one passes the gate on), as
    ``threading.Event.wait`` does; it may also return early (a spurious
    wake-up), so callers re-check their condition.
    """

    __slots__ = ("_gate", "_set")

    def __init__(self) -> None:
        self._set = False
        self._gate = _thread.allocate_lock()
        self._gate.acquire()  # locked: not set

    def is_set(self) -> bool:
        """Whether the flag is set."""
        return self._set

    def set(self) -> None:
        """Set the flag and wake every waiter."""
        self._set = True
        try:
            self._gate.release()
        except RuntimeError:  # already open
            pass

    def clear(self) -> None:
        """Clear the flag (a waiter passing the gate at this moment may still wake once)."""
        self._set = False
        self._gate.acquire(False)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the flag is set or ``timeout`` seconds pass (``None``: no limit); return ``is_set()``."""
        if self._set:
            return True
        if self._gate.acquire(True, -1 if timeout is None else max(0.0, timeout)):
            try:
                self._gate.release()  # pass it on: every waiter wakes
            except RuntimeError:  # a set() meanwhile released it already
                pass
        return self._set
