"""add_scalar's fast path (a float, an int step, a tag seen before) against its checked path.

The fast path must be invisible: every call gives the same events and the same errors as the
full method, and it queues through the one enqueue protocol (``Stream.put``): an append while
the queue is shorter than ``check_at``, ``BackgroundWriter.put_checked`` otherwise.
"""

from __future__ import annotations

import inspect
import itertools
import math
import threading

import numpy as np
import pytest

import anyboard
from anyboard._methods import core as core_methods
from anyboard._methods.core import CoreMethods
from anyboard.io import background as bg
from anyboard.io import stream as st


def test_add_scalar_is_the_python_method_with_its_signature_and_doc():
    method = anyboard.SummaryWriter.add_scalar
    assert method is CoreMethods.add_scalar and inspect.isfunction(method)  # no compiled descriptor
    assert list(inspect.signature(method).parameters)[:4] == ["self", "tag", "scalar_value", "global_step"]
    assert "Log one scalar" in (method.__doc__ or "")


def _calls():
    """(args, kwargs) of add_scalar calls: fast ones, near misses and bad ones."""
    big = 2**30
    yield ("loss", 0.5, 1), {}
    yield ("loss", 1.5), {"global_step": 2}
    yield (), {"tag": "loss", "scalar_value": 2.5, "global_step": 3}
    yield ("loss",), {"scalar_value": -0.0, "global_step": 4}
    yield ("loss", math.nan, 5), {}
    yield ("loss", math.inf, 6), {}
    yield ("loss", 3.5e38, 7), {}  # float32 overflow: inf
    yield ("loss", 1.0, big - 1), {}
    yield ("loss", 1.0, big), {}  # past the fast bound: the checked path
    yield ("loss", 1.0, -big), {}
    yield ("loss", 1.0, 2**63 - 1), {}
    yield ("loss", 1.0, 2**63), {}  # int64 overflow: ValueError
    yield ("loss", 1, 8), {}  # an int value
    yield ("loss", np.float32(0.25), 9), {}
    yield ("loss", True, 10), {}  # bool: TypeError
    yield ("loss", "1.0", 11), {}
    yield ("loss", 1.0, 12.0), {}  # an integral float step
    yield ("loss", 1.0, 12.5), {}
    yield ("loss", 1.0, True), {}
    yield ("loss", 1.0, None), {}
    yield ("loss", 1.0), {}
    yield ("loss", 1.0, 13, 1.6e9), {}
    yield ("loss", 1.0, 14), {"walltime": 1.6e9}
    yield ("loss", 1.0, 15), {"walltime": None}
    yield ("loss", 1.0, 16), {"new_style": True}
    yield ("loss", 1.0, 17), {"display_name": "Loss"}
    yield ("loss",), {"value": 1.0, "global_step": 18}
    yield ("loss", {"a": 1.0, "b": 2.0}, 19), {}
    yield ("new/tag", 1.0, 20), {}  # first call of a tag: checked path
    yield ("new/tag", 2.0, 21), {}
    yield ("bad tag\0", 1.0, 22), {}
    yield (3, 1.0, 23), {}
    yield ("loss", 1.0, 24, None, False, False, "extra"), {}
    yield ("loss", 1.0, 25), {"unknown": 1}
    yield (), {}
    yield ("loss",), {"scalar_value": 1.0, "global_step": 26, "tag": "twice"}
    yield ("loss", 1.0, 27), {"global_step": 27}


def _run(logdir, fast):
    outcomes = []
    with anyboard.SummaryWriter(str(logdir)) as w:
        if not fast:
            w._fast_tags = frozenset()  # what use_metadata does: every call takes the full method
        w.add_scalar("loss", 0.0, 0)  # the tag is known from here on
        for args, kwargs in _calls():
            try:
                outcomes.append(("ok", w.add_scalar(*args, **kwargs)))
            except Exception as exc:  # compared between the two paths
                outcomes.append((type(exc).__name__, str(exc)))
    w.add_scalar("loss", 1.0, 99)  # after close() the writer reopens and logs, as the peers' writers do
    w.close()
    events = []
    for e in anyboard.iter_run_events(str(logdir)):
        for v in e.summary.value:
            value = v.simple_value if v.WhichOneof("value") == "simple_value" else tuple(v.tensor.float_val)
            events.append((v.tag, e.step, repr(value), e.wall_time if e.wall_time < 1.7e9 else "now"))
    assert ("loss", 99, "1.0", "now") in events
    return outcomes, events


@pytest.mark.filterwarnings(
    "ignore:tag 'loss'.* is beyond float32's range:RuntimeWarning"
)  # the 3.5e38 call, on both paths
def test_every_call_gives_what_the_full_method_gives(tmp_path):
    fast = _run(tmp_path / "fast", True)
    slow = _run(tmp_path / "full", False)
    assert fast == slow
    outcomes, events = fast
    assert ("ValueError" in {kind for kind, _ in outcomes}) and ("TypeError" in {kind for kind, _ in outcomes})
    assert len(events) > 25


def _held_writer_counting_checks(monkeypatch) -> tuple[threading.Event, list[int]]:
    """Hold every writer thread in drain (before it pops anything) until the returned event is
    set, and record the queue length at each ``put_checked`` call in the returned list."""
    gate = threading.Event()
    drain = st.Stream.drain

    def held_drain(self, limit, reached):
        gate.wait(30)
        return drain(self, limit, reached)

    monkeypatch.setattr(st.Stream, "drain", held_drain)
    checked: list[int] = []
    put_checked = bg.BackgroundWriter.put_checked

    def counting(self, stream, item, nbytes):
        checked.append(len(stream.queue))
        return put_checked(self, stream, item, nbytes)

    monkeypatch.setattr(bg.BackgroundWriter, "put_checked", counting)
    return gate, checked


def test_the_fast_path_appends_alone_below_check_at_and_is_checked_from_there(tmp_path, monkeypatch):
    # The writer thread is held in drain (before it pops anything), so the queue only grows and
    # nothing but put_checked moves check_at: each call must take put_checked exactly when the
    # queue has reached check_at, and every other call must only append.
    gate, checked = _held_writer_counting_checks(monkeypatch)
    w = anyboard.SummaryWriter(str(tmp_path), max_queue=7, flush_secs=3600)
    try:
        w.add_scalar("t", 0.0, 0)  # a new tag: the full method (and the first call: checked)
        main = w._main
        expected = []
        for i in range(1, 5000):
            if len(main.queue) >= main.check_at:
                expected.append(len(main.queue))
            w.add_scalar("t", float(i), i)
        assert checked[1:] == expected
        assert 5 <= len(expected) < 5000 // 7  # checked every max_queue items, then (thread busy) less often
        assert (
            max(b - a for a, b in itertools.pairwise(expected)) <= st.FAR_GATE + 1
        )  # at most FAR_GATE unchecked between
    finally:
        gate.set()
        w.close()
    assert [e.step for e in anyboard.iter_run_events(str(tmp_path)) if e.summary.value] == list(range(5000))


def test_a_failing_clock_raises_and_queues_nothing(tmp_path, monkeypatch):
    def broken_clock():
        raise RuntimeError("no clock")

    w = anyboard.SummaryWriter(str(tmp_path))
    w.add_scalar("t", 1.0, 1)
    w.flush()
    monkeypatch.setattr(core_methods, "_time", broken_clock)
    with pytest.raises(RuntimeError, match="no clock"):
        w.add_scalar("t", 2.0, 2)
    assert len(w._main.queue) == 0
    monkeypatch.undo()
    w.close()
    assert [e.step for e in anyboard.iter_run_events(str(tmp_path)) if e.summary.value] == [1]


def test_the_clock_is_the_module_global_at_the_time_of_the_call(tmp_path, monkeypatch):
    # The fast path reads core._time on every call.
    w = anyboard.SummaryWriter(str(tmp_path))
    w.add_scalar("t", 1.0, 1)
    monkeypatch.setattr(core_methods, "_time", lambda: 1234.5)
    w.add_scalar("t", 2.0, 2)
    monkeypatch.undo()
    w.add_scalar("t", 3.0, 3)
    w.close()
    walls = [e.wall_time for e in anyboard.iter_run_events(str(tmp_path)) if e.summary.value]
    assert walls[1] == 1234.5 and walls[0] > 1.7e9 and walls[2] > 1.7e9


def test_a_writer_subclass_with_its_own_fast_tags_attribute_logs_every_call(tmp_path):
    # A subclass may make the attributes the fast path reads something else (here a property).
    class Renamed(anyboard.SummaryWriter):
        @property
        def _fast_tags(self):
            return self._tags_ok

        @_fast_tags.setter
        def _fast_tags(self, value):
            pass

    with Renamed(str(tmp_path)) as w:
        for i in range(3):
            w.add_scalar("t", float(i), i)
    with anyboard.SummaryWriter(str(tmp_path / "plain")) as w:
        for i in range(3):
            w.add_scalar("t", float(i), i)
    assert [e.step for e in anyboard.iter_run_events(str(tmp_path)) if e.summary.value] == [0, 1, 2]
    assert [e.step for e in anyboard.iter_run_events(str(tmp_path / "plain")) if e.summary.value] == [0, 1, 2]


def test_small_items_that_declare_bytes_are_counted_without_the_checks(tmp_path, monkeypatch):
    """A one-string add_text declares a few hundred bytes: it is counted under the small lock
    (``put_counted``) and takes ``put_checked`` (wake-up, memory bound) only at the gate, like
    an item declaring none. Before, every such call woke the writer thread (3-4x slower)."""
    gate, checked = _held_writer_counting_checks(monkeypatch)
    w = anyboard.SummaryWriter(str(tmp_path), max_queue=7, flush_secs=3600)
    try:
        w.add_text("t", "first", 0)
        core, main = w._core, w._main
        before = core._in_bytes
        expected = []
        for i in range(1, 5000):
            if len(main.queue) >= main.check_at:
                expected.append(len(main.queue))
            w.add_text("t", "hello", i)
        assert checked[1:] == expected
        assert 5 <= len(expected) < 5000 // 7
        assert core._in_bytes - before == 4999 * (256 + 4 * len("hello"))  # every call's bytes counted
        big = "x" * st.SMALL_ITEM  # declares more than SMALL_ITEM: checked at once
        n = len(checked)
        w.add_text("t", big, 5000)
        assert len(checked) == n + 1
    finally:
        gate.set()
        w.close()
    steps = [e.step for e in anyboard.iter_run_events(str(tmp_path)) if e.summary.value]
    assert steps == list(range(5001))
