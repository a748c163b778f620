"""MXNet arrays through the adapters and the core ``SummaryWriter`` inputs.

Runs in the MXNet environment only (``bash scripts/mxnet_env.sh`` then
``.venv-mx/bin/python -m pytest -m mxnet tests/test_adapters_mxnet.py``);
elsewhere the ``mxnet`` marker deselects/skips it.
"""

from __future__ import annotations

import os

import mxnet as mx  # collected only where MXNet imports (tests/conftest.py)
import numpy as np
import pytest
from tbread import histogram_rows, tensor_value, values_by_tag

import anyboard
from anyboard.adapters import Deferred, to_numpy
from anyboard.adapters.mxnet_adapter import MXNetValue
from anyboard.summary.histogram import bucket_rows

pytestmark = pytest.mark.mxnet

BF16 = np.dtype([("bfloat16", np.uint16)])


def test_ndarray_and_np_arrays_convert_exactly():
    for dtype in ("float32", "float64", "float16", "int32", "int64", "uint8", "int8", "bool"):
        x = mx.nd.array(np.arange(6).reshape(2, 3), dtype=dtype)
        out = to_numpy(x)
        assert isinstance(out, np.ndarray) and out.dtype == np.dtype(dtype) and out.shape == (2, 3), dtype
        np.testing.assert_array_equal(out, np.arange(6).reshape(2, 3).astype(dtype))
    y = mx.np.array([[1.5, -2.0], [0.0, 4.25]])
    assert type(y).__module__ == "mxnet.numpy"
    np.testing.assert_array_equal(to_numpy(y), [[1.5, -2.0], [0.0, 4.25]])
    np.testing.assert_array_equal(to_numpy(mx.nd.array([[1, 2], [3, 4]]).T), [[1, 3], [2, 4]])
    bf = mx.nd.array([1.5, -2.25, 3.0e38]).astype(BF16)
    out = to_numpy(bf)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, bf.astype("float32").asnumpy())
    csr = mx.nd.sparse.csr_matrix(np.eye(3, dtype=np.float32))
    np.testing.assert_array_equal(to_numpy(csr), np.eye(3))
    with pytest.raises(TypeError, match="sym/tag"):
        to_numpy(mx.sym.Variable("x"), tag="sym/tag")


def test_scalars_are_deferred_engine_copies_that_ignore_later_writes():
    x = mx.nd.array([3.0])
    d = to_numpy(x, defer=True)
    assert isinstance(d, MXNetValue) and isinstance(d, Deferred)
    x += 1  # queued after the copy on MXNet's engine
    assert float(d.resolve()) == 3.0 and float(x.asscalar()) == 4.0
    bf = to_numpy(mx.nd.array([0.5]).astype(BF16), defer=True)
    assert bf.resolve().dtype == np.float32 and float(bf.resolve()) == 0.5
    assert isinstance(to_numpy(mx.nd.ones(3), defer=True), np.ndarray)  # arrays: at once
    z = mx.np.array(2.0)  # 0-d: MXNet ops need NumPy-shape mode for it
    d0 = to_numpy(z, defer=True)
    assert isinstance(d0, MXNetValue) and float(d0.resolve()) == 2.0
    assert to_numpy(z).shape == () and float(to_numpy(z)) == 2.0


def test_every_core_method_logs_mxnet_inputs_that_read_back_equal(logdir):
    hist = mx.nd.random.normal(0, 100, shape=(50, 20))
    tensor = mx.np.arange(6).reshape(2, 3)
    s = mx.nd.array([0.25])
    with anyboard.SummaryWriter(logdir) as w:
        w.add_scalar("s/nd", s, global_step=mx.nd.array([3], dtype="int64"))
        s += 10  # after the call: not logged
        w.add_scalar("s/np", mx.np.array(1.5), 4)
        w.add_scalar("s/bf16", mx.nd.array([-2.5]).astype(BF16), 5)
        w.add_scalar("mxboard", value=mx.nd.array([6.0]), global_step=6)  # MXBoard's keyword
        w.add_scalars("g", {"a": mx.nd.array([1.0]), "b": mx.np.array(2.0)}, 7)
        w.add_histogram("h", hist, mx.np.array(8))
        w.add_text("txt", "t", 9)
        w.add_tensor("t", tensor, 10)
        w.add_tensor("t/f16", mx.nd.array([0.5, 2.0], dtype="float16"), 10)
    got = values_by_tag(logdir)
    assert [(st, v.simple_value) for st, v in got["s/nd"]] == [(3, 0.25)]
    assert [(st, v.simple_value) for st, v in got["s/np"]] == [(4, 1.5)]
    assert [(st, v.simple_value) for st, v in got["s/bf16"]] == [(5, -2.5)]
    assert [(st, v.simple_value) for st, v in got["mxboard"]] == [(6, 6.0)]
    for key, expected in (("a", 1.0), ("b", 2.0)):
        assert values_by_tag(os.path.join(logdir, f"g_{key}"))["g"][0][1].simple_value == expected
    assert got["h"][0][0] == 8
    rows, expected = histogram_rows(got["h"][0][1]), bucket_rows(hist.asnumpy())
    np.testing.assert_array_equal(rows[rows[:, 2] > 0], expected[expected[:, 2] > 0])  # compat: same buckets
    np.testing.assert_array_equal(tensor_value(got["t"][0][1]), tensor.asnumpy())
    f16 = tensor_value(got["t/f16"][0][1])
    assert f16.dtype == np.float16
    np.testing.assert_array_equal(f16, [0.5, 2.0])
    assert got["txt"][0][0] == 9


def test_bad_mxnet_inputs_raise_naming_the_tag(logdir):
    with anyboard.SummaryWriter(logdir) as w:
        with pytest.raises(ValueError, match="bad/scalar"):
            w.add_scalar("bad/scalar", mx.nd.ones(3))
        with pytest.raises(TypeError, match="bad/sym"):
            w.add_histogram("bad/sym", mx.sym.Variable("v"))
    assert values_by_tag(logdir) == {}
