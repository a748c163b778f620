"""Errors that can be known from the arguments are raised on the call, naming the tag.

Each case used to be accepted and then fail on the writer thread (or be written wrongly without a
word): text or tensor strings with a lone surrogate, a frame delay a GIF cannot store, PR curves and
histograms too large to encode, scalars no float64 can hold, an empty histogram, an empty
``add_scalars``. After each refused call the writer keeps working and nothing was written for it.
The memory each call declares to the queue covers what the writer thread allocates to encode it.
"""

from __future__ import annotations

import io
import tracemalloc
import warnings
from typing import Any

import numpy as np
import pytest

import anyboard


def _assert_refused(logdir: str, call: Any, tag: str, error: type[Exception] = ValueError, match: str = "") -> None:
    """``call(writer)`` raises ``error`` naming ``tag``; a later flush works and nothing was written for it."""
    w = anyboard.SummaryWriter(logdir)
    w.add_scalar("before", 1.0, 0)
    with pytest.raises(error, match=match) as info:
        call(w)
    assert repr(tag) in str(info.value), str(info.value)
    w.add_scalar("after", 2.0, 0)
    w.flush()  # nothing fails later, in the background
    w.close()
    tags = {v.tag for e in anyboard.iter_run_events(logdir) for v in e.summary.value}
    assert tags == {"before", "after"}


# -- strings that cannot be encoded -------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda w: w.add_text("t", ["fine", "bad \ud800"]),
        lambda w: w.add_text("t", [["a", "b"], ["\udfff", "d"]]),
        lambda w: w.add_tensor("t", np.array(["fine", "bad \ud800"])),
        lambda w: w.add_tensor("t", np.array(["x", "\udc80"], dtype=object)),
    ],
    ids=["text-list", "text-table", "tensor-unicode", "tensor-object"],
)
def test_strings_with_a_lone_surrogate_are_refused_on_the_call(logdir, call):
    _assert_refused(logdir, call, "t", match="UTF-8")


def test_strings_that_encode_are_written(logdir):
    with anyboard.SummaryWriter(logdir) as w:
        w.add_text("t", ["é", "\U0001f600"], 0)
        w.add_tensor("u", np.array(["a", "βγ"]), 0)
        w.add_tensor("b", np.array([b"\xff", "x"], dtype=object), 0)  # bytes are stored as given
    got = {v.tag: list(v.tensor.string_val) for e in anyboard.iter_run_events(logdir) for v in e.summary.value}
    assert got == {"t": ["é".encode(), "\U0001f600".encode()], "u": [b"a", "βγ".encode()], "b": [b"\xff", b"x"]}


# -- video frame delays -----------------------------------------------------------------------


@pytest.mark.parametrize("fps", [1e-9, 1e-3, 5e-300])
def test_an_fps_whose_frame_delay_a_gif_cannot_store_is_refused(logdir, fps):
    frames = np.random.default_rng(0).integers(0, 255, (1, 2, 3, 4, 4), dtype=np.uint8)
    _assert_refused(logdir, lambda w: w.add_video("v", frames, 0, fps=fps), "v", match="fps")


def test_identical_frames_that_merge_past_the_longest_gif_delay_are_refused(logdir):
    # At 0.01 fps each frame lasts 100 s; Pillow merges identical neighbours, and 7 of them
    # would make one 700 s frame (a GIF stores at most 655.35 s).
    frames = np.zeros((1, 7, 3, 4, 4), dtype=np.uint8)
    _assert_refused(logdir, lambda w: w.add_video("v", frames, 0, fps=0.01), "v", match="identical frames")


def test_slow_videos_a_gif_can_store_are_written(logdir):
    from PIL import Image, ImageSequence

    rng = np.random.default_rng(1)
    distinct = rng.integers(0, 255, (1, 7, 3, 4, 4), dtype=np.uint8)  # 7 different frames of 100 s
    same = np.zeros((1, 6, 1, 4, 4), dtype=np.uint8)  # 6 identical frames of 100 s: one of 600 s
    with anyboard.SummaryWriter(logdir) as w:
        w.add_video("distinct", distinct, 0, fps=0.01)
        w.add_video("same", same, 0, fps=0.01)
    blobs = {v.tag: v.image.encoded_image_string for e in anyboard.iter_run_events(logdir) for v in e.summary.value}
    for tag, total in (("distinct", 700_000), ("same", 600_000)):
        with Image.open(io.BytesIO(blobs[tag])) as gif:
            durations = [f.info["duration"] for f in ImageSequence.Iterator(gif)]
        assert sum(durations) == total, (tag, durations)


# -- sizes too large to encode ----------------------------------------------------------------


def test_a_pr_curve_with_too_many_thresholds_is_refused(logdir):
    _assert_refused(
        logdir,
        lambda w: w.add_pr_curve("pr", [1, 0], [0.5, 0.2], 0, num_thresholds=10**8),
        "pr",
        match="num_thresholds",
    )


def test_pr_curves_beyond_the_peers_cap_are_written(logdir):
    with anyboard.SummaryWriter(logdir) as w:
        w.add_pr_curve("pr", [1, 0, 1], [0.9, 0.2, 0.4], 0, num_thresholds=1000)
    (value,) = [v for e in anyboard.iter_run_events(logdir) for v in e.summary.value]
    assert [d.size for d in value.tensor.tensor_shape.dim] == [6, 1000]


@pytest.mark.parametrize("bins", [10**9, 10**8, 0, -3])
def test_a_histogram_bucket_count_outside_the_bound_is_refused(logdir, bins):
    _assert_refused(logdir, lambda w: w.add_histogram("h", [1.0, 2.0], 0, bins=bins), "h", match="bins")


def test_a_bool_bucket_count_is_refused(logdir):
    _assert_refused(logdir, lambda w: w.add_histogram("h", [1.0, 2.0], 0, bins=True), "h", TypeError, match="bins")


# -- the empty cases --------------------------------------------------------------------------


@pytest.mark.parametrize("values", [[], np.zeros(0), np.zeros((3, 0), np.float32)], ids=["list", "array", "2d"])
def test_an_empty_histogram_is_refused(logdir, values):
    _assert_refused(logdir, lambda w: w.add_histogram("h", values, 0), "h", match="empty")


def test_an_empty_torch_histogram_is_refused(logdir):
    torch = pytest.importorskip("torch")
    _assert_refused(logdir, lambda w: w.add_histogram("h", torch.zeros(0), 0), "h", match="empty")


def test_add_scalars_with_an_empty_dict_is_refused(logdir):
    _assert_refused(logdir, lambda w: w.add_scalars("m", {}, 0), "m", match="empty")


# -- scalars beyond float64 and float32 -------------------------------------------------------


@pytest.mark.parametrize(
    "value", [10**400, -(10**309), np.longdouble("1e400")], ids=["int", "negative-int", "longdouble"]
)
def test_a_scalar_no_float64_can_hold_is_refused(logdir, value):
    _assert_refused(logdir, lambda w: w.add_scalar("s", value, 0), "s", match="float64")


def test_a_scalar_beyond_float32_is_written_as_inf_with_one_warning_per_tag(logdir):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with anyboard.SummaryWriter(logdir) as w:
            w.add_scalar("s", 1.0, 0)  # the tag is known: later float calls may take the fast path
            w.add_scalar("s", 2.0**1000, 1)
            w.add_scalar("s", -1e39, 2)
            w.add_scalar("s", 2**1000, 3)  # an int
            w.add_scalar("s", float("inf"), 4)  # already inf: no warning
            w.add_scalar("s", 3.4028235e38, 5)  # rounds to float32's max: no warning
            w.add_scalar("other", 1e300, 0)
            w.add_scalars("m", {"a": 1e40, "b": 1.0}, 0)
    messages = [str(c.message) for c in caught if issubclass(c.category, RuntimeWarning)]
    assert len([m for m in messages if m.startswith("tag 's'")]) == 1, messages
    assert len([m for m in messages if m.startswith("tag 'other'")]) == 1, messages
    assert len([m for m in messages if m.startswith("tag 'm', add_scalars key 'a'")]) == 1, messages
    assert all("float32" in m for m in messages)
    values = [
        (e.step, v.simple_value) for e in anyboard.iter_run_events(logdir) for v in e.summary.value if v.tag == "s"
    ]
    assert values == [
        (0, 1.0),
        (1, np.inf),
        (2, -np.inf),
        (3, np.inf),
        (4, np.inf),
        (5, float(np.finfo(np.float32).max)),
    ]


# -- the declared bytes cover the encoding --------------------------------------------------------


def _declared_and_peak(w: Any, call: Any) -> tuple[int, int]:
    """The ``nbytes`` the call declares to the queue, and the peak memory (tracemalloc) its builder takes."""
    queued: list[tuple[Any, tuple[Any, ...], int]] = []

    def record(tag: str, builder: Any, args: tuple[Any, ...], *rest: Any, nbytes: int = 256, **kw: Any) -> None:
        queued.append((builder, args, nbytes))

    w._emit = record  # the method groups queue through self._emit
    call(w)
    del w._emit
    ((builder, args, nbytes),) = queued
    tracemalloc.start()
    try:
        builder(*args)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return nbytes, peak


@pytest.mark.parametrize(
    "call",
    [
        lambda w: w.add_histogram("h", np.random.default_rng(0).standard_normal(300_000), 0, bins=200_000),
        lambda w: w.add_histogram("h", np.arange(50_000, dtype=np.int16), 0),
        lambda w: w.add_histogram("h", np.where(np.arange(400_000) % 7, 1.0, np.nan), 0),
        lambda w: w.add_pr_curve("pr", np.arange(1000) % 2, np.linspace(0, 1, 1000), 0, num_thresholds=200_000),
        lambda w: w.add_image("img", np.zeros((3, 300, 200), np.float32), 0),
        lambda w: w.add_images("img", np.zeros((11, 3, 40, 30), np.uint8), 0),
        lambda w: w.add_video("v", np.zeros((3, 5, 3, 20, 20), np.uint8), 0),
        lambda w: w.add_text("t", [["x" * 1000] * 10] * 10, 0),
        lambda w: w.add_tensor("t", np.zeros((500, 500)), 0),
    ],
    ids=["hist-int-bins", "hist-int16", "hist-nan", "pr-curve", "image", "images-grid", "video", "text", "tensor"],
)
def test_declared_bytes_cover_what_the_writer_thread_allocates(logdir, call):
    w = anyboard.SummaryWriter(logdir, write_to_disk=False)
    try:
        nbytes, peak = _declared_and_peak(w, call)
    finally:
        w.close()
    assert peak <= nbytes, f"the builder took {peak} bytes, the call declared {nbytes}"


def test_add_scalars_float32_warning_names_the_main_tag_and_the_key(logdir):
    """The warning names the tag as given and the key apart (an empty key once gave "tag 'bad ()'")."""
    with anyboard.SummaryWriter(logdir) as w, pytest.warns(RuntimeWarning) as caught:
        w.add_scalars("bad", {"": 3.5e38, "k": 3.5e38}, 1)
    messages = [str(c.message) for c in caught]
    assert len(messages) == 2
    assert all(m.startswith("tag 'bad', add_scalars key ") for m in messages)
    assert "key ''" in messages[0] and "key 'k'" in messages[1]


@pytest.mark.parametrize("method", ["add_image", "add_image_with_boxes"])
def test_huge_float_pixels_are_white_without_a_warning_on_the_writer_thread(logdir, method):
    """A finite float pixel far beyond 1.0 (1e37 * 255 overflows float32) is clipped to 255 quietly.

    Before, the multiply warned on the writer thread, where under ``-W error`` it became a WriteError.
    """
    img = np.full((3, 2, 2), 1e37, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with anyboard.SummaryWriter(logdir) as w:
            if method == "add_image":
                w.add_image("img", img, 0)
            else:
                w.add_image_with_boxes("img", img, np.zeros((0, 4)), 0)
            w.flush()
    images = anyboard.read_images(logdir)
    assert len(images) == 1
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(images["image"].iloc[0])))
    assert pixels.shape == (2, 2, 3) and (pixels == 255).all()


def test_a_large_histograms_step_and_walltime_are_checked_before_its_pass(tmp_path, monkeypatch):
    import numpy as np

    from anyboard._methods import core as core_methods

    passes = []
    binning = core_methods._histogram_now
    monkeypatch.setattr(core_methods, "_histogram_now", lambda *a: passes.append(1) or binning(*a))
    x = np.zeros(1 << 18, np.float32)  # 1 MiB: binned on the caller
    with anyboard.SummaryWriter(str(tmp_path)) as w:
        with pytest.raises((TypeError, ValueError), match="'h'"):
            w.add_histogram("h", x, "three")
        with pytest.raises((TypeError, ValueError), match="'h'"):
            w.add_histogram("h", x, 3, walltime="now")
        assert passes == []
        w.add_histogram("h", x, 3)
    assert passes == [1]
