"""The fused pass (``Layout.count_stats``): bucket counts and HistogramProto statistics at once.

Checked against a NumPy/``math.fsum`` reference on awkward inputs (NaN, ±Inf, -0.0,
denormals, values beyond the outermost edges, huge values; float16/32/64, ints, bool) and
at sizes around the kernel's strides (16 values, 256-value blocks, groups of 64 blocks). The compiled and the
NumPy paths give the same counts, ``num``, ``min`` and ``max``, and sums equal up to the
order of the additions. Also: the summary layer starts no thread (issue #16).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import math
import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig
from typing import Any

import numpy as np
import pytest
from histref import reference_slots

from anyboard.proto.summary_pb2 import HistogramProto
from anyboard.summary.histogram import TF_EDGES

h = importlib.import_module("anyboard.summary.histogram")
SIZES = [1, 7, 15, 16, 17, 33, 255, 256, 257, 2047, 2048, 2049, 4111, 16383, 16384, 16385, 100_003]
DTYPES = [np.float16, np.float32, np.float64, np.int8, np.uint8, np.int32, np.int64, np.bool_]
native = pytest.mark.skipif(
    h._native is None and not os.environ.get("ANYBOARD_REQUIRE_NATIVE"), reason="anyboard._native is not compiled"
)


def reference_stats(x: np.ndarray) -> tuple[float, float, float, float, float, float]:
    """``num, min, max, sum, sum_squares`` of the finite values (correctly rounded sums), and ``sum |x|``."""
    wide = np.asarray(x).reshape(-1).astype(np.float64)
    f = wide[np.isfinite(wide)]
    if not f.size:
        return 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    values = f.tolist()
    return (
        float(f.size),
        float(f.min()),
        float(f.max()),
        math.fsum(values),
        math.fsum(v * v for v in values),
        math.fsum(abs(v) for v in values),
    )


def awkward(n: int, dtype: type, seed: int) -> np.ndarray:
    """``n`` values of ``dtype`` mixing ordinary values with every special case the type has."""
    rng = np.random.default_rng(seed)
    kind = np.dtype(dtype).kind
    if kind == "b":
        return rng.integers(0, 2, n).astype(bool)
    if kind in "iu":
        info = np.iinfo(dtype)
        x = rng.integers(info.min, info.max, n, dtype=dtype, endpoint=True)
        x[:: max(1, n // 5)] = info.max
        return x
    finfo = np.finfo(dtype)
    huge = (
        1e150 if np.dtype(dtype).itemsize == 8 else float(finfo.max)
    )  # float64: squares stay finite (overflow: below)
    with np.errstate(over="ignore"):  # float16: the largest become Inf, one more special value
        x = (rng.standard_normal(n) * 10.0 ** rng.integers(-6, 6, n)).astype(dtype)
    specials = [
        -0.0,
        0.0,
        float(finfo.smallest_subnormal),
        -float(finfo.smallest_subnormal) * 3,
        float(finfo.tiny) / 2,
        huge,
        -huge,
        1e-13,  # below the innermost edge (1e-12): the bucket around 0
        np.nan,
        np.inf,
        -np.inf,
    ]
    if kind == "f" and np.dtype(dtype).itemsize >= 4:
        specials += [3e25, -1e21, float(np.float32(TF_EDGES[-1])), float(TF_EDGES[0])]  # beyond / at the outer edges
    positions = rng.integers(0, n, min(n, 3 * len(specials)))
    for i, p in enumerate(positions):
        x[p] = specials[i % len(specials)]
    return x


def check_stats(stats: np.ndarray, x: np.ndarray) -> None:
    num, low, high, total, squares, magnitude = reference_stats(x)
    assert stats[0] == num
    if not num:
        np.testing.assert_array_equal(stats, np.zeros(5))
        return
    assert stats[1] == low and stats[2] == high
    eps = np.finfo(np.float64).eps
    # float64 accumulation: error bounded by a small multiple of eps * sum |x| (any order of additions)
    assert abs(stats[3] - total) <= 64 * eps * magnitude + 1e-300
    if math.isinf(squares) or math.isinf(float(stats[4])):
        assert stats[4] == squares
    else:
        assert abs(stats[4] - squares) <= 64 * eps * squares + 1e-300


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("n", SIZES)
def test_counts_and_statistics_match_the_reference(backend: str, dtype: type, n: int) -> None:
    x = awkward(n, dtype, seed=n)
    slots, stats = h._tf_slots_stats(h._as_binnable(x))
    np.testing.assert_array_equal(slots, reference_slots(x))
    check_stats(stats, x)


@pytest.fixture(scope="module")
def portable_native(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``_native.c`` built with ``-DANYBOARD_PORTABLE_STATS``: the kernel of CPUs without AVX2."""
    source = pathlib.Path(os.environ.get("ANYBOARD_SOURCE_DIR") or pathlib.Path(h.__file__).parent.parent) / "_native.c"
    compiler = shutil.which(os.environ.get("CC", "cc"))
    if h._native is None or compiler is None or not source.exists():
        if os.environ.get("ANYBOARD_REQUIRE_NATIVE"):
            pytest.fail(f"cannot build the portable kernel (compiler {compiler}, source {source})")
        pytest.skip("no C compiler or no C source to build the portable kernel")
    out = tmp_path_factory.mktemp("portable") / f"_native{sysconfig.get_config_var('EXT_SUFFIX')}"
    include = sysconfig.get_paths()["include"]
    flags = ["-O3", "-fno-trapping-math", "-shared", "-fPIC", "-DANYBOARD_PORTABLE_STATS"]
    subprocess.run([compiler, *flags, f"-I{include}", str(source), "-o", str(out)], check=True)
    spec = importlib.util.spec_from_file_location("portable._native", out)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
def test_the_portable_kernel_matches_the_reference_too(portable_native: Any, dtype: type) -> None:
    # CI machines have AVX2, so the installed build runs the fused AVX2 kernel; the one built
    # here runs the other (count a block, then its statistics) on the same awkward inputs.
    native_layout = h._native_layout(np.dtype(dtype))
    layout = h._build_layout(portable_native, np.dtype(dtype))
    for n in SIZES:
        x = awkward(n, dtype, seed=n)
        slots, stats = np.empty(layout.nslot, np.int64), np.empty(5)
        layout.count_stats(x, slots, stats)
        np.testing.assert_array_equal(slots, reference_slots(x))
        check_stats(stats if stats[0] else np.zeros(5), x)
        native_slots, native_stats = np.empty(layout.nslot, np.int64), np.empty(5)
        native_layout.count_stats(x, native_slots, native_stats)
        np.testing.assert_array_equal(native_slots, slots)
        assert native_stats[:3].tolist() == stats[:3].tolist()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_only_non_finite_values_give_zero_statistics(backend: str, dtype: type) -> None:
    x = np.array([np.nan, np.inf, -np.inf] * 700, dtype)
    slots, stats = h._tf_slots_stats(x)
    assert slots[-1] == x.size and slots[:-1].sum() == 0
    np.testing.assert_array_equal(stats, np.zeros(5))


def test_squares_beyond_float64_are_infinite_in_both_paths(backend: str) -> None:
    x = np.array([1e200, 2.0, 1e200] * 20)
    stats = h._tf_slots_stats(x)[1]
    assert stats[4] == np.inf and stats[3] == pytest.approx(40e200, rel=1e-15)
    assert (stats[0], stats[1], stats[2]) == (60, 2.0, 1e200)


@pytest.mark.parametrize("summary_format", ["compat", "tensor"])
@pytest.mark.parametrize("bins", ["tensorflow", 4])
def test_the_builder_returns_a_summary_and_its_bytes_twin_the_same_serialized(summary_format: str, bins: Any) -> None:
    # tensorboardX's summary.histogram returns a Summary (users read .value[0].histo); the writer
    # queues histogram_bytes, the same message serialized without building it.
    x = awkward(5000, np.float32, seed=3)
    summary = h.histogram("w", x, bins=bins, summary_format=summary_format)
    assert type(summary).__name__ == "Summary" and summary.value[0].tag == "w"
    assert summary.value[0].HasField("histo" if summary_format == "compat" else "tensor")
    assert h.histogram_bytes("w", x, bins=bins, summary_format=summary_format) == summary.SerializeToString()


@native
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_native_and_numpy_paths_agree(monkeypatch: pytest.MonkeyPatch, dtype: type) -> None:
    x = awkward(50_001, dtype, seed=7)
    native_slots, native_stats = h._tf_slots_stats(x)
    native_summary = h.histogram("w", x)
    monkeypatch.setattr(h, "_native", None)
    numpy_slots, numpy_stats = h._tf_slots_stats(x)
    numpy_summary = h.histogram("w", x)
    np.testing.assert_array_equal(native_slots, numpy_slots)
    np.testing.assert_array_equal(native_stats[:3], numpy_stats[:3])
    check_stats(native_stats, x)  # both within rounding of the correctly rounded sums
    check_stats(numpy_stats, x)
    a, b = native_summary.value[0].histo, numpy_summary.value[0].histo
    assert list(a.bucket_limit) == list(b.bucket_limit) and list(a.bucket) == list(b.bucket)
    assert (a.min, a.max, a.num) == (b.min, b.max, b.num) == tuple(native_stats[:3][[1, 2, 0]])
    assert (a.sum, a.sum_squares) == tuple(native_stats[3:]) and (b.sum, b.sum_squares) == tuple(numpy_stats[3:])


@pytest.mark.parametrize("seed", range(6))
def test_compat_bytes_from_slots_equal_the_rows_encoding(backend: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(3000) * 10.0 ** rng.integers(-14, 19, 3000)).astype(np.float32)
    if seed == 0:
        x = np.full(5, 0.0, np.float32)  # one bucket
    slots, stats = h._tf_slots_stats(x)
    assert not slots[0] and not slots[-2]
    layout = h._native_layout(x.dtype) if h._native is not None else None
    fast = h._tf_histo_bytes(slots, stats, layout)
    assert fast == h.histogram_proto_bytes(h.rows_from_slots(slots, stats), stats)
    histo = HistogramProto.FromString(fast)
    assert histo.num == x.size and sum(histo.bucket) == x.size


def test_compat_bytes_without_any_finite_value(backend: str) -> None:
    x = np.full(9, np.nan, np.float32)
    slots, stats = h._tf_slots_stats(x)
    assert h._tf_histo_bytes(slots, stats) == b"" == h.histogram_proto_bytes(h.rows_from_slots(slots, stats), stats)


@native
def test_span_finds_the_non_empty_buckets() -> None:
    layout = h._native_layout(np.dtype(np.float32))
    counts = np.zeros(layout.nslot, np.int64)
    assert layout.span(counts) == (0, 0)
    counts[0] = counts[-2] = counts[-1] = 5  # below, above, non-finite: no bucket
    assert layout.span(counts) == (0, 0)
    counts[3] = counts[700] = 1
    assert layout.span(counts) == (3, 701)
    counts[1] = counts[-3] = 2  # the first and the last bucket
    assert layout.span(counts) == (1, layout.nslot - 2)
    with pytest.raises(ValueError, match="int64 buffer"):
        layout.span(np.zeros(3, np.int64))


@native
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_count_stats_flushes_its_lanes_in_small_blocks(dtype: type) -> None:
    compare = h._native_layout(np.dtype(dtype))
    edges = np.unique(TF_EDGES.astype(dtype))
    layout = h._native.Layout(edges, 18 if dtype == np.float32 else 20, block=7)
    x = awkward(5003, dtype, seed=3)
    small, full = np.empty(layout.nslot, np.int64), np.zeros(layout.nslot, np.int64)
    stats, expected = np.empty(5), np.empty(5)
    layout.count_stats(x, small, stats)
    layout.count(x, full)
    np.testing.assert_array_equal(small, full)
    compare.count_stats(x, np.empty(compare.nslot, np.int64), expected)
    np.testing.assert_array_equal(stats[:3], expected[:3])
    np.testing.assert_allclose(stats[3:], expected[3:], rtol=1e-12)


@native
def test_count_stats_overwrites_its_outputs_and_checks_them() -> None:
    layout = h._native_layout(np.dtype(np.float32))
    x = np.arange(100, dtype=np.float32)
    counts, stats = np.full(layout.nslot, 99, np.int64), np.full(5, 7.0)
    layout.count_stats(x, counts, stats)
    assert counts.sum() == 100
    np.testing.assert_array_equal(stats, [100, 0, 99, 4950, sum(i * i for i in range(100))])
    with pytest.raises(ValueError, match="stats"):
        layout.count_stats(x, counts, np.zeros(4))
    with pytest.raises(ValueError, match="stats"):
        layout.count_stats(x, counts, np.zeros(5, np.float32))
    with pytest.raises(TypeError, match="float32"):
        layout.count_stats(x.astype(np.float64), counts, stats)
    with pytest.raises(ValueError, match="int64"):
        layout.count_stats(x, counts[:-1].copy(), stats)


def test_histogram_stats_of_any_shape_and_type(backend: str) -> None:
    x = awkward(3000, np.float32, seed=11).reshape(30, 100)
    check_stats(h.histogram_stats(x), x)
    check_stats(h.histogram_stats(np.arange(-5, 6)), np.arange(-5, 6))
    np.testing.assert_array_equal(h.histogram_stats(np.zeros(0)), np.zeros(5))


_THREAD_MODULES = {"threading", "_thread", "concurrent", "multiprocessing", "asyncio", "anyboard._threads"}


def test_the_summary_layer_imports_no_threading() -> None:
    """``anyboard.summary`` is pure (NumPy in, protos/bytes out): splitting work over threads is the caller's."""
    import anyboard.summary

    folder = pathlib.Path(anyboard.summary.__file__).parent
    found = []
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            found += [
                f"{path.name}: {name}"
                for name in names
                if name in _THREAD_MODULES or name.split(".")[0] in _THREAD_MODULES
            ]
    assert found == []
    assert len(list(folder.glob("*.py"))) > 5  # the folder was found


@pytest.mark.parametrize("summary_format", ["compat", "tensor"])
def test_small_arrays_are_snapshot_at_the_call(tmp_path: pathlib.Path, backend: str, summary_format: str) -> None:
    """A small array is queued as a copy of its bytes: changing it after the call changes nothing;
    any layout and byte order reads back as the histogram of the values at the call."""
    import anyboard

    rng = np.random.default_rng(5)
    base = rng.standard_normal((40, 50)).astype(np.float32)
    inputs = [
        base.copy(),
        base.copy().T,  # not C-contiguous
        base.copy()[:, ::3],  # strided
        base.astype(">f4"),  # big-endian
        base.astype(np.float16),
        (base * 100).astype(np.int16),
    ]
    expected = [h.bucket_rows(np.array(x)) for x in inputs]
    expected_stats = [h.histogram_stats(np.array(x)) for x in inputs]
    w = anyboard.SummaryWriter(str(tmp_path), summary_format=summary_format)
    for i, x in enumerate(inputs):
        w.add_histogram("h", x, i)
        x[...] = 0  # after the call: not seen
    w.close()
    events = [e for e in anyboard.iter_run_events(str(tmp_path)) if e.summary.value]
    assert [e.step for e in events] == list(range(len(inputs)))
    for event, rows, stats in zip(events, expected, expected_stats, strict=True):
        value = event.summary.value[0]
        if summary_format == "tensor":
            got = np.frombuffer(value.tensor.tensor_content, "<f8").reshape(-1, 3)
            np.testing.assert_array_equal(got, rows)
        else:
            histo = value.histo
            assert list(histo.bucket_limit) == [rows[0, 0], *rows[:, 1]]
            assert list(histo.bucket) == [0.0, *rows[:, 2]]
            assert [histo.num, histo.min, histo.max, histo.sum, histo.sum_squares] == stats.tolist()


def test_torch_cpu_tensors_take_the_view_and_read_back_as_numpy(tmp_path: pathlib.Path) -> None:
    """CPU tensors and Parameters are read through a NumPy view; other tensors through the adapter."""
    torch = pytest.importorskip("torch")
    import anyboard
    from anyboard.adapters import torch_adapter

    base = torch.from_numpy(np.random.default_rng(9).standard_normal((60, 70)).astype(np.float32))
    inputs = {
        "tensor": base.clone(),
        "parameter": torch.nn.Parameter(base.clone()),
        "transposed": base.clone().t(),
        "bfloat16": base.clone().to(torch.bfloat16),  # no NumPy dtype: the adapter widens it
        "large": torch.from_numpy(np.random.default_rng(3).standard_normal(300_000).astype(np.float32)),
    }
    for name in ("tensor", "parameter", "transposed", "large"):  # the adapter's fast case: a view of the memory
        view = torch_adapter.to_numpy(inputs[name])
        assert np.shares_memory(view, inputs[name].detach().numpy()), name
    widened = torch_adapter.to_numpy(inputs["bfloat16"])  # .numpy() refuses it: the general path widens it
    assert widened.dtype == np.float32
    with pytest.raises(ValueError, match="meta"):  # no data: named, not viewed
        torch_adapter.to_numpy(torch.zeros(2, device="meta"))
    expected = {k: h.bucket_rows(v.detach().float().numpy().copy()) for k, v in inputs.items()}
    w = anyboard.SummaryWriter(str(tmp_path), summary_format="tensor")
    with torch.no_grad():
        for i, (name, t) in enumerate(inputs.items()):
            w.add_histogram(name, t, i)
            t.zero_()  # after the call: not seen
    w.close()
    events = {
        e.summary.value[0].tag: e.summary.value[0] for e in anyboard.iter_run_events(str(tmp_path)) if e.summary.value
    }
    assert set(events) == set(inputs)
    for name, rows in expected.items():
        got = np.frombuffer(events[name].tensor.tensor_content, "<f8").reshape(-1, 3)
        np.testing.assert_array_equal(got, rows, err_msg=name)


def test_small_snapshots_count_towards_the_memory_bound(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bytes of a small array are queued with their size: a stalled writer thread drops past the bound."""
    import threading
    import warnings

    import anyboard
    from anyboard._methods import core as core_methods

    stalled = threading.Event()
    original = core_methods._snapshot_histogram

    def stalled_histogram(*args: Any) -> Any:
        stalled.wait(60)
        return original(*args)

    monkeypatch.setattr(core_methods, "_snapshot_histogram", stalled_histogram)
    bound = 1 << 20
    w = anyboard.SummaryWriter(str(tmp_path), max_pending_bytes=bound, on_full="drop")
    x = np.zeros(10_000, np.float32)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the one "dropping" warning
            for i in range(100):  # 4 MB of values alone
                w.add_histogram("h", x, i)
        pending = w._core._pending_bytes()
    finally:
        stalled.set()
    w.close()
    assert 0 < w.dropped < 100
    assert pending <= bound
    steps = [e.step for e in anyboard.iter_run_events(str(tmp_path)) for v in e.summary.value if v.tag == "h"]
    assert steps == list(range(100 - w.dropped))


# -- count_stats(..., threads=2): the pass shared with the compiled worker thread ----------------

_SPLIT_SIZES = [1 << 17, (1 << 17) + 1, 3 * 16384 - 1, 32768 * 7 + 5, 1_000_003]


def _bits(stats: np.ndarray) -> bytes:
    return np.asarray(stats, np.float64).tobytes()


@native
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("n", _SPLIT_SIZES)
def test_the_shared_pass_gives_the_one_thread_results_to_the_bit(dtype: type, n: int) -> None:
    layout = h._native_layout(np.dtype(dtype))
    for seed, x in enumerate([awkward(n, dtype, seed=n), np.full(n, -0.0, dtype), awkward(n, dtype, seed=1) * 1e-30]):
        if seed == 1:
            x[::7919] = 0.0  # zeros of both signs: min and max keep the first one met, as on one thread
        finite = x[np.isfinite(x)].copy() if seed != 1 else x
        for values in (x, finite):
            one, two = np.empty(layout.nslot, np.int64), np.full(layout.nslot, 5, np.int64)
            s1, s2 = np.empty(5), np.full(5, 3.0)
            layout.count_stats(values, one, s1)
            layout.count_stats(values, two, s2, 2)
            np.testing.assert_array_equal(two, one)
            assert _bits(s2) == _bits(s1), (s1, s2)
            np.testing.assert_array_equal(one, reference_slots(values))
    with pytest.raises(ValueError, match="threads"):
        layout.count_stats(x, one, s1, 0)


_WORKER_SCRIPT = """
import os, sys, threading
import numpy as np
from anyboard.summary import histogram as h
def threads(): return len(os.listdir("/proc/self/task"))
layout = h._native_layout(np.dtype(np.float32))
x = np.random.default_rng(0).standard_normal(1 << 20).astype(np.float32)
one, s1 = np.empty(layout.nslot, np.int64), np.empty(5)
layout.count_stats(x, one, s1)
before = threads()
two, s2 = np.empty(layout.nslot, np.int64), np.empty(5)
for _ in range(5):
    layout.count_stats(x, two, s2, 2)
    assert (two == one).all() and s2.tobytes() == s1.tobytes()
started = threads() - before
# several Python threads at once: one shares the pass with the worker, the others count alone
results = []
def count():
    c, s = np.empty(layout.nslot, np.int64), np.empty(5)
    for _ in range(20):
        layout.count_stats(x, c, s, 2)
        results.append((c == one).all() and s.tobytes() == s1.tobytes())
ts = [threading.Thread(target=count) for _ in range(4)]
for t in ts: t.start()
for t in ts: t.join()
assert len(results) == 80 and all(results)
pid = os.fork()
if pid == 0:  # the parent's worker is gone: the child starts its own, and does not wait on the parent's
    c, s = np.empty(layout.nslot, np.int64), np.empty(5)
    layout.count_stats(x, c, s, 2)
    os._exit(0 if (c == one).all() and s.tobytes() == s1.tobytes() else 3)
_, status = os.waitpid(pid, 0)
print("STARTED", started, "CHILD", os.waitstatus_to_exitcode(status))
"""


@native
@pytest.mark.skipif(
    not os.path.isdir("/proc/self/task") or not hasattr(os, "fork"), reason="needs Linux /proc and fork"
)
def test_the_worker_is_one_thread_per_process_and_a_forked_child_gets_its_own(tmp_path: pathlib.Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(_WORKER_SCRIPT)
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "STARTED 1 CHILD 0" in run.stdout, run.stdout
