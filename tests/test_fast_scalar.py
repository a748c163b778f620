"""add_scalar's compiled fast path (``anyboard._native.FastScalar``) against the Python method it stands for.

The fast path must be invisible: every call gives the same events, the same errors and the
same introspection as the Python ``add_scalar``; calls it does not take reach that method with
their arguments unchanged.
"""

from __future__ import annotations

import inspect
import math
import os
import time

import numpy as np
import pytest

import anyboard
from anyboard._methods import core as core_methods
from anyboard._methods.core import CoreMethods

FAST = core_methods._FastScalar
if FAST is None and not os.environ.get("ANYBOARD_REQUIRE_NATIVE"):
    pytest.skip("anyboard._native is not compiled", allow_module_level=True)
PYTHON_ADD_SCALAR = CoreMethods.add_scalar.__wrapped__ if FAST is not None else None


def test_add_scalar_is_the_compiled_descriptor_with_the_python_methods_face():
    if FAST is None:
        pytest.fail("anyboard._native is not compiled, and ANYBOARD_REQUIRE_NATIVE is set")
    method = anyboard.SummaryWriter.add_scalar
    assert isinstance(method, FAST)
    assert inspect.isfunction(PYTHON_ADD_SCALAR) and PYTHON_ADD_SCALAR.__name__ == "add_scalar"
    assert inspect.signature(method) == inspect.signature(PYTHON_ADD_SCALAR)
    assert method.__doc__ == PYTHON_ADD_SCALAR.__doc__ and "Log one scalar" in method.__doc__
    assert (method.__name__, method.__qualname__, method.__module__) == (
        "add_scalar", "CoreMethods.add_scalar", "anyboard._methods.core")


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


def _run(logdir, add_scalar):
    outcomes = []
    with anyboard.SummaryWriter(str(logdir)) as w:
        w.add_scalar("loss", 0.0, 0)  # the tag is known from here on
        for args, kwargs in _calls():
            try:
                outcomes.append(("ok", add_scalar(w, *args, **kwargs)))
            except Exception as exc:  # noqa: BLE001 - compared between the two paths
                outcomes.append((type(exc).__name__, str(exc)))
    add_scalar(w, "loss", 1.0, 99)  # after close() the writer reopens and logs, as the peers' writers do
    w.close()
    events = []
    for e in anyboard.iter_run_events(str(logdir)):
        for v in e.summary.value:
            value = v.simple_value if v.WhichOneof("value") == "simple_value" else tuple(v.tensor.float_val)
            events.append((v.tag, e.step, repr(value), e.wall_time if e.wall_time < 1.7e9 else "now"))
    assert ("loss", 99, "1.0", "now") in events
    return outcomes, events


@pytest.mark.filterwarnings("ignore:tag 'loss'.* is beyond float32's range:RuntimeWarning")  # the 3.5e38 call, on both paths
def test_every_call_gives_what_the_python_method_gives(tmp_path):
    fast = _run(tmp_path / "fast", anyboard.SummaryWriter.add_scalar)
    slow = _run(tmp_path / "python", PYTHON_ADD_SCALAR)
    assert fast == slow
    outcomes, events = fast
    assert ("ValueError" in {kind for kind, _ in outcomes}) and ("TypeError" in {kind for kind, _ in outcomes})
    assert len(events) > 25


def test_calls_the_fast_path_does_not_take_reach_the_python_method_unchanged(tmp_path, monkeypatch):
    seen = []

    def python_add_scalar(self, *args, **kwargs):
        seen.append((args, kwargs))
        return PYTHON_ADD_SCALAR(self, *args, **kwargs)

    monkeypatch.setattr(CoreMethods, "add_scalar", FAST(python_add_scalar, core_methods._SCALAR, {"now": time.time}, "now"))
    with anyboard.SummaryWriter(str(tmp_path)) as w:
        w.add_scalar("loss", 0.0, 0)  # a new tag: the Python method
        w.add_scalar("loss", 1.0, 1)
        w.add_scalar("loss", 2.0, global_step=2)
        w.add_scalar(tag="loss", global_step=3, scalar_value=3.0)
        m = w.add_scalar  # a bound method
        m("loss", 4.0, 4)
        anyboard.SummaryWriter.add_scalar(w, "loss", 5.0, 5)  # through the class
        assert seen == [(("loss", 0.0, 0), {})]
        w.add_scalar("loss", 6, 6)
        w.add_scalar("loss", 7.0, 2**30)
        w.add_scalar("loss", 8.0, 8, walltime=1.6e9)
        w.add_scalar("loss", 9.0, global_step=9, new_style=False)
        assert seen[1:] == [
            (("loss", 6, 6), {}),
            (("loss", 7.0, 2**30), {}),
            (("loss", 8.0, 8), {"walltime": 1.6e9}),
            (("loss", 9.0), {"global_step": 9, "new_style": False}),
        ]
    steps = [e.step for e in anyboard.iter_run_events(str(tmp_path)) if e.summary.value]
    assert steps == [0, 1, 2, 3, 4, 5, 6, 2**30, 8, 9]


def test_the_fast_path_leaves_the_checks_to_the_python_method_at_the_gate(tmp_path, monkeypatch):
    # Every max_queue events (the gate) the Python method queues with every check (and wakes
    # the writer thread): the fast path must not pass the gate.
    seen = []

    def python_add_scalar(self, *args, **kwargs):
        seen.append(self._core._in_events)
        return PYTHON_ADD_SCALAR(self, *args, **kwargs)

    monkeypatch.setattr(CoreMethods, "add_scalar", FAST(python_add_scalar, core_methods._SCALAR, {"now": time.time}, "now"))
    expected = []
    with anyboard.SummaryWriter(str(tmp_path), max_queue=7, flush_secs=3600) as w:
        core = w._core
        for i in range(5000):
            if i == 0 or core._in_events >= core._gate:  # a new tag, or at the gate
                expected.append(core._in_events)
            w.add_scalar("t", float(i), i)
        assert seen == expected and len(expected) >= 3
    assert [e.step for e in anyboard.iter_run_events(str(tmp_path)) if e.summary.value] == list(range(5000))


def test_a_failing_clock_raises_and_queues_nothing(tmp_path, monkeypatch):
    def broken_clock():
        raise RuntimeError("no clock")

    monkeypatch.setattr(CoreMethods, "add_scalar", FAST(PYTHON_ADD_SCALAR, core_methods._SCALAR, {"now": broken_clock}, "now"))
    w = anyboard.SummaryWriter(str(tmp_path))
    w.add_scalar("t", 1.0, 1)  # new tag: the Python method (its own clock)
    before = w._core._in_events
    with pytest.raises(RuntimeError, match="no clock"):
        w.add_scalar("t", 2.0, 2)
    assert w._core._in_events == before
    w.close()
    assert [e.step for e in anyboard.iter_run_events(str(tmp_path)) if e.summary.value] == [1]


def test_the_clock_is_the_module_global_at_the_time_of_the_call(tmp_path, monkeypatch):
    # The Python method reads core._time on every call; so does the compiled path.
    w = anyboard.SummaryWriter(str(tmp_path))
    w.add_scalar("t", 1.0, 1)
    monkeypatch.setattr(core_methods, "_time", lambda: 1234.5)
    w.add_scalar("t", 2.0, 2)
    monkeypatch.undo()
    w.add_scalar("t", 3.0, 3)
    w.close()
    walls = [e.wall_time for e in anyboard.iter_run_events(str(tmp_path)) if e.summary.value]
    assert walls[1] == 1234.5 and walls[0] > 1.7e9 and walls[2] > 1.7e9


def test_the_fast_path_leaves_the_writers_attribute_storage_alone(tmp_path):
    # Reading the writer's attributes through __dict__ would swap CPython 3.11/3.12's inline
    # attribute storage for a dict (slower attribute access for the writer's whole life).
    import sys

    if sys.version_info[:2] not in ((3, 11), (3, 12)):
        pytest.skip("the managed-dict layout checked here is CPython 3.11/3.12's")
    import ctypes

    def dict_pointer(obj):  # 3.11/3.12: NULL while the attributes live inline, set once __dict__ is made
        return ctypes.c_void_p.from_address(id(obj) - 3 * ctypes.sizeof(ctypes.c_void_p)).value

    w = anyboard.SummaryWriter(str(tmp_path))
    w.add_scalar("t", 0.0, 0)  # a new tag: the Python method
    assert dict_pointer(w) is None
    before = dict_pointer(w._core)
    for i in range(1, 4):
        w.add_scalar("t", float(i), i)  # the compiled path
    assert dict_pointer(w) is None and dict_pointer(w._core) == before
    w.close()


def test_fast_scalar_checks_its_construction():
    with pytest.raises(TypeError, match="callable"):
        FAST(None, core_methods._SCALAR, {}, "now")
    with pytest.raises(TypeError):
        FAST(PYTHON_ADD_SCALAR, core_methods._SCALAR, None, "now")
    with pytest.raises(TypeError):
        FAST(PYTHON_ADD_SCALAR, core_methods._SCALAR, {}, 5)
    with pytest.raises(TypeError, match="int"):
        FAST(PYTHON_ADD_SCALAR, "code", {}, "now")
    unready = FAST.__new__(FAST)
    with pytest.raises(TypeError, match="not initialized"):
        unready(object(), "t", 1.0, 1)


def test_a_writer_class_whose_attributes_are_not_plain_slots_takes_the_python_method(tmp_path, monkeypatch):
    # The compiled path reads _fast_tags, _core and _main_append at their __slots__ offsets; a
    # subclass that makes one of them something else (here a property) must not be read there.
    seen = []

    def python_add_scalar(self, *args, **kwargs):
        seen.append(args)
        return PYTHON_ADD_SCALAR(self, *args, **kwargs)

    class Renamed(anyboard.SummaryWriter):
        @property
        def _fast_tags(self):
            return self._tags_ok

        @_fast_tags.setter
        def _fast_tags(self, value):
            pass

    monkeypatch.setattr(CoreMethods, "add_scalar", FAST(python_add_scalar, core_methods._SCALAR, {"now": time.time}, "now"))
    with Renamed(str(tmp_path)) as w:
        for i in range(3):
            w.add_scalar("t", float(i), i)
    assert len(seen) == 3
    with anyboard.SummaryWriter(str(tmp_path / "plain")) as w:  # the plain class, after it: fast again
        for i in range(3):
            w.add_scalar("t", float(i), i)
    assert len(seen) == 4
    assert [e.step for e in anyboard.iter_run_events(str(tmp_path)) if e.summary.value] == [0, 1, 2]
