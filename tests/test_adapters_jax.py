"""JAX arrays through the adapters and the core ``SummaryWriter`` inputs (CPU backend)."""

from __future__ import annotations

import numpy as np
import pytest
from tbread import histogram_rows, tensor_value, values_by_tag

import anyboard
from anyboard.adapters import Deferred, to_numpy
from anyboard.adapters.jax_adapter import JaxValue
from anyboard.summary.histogram import bucket_rows

# JAX is an optional framework: without it this module is skipped, not a collection error that
# aborts the whole run (anyboard.adapters.jax_adapter itself never imports jax).
jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")


def test_jax_dtypes_and_shapes_convert_exactly():
    bf = jnp.array([1.5, -2.25, 3.0e38, 1e-38], dtype=jnp.bfloat16)
    out = to_numpy(bf)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.asarray(bf).astype(np.float32))
    for dtype in (jnp.float32, jnp.float16, jnp.int32, jnp.uint8, jnp.bool_):
        x = jnp.arange(6).reshape(2, 3).astype(dtype)
        out = to_numpy(x)
        assert out.dtype == np.dtype(dtype) and out.shape == (2, 3)
        np.testing.assert_array_equal(out, np.asarray(x))
    assert to_numpy(jnp.float32(2.5)).shape == ()
    f8 = to_numpy(jnp.array([0.5, -448.0], dtype=jnp.float8_e4m3fn))
    assert f8.dtype == np.float32
    np.testing.assert_array_equal(f8, [0.5, -448.0])
    np.testing.assert_array_equal(to_numpy(jnp.array([-8, 7], dtype=jnp.int4)), [-8, 7])
    np.testing.assert_array_equal(to_numpy(jnp.arange(12.0).reshape(3, 4).T[::2]), np.arange(12.0).reshape(3, 4).T[::2])


def test_jax_scalars_are_deferred_and_resolve_to_the_value():
    x = jnp.asarray(1.25, dtype=jnp.bfloat16)
    d = to_numpy(x, defer=True)
    assert isinstance(d, JaxValue) and isinstance(d, Deferred)
    assert d.resolve().dtype == np.float32 and float(d.resolve()) == 1.25
    assert isinstance(to_numpy(jnp.ones(3), defer=True), np.ndarray)  # arrays: at once
    assert isinstance(to_numpy(jnp.asarray([1j]), defer=True), np.ndarray)  # complex: checked by the caller


def test_donated_scalar_logged_before_donation_keeps_its_value(logdir):
    update = jax.jit(lambda v: v + 1, donate_argnums=0)
    x = jnp.asarray(3.0)
    with anyboard.SummaryWriter(logdir) as w:
        w.add_scalar("x", x, 0)
        x = update(x)  # may delete the logged buffer on backends that support donation
        w.flush()
    assert values_by_tag(logdir)["x"][0][1].simple_value == 3.0


def test_tracers_deleted_arrays_raise_value_error_naming_the_tag():
    errors = []

    @jax.jit
    def step(v):
        try:
            to_numpy(v, tag="in/jit")
        except ValueError as exc:
            errors.append(str(exc))
        return v * 2

    step(jnp.ones(2))
    assert errors and "in/jit" in errors[0] and "jax.debug.callback" in errors[0]
    gone = jnp.ones(3)
    gone.delete()
    with pytest.raises(ValueError, match="del/tag"):
        to_numpy(gone, tag="del/tag")


def test_every_core_method_logs_jax_inputs_that_read_back_equal(logdir):
    hist = jax.random.normal(jax.random.PRNGKey(0), (40, 30)) * 100
    t_bf16 = jnp.linspace(-1, 1, 6, dtype=jnp.bfloat16).reshape(2, 3)
    with anyboard.SummaryWriter(logdir) as w:
        w.add_scalar("s/f32", jnp.float32(0.25), jnp.asarray(3))
        w.add_scalar("s/bf16", jnp.asarray(-1.5, dtype=jnp.bfloat16), 4)
        w.add_scalar("s/i", jnp.asarray([7]), 5)
        w.add_scalars("g", {"a": jnp.asarray(1.5)}, 6)
        w.add_histogram("h", hist, jnp.asarray(7))
        w.add_text("txt", "x", jnp.asarray(8))
        w.add_tensor("t/bf16", t_bf16, 9)
        w.add_tensor("t/i", jnp.arange(4, dtype=jnp.int32), 9)
    got = values_by_tag(logdir)
    assert [(s, v.simple_value) for s, v in got["s/f32"]] == [(3, 0.25)]
    assert [(s, v.simple_value) for s, v in got["s/bf16"]] == [(4, -1.5)]
    assert [(s, v.simple_value) for s, v in got["s/i"]] == [(5, 7.0)]
    rows, expected = histogram_rows(got["h"][0][1]), bucket_rows(np.asarray(hist))
    np.testing.assert_array_equal(rows[rows[:, 2] > 0], expected[expected[:, 2] > 0])  # compat: same buckets
    assert got["h"][0][0] == 7 and got["txt"][0][0] == 8
    np.testing.assert_array_equal(tensor_value(got["t/bf16"][0][1]), np.asarray(t_bf16).astype(np.float32))
    np.testing.assert_array_equal(tensor_value(got["t/i"][0][1]), np.arange(4, dtype=np.int32))
    import os

    assert values_by_tag(os.path.join(logdir, "g_a"))["g"][0][1].simple_value == 1.5
