"""torch tensors through the adapters and every core ``SummaryWriter`` input.

CPU tests run everywhere; ``gpu`` tests need CUDA (skipped without it).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tbread import histogram_rows, tensor_value, values_by_tag

import anyboard
from anyboard import adapters
from anyboard.adapters import Deferred, device_histogram_rows, to_numpy, torch_adapter
from anyboard.adapters.device_histogram import device_histogram_rows as rows_on_device
from anyboard.summary.histogram import TF_EDGES, bucket_rows

torch = pytest.importorskip("torch")  # an optional framework: the module is skipped without it

CUDA = torch.cuda.is_available()
gpu = pytest.mark.gpu


# -- conversions ----------------------------------------------------------------


def _bf16_exactvalues_by_tag():
    # bfloat16 values including subnormals, the largest finite and +-inf/nan
    bits = np.array([0x0001, 0x007F, 0x3F80, 0x4049, 0x7F7F, 0xFF7F, 0x7F80, 0xFF80, 0x7FC0, 0x3F81], np.uint16)
    return torch.from_numpy(bits).view(torch.bfloat16), bits


def test_dtypes_shapes_and_layouts_convert_exactly():
    bf, bits = _bf16_exactvalues_by_tag()
    out = to_numpy(bf)
    assert out.dtype == np.float32
    expected = (bits.astype(np.uint32) << 16).view(np.float32)  # bf16 is the top half of f32
    np.testing.assert_array_equal(out, expected)

    half = torch.tensor([1e-7, 65504.0, -0.5], dtype=torch.float16)
    assert to_numpy(half).dtype == np.float16  # kept (documented)
    np.testing.assert_array_equal(to_numpy(half), half.numpy())

    for dtype in (
        torch.bool,
        torch.uint8,
        torch.int8,
        torch.int16,
        torch.int32,
        torch.int64,
        torch.float64,
        torch.uint16,
    ):
        t = (torch.arange(-3, 4) % 2 == 0) if dtype == torch.bool else torch.arange(0, 7).to(dtype)
        out = to_numpy(t)
        assert out.dtype == np.dtype(str(dtype).split(".")[1].replace("bool", "bool_")), dtype
        np.testing.assert_array_equal(out, np.asarray(t.tolist()))

    zero_d = torch.tensor(2.5)
    assert to_numpy(zero_d).shape == () and float(to_numpy(zero_d)) == 2.5

    base = torch.arange(24.0).reshape(4, 6)
    for view in (base.t(), base[:, ::2], base[1:3, 1:5], base.expand(2, 4, 6), base.flip(0)):
        np.testing.assert_array_equal(to_numpy(view), np.asarray(view.tolist()))

    grad = torch.randn(3, 2, requires_grad=True) * 2  # non-leaf with grad_fn
    np.testing.assert_array_equal(to_numpy(grad), grad.detach().numpy())
    param = torch.nn.Parameter(torch.ones(2, 2))
    np.testing.assert_array_equal(to_numpy(param), np.ones((2, 2), np.float32))

    f8 = torch.tensor([0.5, -448.0], dtype=torch.float8_e4m3fn)
    np.testing.assert_array_equal(to_numpy(f8), [0.5, -448.0])
    c = torch.tensor([1 + 2j, -3j], dtype=torch.complex64).conj()
    np.testing.assert_array_equal(to_numpy(c), [1 - 2j, 3j])
    sparse = torch.sparse_coo_tensor([[0, 2]], [1.0, 2.0], (3,), check_invariants=True)
    np.testing.assert_array_equal(to_numpy(sparse), [1.0, 0.0, 2.0])
    np.testing.assert_array_equal(to_numpy(torch.Size([2, 3])), [2, 3])
    np.testing.assert_array_equal(to_numpy([torch.tensor(1.0), torch.tensor(2.0)]), [1.0, 2.0])


def test_data_less_tensors_raise_value_error_naming_the_tag(logdir):
    from torch._subclasses.fake_tensor import FakeTensorMode

    meta = torch.empty(3, 4, device="meta")
    with FakeTensorMode():
        fake = torch.randn(5)
    for bad in (meta, fake):
        with pytest.raises(ValueError, match="my/tag"):
            to_numpy(bad, tag="my/tag")
        with pytest.raises(ValueError, match=r"no data|not hold plain data"):
            to_numpy(bad, tag="t", defer=True)
    with anyboard.SummaryWriter(logdir) as w:
        for call in (
            lambda: w.add_scalar("m/scalar", torch.empty((), device="meta")),
            lambda: w.add_histogram("m/hist", meta),
            lambda: w.add_tensor("m/tensor", meta),
        ):
            with pytest.raises(ValueError, match="m/"):
                call()
        with pytest.raises(ValueError, match="m/dev"):
            rows_on_device(meta, "tensorflow", tag="m/dev", allow_cpu=True)
    assert values_by_tag(logdir) == {}


def test_image_and_audio_shaped_inputs_convert_exactly():
    img_u8 = torch.randint(0, 256, (3, 8, 5), dtype=torch.uint8)
    img_f = torch.rand(2, 3, 4, 4, dtype=torch.float32)[:, :, ::2]  # NCHW, non-contiguous
    img_bf16 = torch.rand(4, 4, 3).bfloat16()
    audio = torch.sin(torch.linspace(0, 100, 4410))
    video = torch.randint(0, 256, (1, 4, 3, 6, 6), dtype=torch.uint8)
    for t in (img_u8, img_f, audio, video):
        out = to_numpy(t)
        assert out.dtype == t.numpy().dtype and out.shape == tuple(t.shape)
        np.testing.assert_array_equal(out, t.numpy())
    np.testing.assert_array_equal(to_numpy(img_bf16), img_bf16.float().numpy())


# -- SummaryWriter inputs -------------------------------------------------------------


def test_every_core_method_logs_torch_inputs_that_read_back_equal(logdir):
    values = {
        "f32": torch.tensor(0.125),
        "f64": torch.tensor([2.5], dtype=torch.float64),
        "f16": torch.tensor(-1.5, dtype=torch.float16),
        "bf16": torch.tensor(3.0625, dtype=torch.bfloat16),
        "i64": torch.tensor(7),
        "u8": torch.tensor([[200]], dtype=torch.uint8),
        "bool": torch.tensor(True),
        "grad": torch.tensor(1.75, requires_grad=True) * 2,
        "view": torch.arange(10.0)[7:8],
    }
    hist_in = torch.randn(50, 40)[:, ::3] * 10  # non-contiguous
    hist_bf16 = torch.randn(100).bfloat16()
    tensor_in = {
        "t/f32": torch.randn(3, 4).t(),
        "t/f16": torch.randn(5).half(),
        "t/bf16": torch.randn(2, 3).bfloat16(),
        "t/i32": torch.arange(6, dtype=torch.int32).reshape(2, 3),
        "t/bool": torch.tensor([True, False]),
        "t/0d": torch.tensor(4.0),
        "t/grad": torch.ones(2, requires_grad=True) + 1,
    }
    step = torch.tensor(11)
    with anyboard.SummaryWriter(logdir) as w:
        for name, v in values.items():
            w.add_scalar(f"s/{name}", v, global_step=step, walltime=torch.tensor(1000.0, dtype=torch.float64))
        w.add_scalar("s/new", torch.tensor(0.5, dtype=torch.bfloat16), torch.tensor([3]), new_style=True)
        w.add_scalars("group", {"a": torch.tensor(1.5), "b": torch.tensor(2, dtype=torch.int8)}, torch.tensor(4))
        w.add_histogram("h/f32", hist_in, torch.tensor(5, dtype=torch.int32))
        w.add_histogram("h/bf16", hist_bf16, 6)
        w.add_histogram("h/int", torch.arange(-20, 20), 7, bins=8)
        w.add_text("txt", "hello", global_step=torch.tensor(9))
        for tag, t in tensor_in.items():
            w.add_tensor(tag, t, torch.tensor(2))
    got = values_by_tag(logdir)
    for name, v in values.items():
        ((s, val),) = got[f"s/{name}"]
        assert s == 11
        assert val.simple_value == np.float32(float(v.detach().float().reshape(()))), name
    ((s, val),) = got["s/new"]
    assert s == 3 and float(tensor_value(val)) == 0.5
    ((s, val),) = got["h/f32"]
    assert s == 5
    np.testing.assert_array_equal(histogram_rows(val), bucket_rows(hist_in.numpy()))
    ref = hist_in.numpy().astype(np.float64).reshape(-1)
    assert (val.histo.num, val.histo.min, val.histo.max) == (ref.size, ref.min(), ref.max())
    assert val.histo.sum == pytest.approx(ref.sum(), rel=1e-12, abs=1e-9)
    assert val.histo.sum_squares == pytest.approx(ref.dot(ref), rel=1e-12)
    np.testing.assert_array_equal(histogram_rows(got["h/bf16"][0][1]), bucket_rows(hist_bf16.float().numpy()))
    np.testing.assert_array_equal(histogram_rows(got["h/int"][0][1]), bucket_rows(np.arange(-20, 20), 8))
    assert got["txt"][0][0] == 9
    for tag, t in tensor_in.items():
        ((s, val),) = got[tag]
        expected = t.detach().float().numpy() if t.dtype == torch.bfloat16 else t.detach().numpy()
        arr = tensor_value(val)
        assert s == 2 and arr.dtype == expected.dtype and arr.shape == expected.shape, tag
        np.testing.assert_array_equal(arr, expected)
    import os

    for key, expected in (("a", 1.5), ("b", 2.0)):
        ((s, val),) = values_by_tag(os.path.join(logdir, f"group_{key}"))["group"]
        assert (s, val.simple_value) == (4, expected)


def test_bad_torch_inputs_raise_naming_the_tag(logdir):
    with anyboard.SummaryWriter(logdir) as w:
        with pytest.raises(ValueError, match="bad/scalar"):
            w.add_scalar("bad/scalar", torch.ones(3))
        with pytest.raises(TypeError, match="bad/step"):
            w.add_scalar("bad/step", 1.0, global_step=torch.tensor(1.5))
        with pytest.raises((TypeError, ValueError), match="bad/complex"):
            w.add_scalar("bad/complex", torch.tensor(1 + 1j))
        with pytest.raises(TypeError, match="bad/hist"):
            w.add_histogram("bad/hist", torch.tensor([1 + 1j]))
    assert values_by_tag(logdir) == {}


def test_scalar_is_the_value_at_call_time_despite_later_in_place_changes(logdir):
    t = torch.tensor(1.0)
    v = torch.tensor([10.0, 20.0])
    with anyboard.SummaryWriter(logdir) as w:
        w.add_scalar("direct", t, 0)
        w.add_histogram("hist", v, 0)
        w.add_tensor("tensor", v, 0)
        t.add_(1)
        v.mul_(0)
        # The deferred (device) code path on CPU: a snapshot converter, resolved on the background thread.
        adapters.register("torch", torch_adapter.snapshot)
        try:
            u = torch.tensor(5.0, dtype=torch.bfloat16)
            w.add_scalar("deferred", u, 0)
            u.add_(1)
        finally:
            adapters.unregister("torch")
        w.flush()
    got = values_by_tag(logdir)
    assert got["direct"][0][1].simple_value == 1.0
    assert got["deferred"][0][1].simple_value == 5.0
    np.testing.assert_array_equal(tensor_value(got["tensor"][0][1]), [10.0, 20.0])
    np.testing.assert_array_equal(histogram_rows(got["hist"][0][1]), bucket_rows(np.array([10.0, 20.0])))


def test_snapshot_on_cpu_is_ready_and_independent():
    t = torch.arange(4.0)
    snap = torch_adapter.snapshot(t)
    assert isinstance(snap, Deferred)
    t.zero_()
    np.testing.assert_array_equal(snap.resolve(), [0.0, 1.0, 2.0, 3.0])


def test_cpu_paths_make_no_cuda_call(monkeypatch, logdir):
    def boom(*args, **kwargs):
        raise AssertionError("a torch.cuda function was called for a CPU tensor")

    for name in (
        "is_available",
        "Event",
        "current_stream",
        "synchronize",
        "device",
        "device_count",
        "_lazy_init",
        "init",
        "Stream",
        "stream",
    ):
        monkeypatch.setattr(torch.cuda, name, boom)
    inputs = [
        torch.tensor(1.5),
        torch.tensor(2.0, dtype=torch.bfloat16),
        torch.ones(3, requires_grad=True),
        torch.arange(5)[::2],
    ]
    for x in inputs:
        to_numpy(x)
        out = to_numpy(x.sum() if x.numel() > 1 else x, defer=True)
        assert isinstance(out, np.ndarray)
        assert device_histogram_rows(x, "tensorflow") is None  # CPU: NumPy path
        rows_on_device(x, "tensorflow", allow_cpu=True)
        torch_adapter.snapshot(x)
    with anyboard.SummaryWriter(logdir) as w:
        for i, x in enumerate(inputs):
            w.add_scalar("s", x.sum(), i)
            w.add_histogram("h", x, i)
            w.add_tensor("t", x, i)
    assert len(values_by_tag(logdir)["s"]) == 4


# -- device histogram (run on CPU tensors here; same code on CUDA) -----------------


def _check_rows(t, max_bins=None):
    ref = t.float().numpy() if t.dtype == torch.bfloat16 else t.numpy()
    got = rows_on_device(t, "tensorflow", max_bins, allow_cpu=True)
    expected = bucket_rows(ref, "tensorflow", max_bins)
    assert isinstance(got, np.ndarray) and got.dtype == np.float64
    np.testing.assert_array_equal(got, expected)


def test_device_histogram_matches_bucket_rows_on_edges_and_specials():
    edges32 = torch.tensor(TF_EDGES, dtype=torch.float32)
    cases = [
        torch.tensor(TF_EDGES),  # every edge exactly (float64)
        edges32,  # edges rounded to float32: each lands on the right side
        torch.nextafter(edges32, torch.tensor(float("inf"))),
        torch.nextafter(edges32, torch.tensor(float("-inf"))),
        torch.nextafter(torch.tensor(TF_EDGES), torch.tensor(float("-inf"), dtype=torch.float64)),
        torch.tensor([float("nan"), float("inf"), -float("inf"), 1.0, -1.0, 0.0, -0.0]),
        torch.tensor([float("nan"), float("inf")]),  # no finite value: [0, 3]
        torch.zeros(0),
        torch.tensor([1e30, -1e30, 3e38, -3e38, 5.0]),  # overflow rows on both sides
        torch.tensor([1e-300, -1e-300, 1e-13], dtype=torch.float64),  # inside the zero bucket
        torch.tensor(TF_EDGES[-1]).reshape(1),
        torch.tensor([True, False, True]),
        torch.arange(-1000, 1000, dtype=torch.int64) * 10**15,
        torch.randint(-(2**31), 2**31 - 1, (1000,), dtype=torch.int32),
        torch.randn(64, 64, dtype=torch.float16) * 1000,
        torch.randn(300).bfloat16() * 1e10,
        torch.randn(100, 100)[::3, ::7],
        torch.tensor(3.5),
    ]
    for t in cases:
        _check_rows(t)
        _check_rows(t, max_bins=7)
        _check_rows(t, max_bins=1)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=0, max_size=60),
    st.sampled_from([torch.float32, torch.float64, torch.float16, torch.bfloat16]),
    st.one_of(st.none(), st.integers(1, 40)),
)
def test_device_histogram_matches_bucket_rows_property(values, dtype, max_bins):
    _check_rows(torch.tensor(values, dtype=torch.float32).to(dtype), max_bins)


def test_device_histogram_applicability_and_errors():
    x = torch.randn(10)
    assert device_histogram_rows(x, "tensorflow") is None  # CPU: NumPy path
    assert device_histogram_rows(np.ones(3), "tensorflow") is None
    assert rows_on_device(x, "auto", allow_cpu=True) is None
    assert rows_on_device(x, 10, allow_cpu=True) is None
    assert rows_on_device([1.0], "tensorflow", allow_cpu=True) is None
    np.testing.assert_array_equal(rows_on_device(x, "default", allow_cpu=True), bucket_rows(x.numpy()))
    with pytest.raises(TypeError, match="c/tag"):
        rows_on_device(torch.tensor([1j]), "tensorflow", tag="c/tag", allow_cpu=True)
    with pytest.raises(ValueError, match="max_bins"):
        rows_on_device(x, "tensorflow", 0, allow_cpu=True)


# -- CUDA ------------------------------------------------------------------------------


def _busy(ms=200):
    """Keep the current CUDA stream busy for about ``ms`` milliseconds."""
    torch.cuda._sleep(int(ms * 1e6))  # cycles at ~1 GHz


@gpu
@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
def test_cuda_scalar_is_deferred_without_synchronizing_and_keeps_the_call_time_value():
    t = torch.tensor(1.25, device="cuda")
    _busy()
    out = to_numpy(t, defer=True)
    assert isinstance(out, torch_adapter.CudaValue)
    assert not out._event.query()  # returned while the stream is still busy: no synchronization
    t.add_(1)  # the training loop changes it in place
    assert float(out.resolve()) == 1.25
    bf = torch.tensor(2.5, dtype=torch.bfloat16, device="cuda")
    assert to_numpy(bf, defer=True).resolve().dtype == np.float32
    assert float(to_numpy(bf, defer=True).resolve()) == 2.5
    big = torch.arange(4.0, device="cuda")
    np.testing.assert_array_equal(to_numpy(big, defer=True), [0, 1, 2, 3])  # arrays: synchronous
    np.testing.assert_array_equal(to_numpy(big.t()), [0, 1, 2, 3])


@gpu
@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
def test_cuda_writer_inputs_and_device_histogram(logdir):
    x = torch.randn(1000, 33, device="cuda")[:, ::2] * 100
    x[0, 0] = float("nan")
    x[1, 1] = 1e30
    _busy()
    rows = device_histogram_rows(x, "tensorflow", None)
    assert isinstance(rows, Deferred) and not rows._event.query()
    np.testing.assert_array_equal(rows.resolve(), bucket_rows(x.cpu().numpy()))
    for dtype in (torch.float16, torch.bfloat16, torch.float64, torch.int32):
        y = (torch.randn(5000, device="cuda") * 1e4).to(dtype)
        ref = y.float().cpu().numpy() if dtype == torch.bfloat16 else y.cpu().numpy()
        np.testing.assert_array_equal(device_histogram_rows(y, "tensorflow", 9).resolve(), bucket_rows(ref, max_bins=9))
    s = torch.tensor(0.5, device="cuda", requires_grad=True) * 3
    with anyboard.SummaryWriter(logdir) as w:
        w.add_scalar("s", s, torch.tensor(2, device="cuda"))
        w.add_histogram("h", x, 0)
        w.add_tensor("t", x[:2, :3], 0)
    got = values_by_tag(logdir)
    assert got["s"][0][0] == 2 and got["s"][0][1].simple_value == 1.5
    np.testing.assert_array_equal(histogram_rows(got["h"][0][1]), bucket_rows(x.cpu().numpy()))
    np.testing.assert_array_equal(tensor_value(got["t"][0][1]), x[:2, :3].cpu().numpy())
