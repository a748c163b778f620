"""anyboard._flag.Flag: Event semantics, and no lock left held by a Ctrl-C."""

from __future__ import annotations

import threading
import time
from functools import partial

from watchdog import ctrl_c_storm, interrupt_at_bytecode, no_hang

from anyboard._flag import Flag


def test_set_clear_and_wait_behave_as_an_event():
    flag = Flag()
    assert not flag.is_set()
    start = time.monotonic()
    assert flag.wait(0.05) is False
    assert time.monotonic() - start >= 0.04  # it did wait for the timeout
    flag.set()
    flag.set()  # setting twice is harmless
    assert flag.is_set() and flag.wait(0) and flag.wait(None)
    assert flag.wait(1) is True  # stays set: level-triggered, not consumed by a wait
    flag.clear()
    flag.clear()
    assert not flag.is_set() and flag.wait(0.01) is False


def test_set_wakes_every_waiter_at_once():
    flag = Flag()
    woke: list[bool] = []
    lock = threading.Lock()

    def waiter() -> None:
        result = flag.wait(10)
        with lock:
            woke.append(result)

    threads = [threading.Thread(target=waiter) for _ in range(5)]
    for t in threads:
        t.start()
    time.sleep(0.05)
    assert woke == []
    flag.set()
    for t in threads:
        no_hang(t.join, 5, "a waiter after set()")
    assert woke == [True] * 5


def test_ctrl_c_in_the_main_thread_never_blocks_the_other_side():
    # threading.Event can leave its internal lock held when a KeyboardInterrupt lands inside
    # wait()/set() in the main thread; the writer thread's next set() then blocks forever.
    # Here the main thread waits, sets and clears under a storm of interrupts while another
    # thread keeps setting: that thread must never block, and the flag must still work after.
    flag = Flag()
    stop = threading.Event()
    sets = [0]
    interrupts = 0

    def setter() -> None:
        while not stop.is_set():
            flag.set()
            sets[0] += 1

    other = threading.Thread(target=setter, daemon=True)
    other.start()
    try:
        with ctrl_c_storm(0.001) as armed:
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:
                try:
                    armed[0] = True
                    flag.wait(0.002)
                    flag.clear()
                    flag.set()
                    flag.clear()
                    armed[0] = False
                except KeyboardInterrupt:
                    interrupts += 1
    finally:
        stop.set()
        no_hang(other.join, 5, "the setting thread after interrupts")
    assert interrupts > 0, "the test delivered no interrupt"
    before = sets[0]
    assert before > 0
    flag.clear()
    assert flag.wait(0.01) is False
    no_hang(flag.set, 5, "set() after the storm")
    assert flag.wait(0) is True


def test_an_interrupt_at_any_bytecode_leaves_the_flag_usable_from_another_thread():
    # Deterministic twin of the storm above: threading.Event fails it (its lock stays held
    # when the interrupt lands just after Condition.__enter__ took it).
    for n in range(1, 10_000):
        flag = Flag()
        if not interrupt_at_bytecode(
            n, [partial(flag.wait, 0), flag.set, flag.clear, partial(flag.wait, 0.001), flag.set]
        ):
            assert n > 5, "the calls ran no bytecode: the trace reached nothing"
            return
        no_hang(flag.set, 5, f"set() from another thread after an interrupt at bytecode {n}")
        assert flag.wait(0) is True
        no_hang(flag.clear, 5, f"clear() after an interrupt at bytecode {n}")
        assert flag.wait(0.001) is False
    raise AssertionError("the calls never finished without an interrupt")
