"""The benchmark workloads: which ``add_*`` method, how many calls, with what input.

Shared by ``anyboard bench`` and ``benchmarks/compare_peers.py``. Inputs are deterministic
(seeded generators) and built before the timed loop. ``scale`` shrinks the call counts and
the array sizes (tests use a tiny scale; the figures are then meaningless).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

CallArgs = Callable[[int], tuple[Any, ...]]


@dataclass
class Workload:
    """One benchmark: ``calls`` calls of ``method``, logging ``values_per_call`` values each.

    ``make_args()`` runs once per workload (untimed) and returns ``args(i)``, the positional
    arguments of call ``i``.
    """

    name: str
    method: str
    calls: int
    reps: int
    make_args: Callable[[], CallArgs]
    values_per_call: int = 1
    light: bool = False  # cheap calls: time single calls in a separate pass, not inside the timed loop
    needs_torch_input: bool = False
    note: str = ""
    # Untimed calls first, on the same writer, then flush() and a pause (the training
    # steps between two bursts of logging): the timed calls see the writer as a
    # training loop does after its first burst (warm buffers).
    warm_calls: int = 0
    warm_pause_s: float = 0.25
    # A burst (issue #21): no warm-up writer before the repetitions and no per-call timer
    # inside the loop; every repetition is a fresh writer, its calls in a tight loop, close().
    burst: bool = False


def natural_image(side: int = 256) -> np.ndarray:
    """A deterministic 3 x side x side uint8 picture: gradients plus +-8 noise (PNG-compressible)."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:side, 0:side].astype(np.float32) * (256.0 / side)
    base = np.stack([x, y, (x + y) / 2]) + rng.integers(-8, 9, (3, side, side))
    return np.clip(base, 0, 255).astype(np.uint8)


def _scalar_args() -> CallArgs:
    return lambda i: ("train/loss", float(i) * 0.001, i)


def _scalars_args() -> CallArgs:
    return lambda i: ("losses", {"a": 0.1 * i, "b": 0.2 * i, "c": 0.3 * i, "d": 0.4 * i}, i)


def _text_args() -> CallArgs:
    text = "Epoch summary: **loss** went down, accuracy went up; see the plots."
    return lambda i: ("notes", text, i)


def _as_torch(array: np.ndarray) -> Any:
    import torch

    return torch.from_numpy(array)


def _hist_args(n: int, torch_input: bool) -> Callable[[], CallArgs]:
    def make() -> CallArgs:
        data: Any = np.random.default_rng(1).standard_normal(n).astype(np.float32)
        if torch_input:
            data = _as_torch(data)
        return lambda i: ("weights", data, i)

    return make


def _fresh_hist_args(n: int, count: int, torch_input: bool) -> Callable[[], CallArgs]:
    """``count`` distinct float32 arrays of ``n`` values (every layer's weights), one per call."""

    def make() -> CallArgs:
        rng = np.random.default_rng(2)
        arrays: list[Any] = [rng.standard_normal(n, dtype=np.float32) for _ in range(count)]
        if torch_input:
            arrays = [_as_torch(a) for a in arrays]
        return lambda i: ("weights", arrays[i % count], i)

    return make


def _image_args(as_float: bool, torch_input: bool, side: int) -> Callable[[], CallArgs]:
    def make() -> CallArgs:
        img = natural_image(side)
        data: Any = img.astype(np.float32) / 255.0 if as_float else img
        if torch_input:
            data = _as_torch(data)
        return lambda i: ("picture", data, i)

    return make


BURST_CALLS = 20
BURST_SIZES = {"1e4": 10_000, "1e6": 1_000_000, "1e7": 10_000_000}


def burst_workloads(scale: float = 1.0, reps: int | None = None) -> list[Workload]:
    """Issue #21's bursts: a fresh writer, 20 ``add_histogram("weights", arr, i)`` calls, ``close()``.

    Named ``burst_<size>_<np|torch>_<same|fresh>``: the same array each call, or 20 distinct
    arrays (every layer's weights) built before the loop.
    """
    out = []
    calls = max(1, round(BURST_CALLS * min(scale, 1.0))) if scale < 1 else BURST_CALLS
    for label, n in BURST_SIZES.items():
        size = max(16, int(n * scale))
        for torch_input in (False, True):
            lib = "torch" if torch_input else "np"
            for fresh in (False, True):
                make = _fresh_hist_args(size, calls, torch_input) if fresh else _hist_args(size, torch_input)
                out.append(
                    Workload(
                        f"burst_{label}_{lib}_{'fresh' if fresh else 'same'}",
                        "add_histogram",
                        calls,
                        reps or 3,
                        make,
                        needs_torch_input=torch_input,
                        burst=True,
                        note=f"fresh writer, {calls} calls on {'distinct arrays' if fresh else 'one array'}, close()",
                    )
                )
    return out


def workloads(quick: bool = False, scale: float = 1.0) -> list[Workload]:
    """Every workload; ``quick`` divides the call counts by 10 and uses one repetition."""
    q = 10 if quick else 1
    r = 1 if quick else None

    def n(count: int, floor: int = 1) -> int:
        return max(floor if scale >= 1 else 1, int(count * scale) // q, 1)

    def size(values: int) -> int:
        return max(16, int(values * scale))

    side = max(8, int(256 * math.sqrt(min(scale, 1.0))))
    hist_calls = max(20 // q, 5) if scale >= 1 else n(20)
    return [
        Workload("scalar_1e5", "add_scalar", n(100_000), r or 3, _scalar_args, light=True),
        Workload("scalar_1e6", "add_scalar", n(1_000_000), r or 2, _scalar_args, light=True),
        Workload("scalars_4keys", "add_scalars", n(25_000), r or 3, _scalars_args, 4, light=True),
        Workload("hist_1e4_np", "add_histogram", n(2_000), r or 3, _hist_args(size(10_000), False)),
        Workload(
            "hist_1e4_torch",
            "add_histogram",
            n(2_000),
            r or 3,
            _hist_args(size(10_000), True),
            needs_torch_input=True,
        ),
        Workload("hist_1e6_np", "add_histogram", hist_calls, r or 3, _hist_args(size(1_000_000), False)),
        Workload(
            "hist_1e6_np_warm",
            "add_histogram",
            hist_calls,
            r or 3,
            _hist_args(size(1_000_000), False),
            warm_calls=hist_calls,
            note="20 untimed calls, a flush and a 0.25 s pause first (steady state)",
        ),
        Workload(
            "hist_1e6_torch",
            "add_histogram",
            hist_calls,
            r or 3,
            _hist_args(size(1_000_000), True),
            needs_torch_input=True,
        ),
        Workload(
            "image_u8",
            "add_image",
            n(100, 10),
            r or 3,
            _image_args(False, True, side),
            needs_torch_input=True,
            note="3x256x256 torch tensor",
        ),
        Workload(
            "image_f32",
            "add_image",
            n(100, 10),
            r or 3,
            _image_args(True, True, side),
            needs_torch_input=True,
            note="3x256x256 torch tensor",
        ),
        Workload("image_u8_np", "add_image", n(100, 10), r or 3, _image_args(False, False, side)),
        Workload("image_f32_np", "add_image", n(100, 10), r or 3, _image_args(True, False, side)),
        Workload("text", "add_text", n(10_000), r or 3, _text_args, light=True),
        *burst_workloads(scale, r),
    ]


def by_name(quick: bool = False, scale: float = 1.0) -> dict[str, Workload]:
    """:func:`workloads` keyed by name, in their order."""
    return {w.name: w for w in workloads(quick, scale)}
