"""Framework-independent adapter behaviour: NumPy/Python inputs, detection, ``register``."""

from __future__ import annotations

import decimal
import fractions
import subprocess
import sys

import numpy as np
import pytest

import anyboard
from anyboard import adapters
from anyboard.adapters import Deferred, Ready, to_numpy


def _summaries(logdir):
    return [e for e in anyboard.iter_run_events(logdir) if e.HasField("summary")]


def test_numpy_arrays_are_returned_as_is_and_scalars_lists_numbers_converted():
    a = np.arange(6, dtype=np.int16).reshape(2, 3)
    assert to_numpy(a) is a
    cases = [
        (np.float32(1.5), np.float32, ()),
        (np.int64(-3), np.int64, ()),
        (np.bool_(True), np.bool_, ()),
        (3, None, ()),
        (2.5, np.float64, ()),
        (True, np.bool_, ()),
        ([1.0, 2.0, 3.0], np.float64, (3,)),
        ([[1, 2], [3, 4], [5, 6]], None, (3, 2)),
        (((1.0,), (2.0,)), np.float64, (2, 1)),
        ("text", None, ()),
    ]
    for value, dtype, shape in cases:
        out = to_numpy(value)
        assert isinstance(out, np.ndarray), value
        assert out.shape == shape, value
        if dtype is not None:
            assert out.dtype == dtype, value
        np.testing.assert_array_equal(out, np.asarray(value))
    assert to_numpy(decimal.Decimal("1.25")) == 1.25
    assert to_numpy(fractions.Fraction(1, 4)) == 0.25


def test_unconvertible_objects_raise_type_error_naming_the_tag():
    for bad in (object(), None, {"a": 1}):
        with pytest.raises(TypeError, match="my/tag"):
            to_numpy(bad, tag="my/tag")


class _ArrayLike:
    """Has only ``__array__`` (like pandas/xarray objects)."""

    def __init__(self, data):
        self._data = np.asarray(data)

    def __array__(self, dtype=None, copy=None):
        return self._data if dtype is None else self._data.astype(dtype)


class _DLPackOnly:
    """Has only ``__dlpack__``/``__dlpack_device__`` (like a CuPy or Paddle CPU tensor)."""

    def __init__(self, data):
        self._data = np.asarray(data)

    def __dlpack__(self, **kwargs):
        return self._data.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._data.__dlpack_device__()


def test_generic_array_and_dlpack_protocols():
    np.testing.assert_array_equal(to_numpy(_ArrayLike([[1.5, 2.5]])), [[1.5, 2.5]])
    out = to_numpy(_DLPackOnly(np.arange(4, dtype=np.float32)))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [0, 1, 2, 3])


def _in_module(cls, module):
    cls.__module__ = module
    return cls


def test_register_hook_converts_a_custom_class_and_writer_logs_it(logdir):
    class Tensor:
        def __init__(self, values):
            self.values = list(values)

    _in_module(Tensor, "fakefw.core.tensor")
    seen = []

    def convert(x):
        seen.append(x)
        return np.asarray(x.values, dtype=np.float32)

    adapters.register("fakefw", convert)
    try:
        np.testing.assert_array_equal(to_numpy(Tensor([1, 2])), [1.0, 2.0])
        with anyboard.SummaryWriter(logdir) as w:
            w.add_scalar("s", Tensor([4.5]), global_step=Tensor([7]))
            w.add_tensor("t", Tensor([1, 2, 3]), 1)
        assert len(seen) == 4
    finally:
        adapters.unregister("fakefw")
    events = _summaries(logdir)
    scalar = next(e for e in events if e.summary.value[0].tag == "s")
    assert (scalar.step, scalar.summary.value[0].simple_value) == (7, 4.5)
    with pytest.raises(TypeError, match="x"):
        to_numpy(Tensor([1]), tag="x")  # unregistered again: no __array__, no converter


def test_register_converter_returning_a_deferred_is_resolved_on_the_background_thread(logdir):
    import threading

    class Scalar:
        def __init__(self, v):
            self.v = v

    _in_module(Scalar, "lazyfw")
    threads = []

    class Late(Deferred):
        __slots__ = ("v",)

        def __init__(self, v):
            self.v = v

        def resolve(self):
            threads.append(threading.current_thread())
            return np.asarray(self.v)

    adapters.register("lazyfw", lambda x: Late(x.v))
    try:
        with anyboard.SummaryWriter(logdir) as w:
            w.add_scalar("late", Scalar(2.5), 3)
            w.flush()
        assert to_numpy(Scalar(1.0)) == 1.0  # defer=False resolves at once
    finally:
        adapters.unregister("lazyfw")
    assert threads[0] is not threading.main_thread()
    (event,) = _summaries(logdir)
    assert (event.step, event.summary.value[0].simple_value) == (3, 2.5)


def test_register_rejects_bad_arguments():
    with pytest.raises(ValueError, match="top-level"):
        adapters.register("torch.nn", lambda x: x)
    with pytest.raises(ValueError, match="top-level"):
        adapters.register("", lambda x: x)
    with pytest.raises(TypeError, match="callable"):
        adapters.register("fw", 3)


def test_detection_uses_the_module_root_not_the_type_name():
    # A class *named* like a torch tensor in a module whose name starts with "torch"
    # but whose root is not "torch": must not reach the torch converter.
    called = []
    adapters.register("torch", lambda x: called.append(x) or np.zeros(1))
    try:
        Fake = _in_module(type("Tensor", (_ArrayLike,), {}), "torchlike.tensor")
        Fake.__qualname__ = "torch.Tensor"
        np.testing.assert_array_equal(to_numpy(Fake([5.0])), [5.0])
        assert called == []
        Real = _in_module(type("Thing", (_ArrayLike,), {}), "torch.fake.sub")
        to_numpy(Real([1.0]))
        assert len(called) == 1
    finally:
        adapters.unregister("torch")
    assert adapters.module_root(np.float32(1)) == "numpy"
    assert adapters.module_root(Fake([1])) == "torchlike"


def test_ready_deferred_and_ml_dtypes_widening():
    import ml_dtypes  # installed with jax

    r = Ready(np.asarray(3.0))
    assert r.resolve() == 3.0
    assert to_numpy(r) is r.resolve()  # a Deferred given to to_numpy is not a framework object
    bf = np.array([1.5, -2.25, 3.0e38], dtype=ml_dtypes.bfloat16)
    out = to_numpy(bf)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, bf.astype(np.float32))
    i4 = np.array([-8, 7], dtype=ml_dtypes.int4)
    assert to_numpy(i4).dtype == np.int8
    np.testing.assert_array_equal(to_numpy(i4), [-8, 7])


def test_importing_anyboard_and_converting_numpy_imports_no_framework():
    code = (
        "import sys, numpy as np, anyboard\n"
        "from anyboard.adapters import to_numpy, device_histogram_rows\n"
        "to_numpy(np.ones(3)); to_numpy([1, 2]); to_numpy(2.5)\n"
        "assert device_histogram_rows(np.ones(3), 'tensorflow') is None\n"
        "w = anyboard.SummaryWriter(write_to_disk=False); w.add_scalar('a', 1.0); w.add_histogram('h', [1.0, 2.0]); w.close()\n"
        "bad = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'mxnet', 'jax', 'jaxlib', 'tensorflow', 'tensorboard', 'matplotlib'})\n"
        "sys.exit(('imported: ' + ', '.join(bad)) if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix itself warns
def test_numpy_subclasses_and_lists_of_ml_dtypes(logdir):
    """A masked array is refused (its masked values would be written as they are underneath); a
    np.matrix is logged as the plain array; a list of bfloat16 scalars is widened like an array."""
    ml_dtypes = pytest.importorskip("ml_dtypes")
    masked = np.ma.masked_invalid(np.array([[0.0, 0.0, 0.0], [np.nan, 1.0, 1.0]]))
    with pytest.raises(TypeError, match=r"'pts'.*masked array"):
        to_numpy(masked, tag="pts")
    with anyboard.SummaryWriter(logdir) as w:
        with pytest.raises(TypeError, match=r"'m'.*masked array"):
            w.add_mesh("m", masked[None], global_step=0)
        with pytest.raises(TypeError, match=r"'p'.*masked array"):
            w.add_pr_curve("p", np.array([1, 1]), np.ma.masked_invalid([0.2, np.nan]), 0)
        w.add_mesh("plain", np.matrix([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 0.0]]).A[None], global_step=0)
        w.add_histogram("mat", np.matrix([[1.0, 2.0], [3.0, 4.0]]), 0)
    assert type(to_numpy(np.matrix([[1, 2]]))) is np.ndarray
    out = to_numpy([ml_dtypes.bfloat16(0.25), ml_dtypes.bfloat16(0.5)])
    assert out.dtype == np.float32 and out.tolist() == [0.25, 0.5]
    values = [v for e in anyboard.iter_run_events(logdir) for v in e.summary.value if v.tag == "mat"]
    assert len(values) == 1 and values[0].histo.num == 4 and values[0].histo.sum == 10.0
