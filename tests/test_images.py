"""add_image, add_images, add_image_with_boxes, add_figure: decoded pixels, errors, and TensorBoard read-back."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from tbread import TensorBoardServer, image_blob, python_accumulator, python_tensors

import anyboard
from anyboard.proto.plugins_pb2 import ImagePluginData


def written(logdir):
    """{tag: [(step, width, height, PIL image)]} from anyboard's own reader."""
    out = {}
    for e in anyboard.iter_run_events(logdir):
        for v in e.summary.value:
            width, height, blob = image_blob(v)
            out.setdefault(v.tag, []).append((e.step, width, height, Image.open(io.BytesIO(blob))))
    return out


def pixels(logdir, tag, index=0):
    _, w, h, img = written(logdir)[tag][index]
    assert img.format == "PNG" and img.size == (w, h)
    return np.asarray(img)


def test_range_rules(logdir):
    with anyboard.SummaryWriter(logdir) as w:
        w.add_image(
            "float", np.array([[0.0, 0.5, 1.0, 1.5, -0.5, np.nan, np.inf, -np.inf, 0.2, 0.998]]), dataformats="HW"
        )
        w.add_image("f16", np.array([[0.0, 0.5, 1.5, -1.0]], np.float16), dataformats="HW")
        w.add_image("u8", np.array([[0, 7, 200, 255]], np.uint8), dataformats="HW")
        w.add_image("bool", np.array([[True, False, True]]), dataformats="HW")
        w.add_image("i64", np.array([[0, 200, 255]], np.int64), dataformats="HW")
        w.add_image("u16", np.array([[3, 254]], np.uint16), dataformats="HW")
        import torch

        w.add_image("bf16", torch.tensor([[0.0, 0.5, 2.0]], dtype=torch.bfloat16), dataformats="HW")
        for bad in (np.array([[0, 300]], np.int64), np.array([[-1, 5]], np.int32)):
            with pytest.raises(ValueError, match=r"'ints'.*\[0, 255\]"):
                w.add_image("ints", bad, dataformats="HW")
        with pytest.raises(TypeError, match="'cplx'"):
            w.add_image("cplx", np.ones((2, 2), np.complex64), dataformats="HW")
    assert pixels(logdir, "float").tolist() == [[0, 128, 255, 255, 0, 0, 255, 0, 51, 254]]
    assert pixels(logdir, "f16").tolist() == [[0, 128, 255, 0]]
    assert pixels(logdir, "u8").tolist() == [[0, 7, 200, 255]]
    assert pixels(logdir, "bool").tolist() == [[255, 0, 255]]
    assert pixels(logdir, "i64").tolist() == [[0, 200, 255]]
    assert pixels(logdir, "u16").tolist() == [[3, 254]]
    assert pixels(logdir, "bf16").tolist() == [[0, 128, 255]]
    assert "ints" not in written(logdir)


def test_every_dataformat_and_channel_count(logdir):
    rng = np.random.default_rng(0)
    cases = {}
    with anyboard.SummaryWriter(logdir) as w:
        for c in (1, 3, 4):
            hwc = rng.integers(0, 256, (5, 7, c), dtype=np.uint8)
            chw = hwc.transpose(2, 0, 1)
            expected = hwc[:, :, 0] if c == 1 else hwc  # 1 channel is stored as grayscale
            w.add_image(f"chw{c}", chw)
            w.add_image(f"hwc{c}", hwc, dataformats="HWC")
            w.add_image(f"lower{c}", hwc, dataformats="hwc")
            w.add_image(f"wch{c}", hwc.transpose(1, 2, 0), dataformats="WCH")
            w.add_images(f"nchw{c}", chw[None])
            w.add_images(f"nhwc{c}", hwc[None], dataformats="NHWC")
            for name in ("chw", "hwc", "lower", "wch", "nchw", "nhwc"):
                cases[f"{name}{c}"] = expected
        gray = rng.integers(0, 256, (4, 6), dtype=np.uint8)
        w.add_image("hw", gray, dataformats="HW")
        cases["hw"] = gray
    for tag, expected in cases.items():
        got = pixels(logdir, tag)
        assert got.shape == expected.shape, tag
        np.testing.assert_array_equal(got, expected, err_msg=tag)
    modes = {tag: written(logdir)[tag][0][3].mode for tag in ("chw1", "chw3", "chw4", "hw")}
    assert modes == {"chw1": "L", "chw3": "RGB", "chw4": "RGBA", "hw": "L"}


def test_batch_becomes_grid_of_8_columns_without_padding(logdir):
    batch = np.stack([np.full((3, 2, 3), 10 * (k + 1), np.uint8) for k in range(10)])  # N=10, CHW 3x2x3
    with anyboard.SummaryWriter(logdir) as w:
        w.add_images("grid", batch, 5)
        w.add_image("grid4d", batch[:3], 6, dataformats="NCHW")  # add_image takes a batch too
        w.add_images("list_chw", [batch[0], batch[1]], 7)
        w.add_images("list_hwc", [batch[0].transpose(1, 2, 0), batch[1].transpose(1, 2, 0)], 8, dataformats="HWC")
    ((step, width, height, _),) = written(logdir)["grid"]
    assert (step, width, height) == (5, 8 * 3, 2 * 2)
    grid = pixels(logdir, "grid")
    for k in range(10):
        r, c = divmod(k, 8)
        assert (grid[r * 2 : r * 2 + 2, c * 3 : c * 3 + 3] == 10 * (k + 1)).all(), k
    assert (grid[2:, 6:] == 0).all()  # the two empty cells
    assert pixels(logdir, "grid4d").shape == (2, 9, 3)
    for tag in ("list_chw", "list_hwc"):
        got = pixels(logdir, tag)
        assert got.shape == (2, 6, 3) and (got[:, :3] == 10).all() and (got[:, 3:] == 20).all(), tag


def test_mxboard_image_keyword_follows_rank(logdir):
    with anyboard.SummaryWriter(logdir) as w:
        w.add_image("hw", image=np.full((3, 4), 0.5), global_step=1)
        w.add_image("chw", image=np.ones((3, 3, 4)), global_step=1)
        w.add_image("nchw", image=np.zeros((2, 1, 3, 4), np.uint8), global_step=1)
        with pytest.raises(TypeError, match="'none'"):
            w.add_image("none")
    assert pixels(logdir, "hw").tolist() == [[128] * 4] * 3
    assert pixels(logdir, "chw").shape == (3, 4, 3)
    assert pixels(logdir, "nchw").shape == (3, 8)


def test_snapshot_taken_on_caller_and_compress_level(logdir):
    img = np.zeros((3, 16, 16), np.uint8)
    with anyboard.SummaryWriter(logdir) as w:
        w.add_image("snap", img, 0, compress_level=0)
        img[:] = 255  # changing the array after the call does not change what is logged
        w.add_image("snap", img, 1, compress_level=9)
    (_, _, _, a), (_, _, _, b) = written(logdir)["snap"]
    assert (np.asarray(a) == 0).all() and (np.asarray(b) == 255).all()
    sizes = [len(image_blob(e.summary.value[0])[2]) for e in anyboard.iter_run_events(logdir) if e.summary.value]
    assert sizes[0] > sizes[1]  # level 0 stores, level 9 compresses


def test_bad_inputs_raise_naming_the_tag(logdir):
    ok = np.zeros((3, 4, 4))
    with anyboard.SummaryWriter(logdir) as w:
        cases = [
            (ValueError, r"'t1'.*'CHW'.*3-D.*\(4, 4\)", lambda: w.add_image("t1", np.zeros((4, 4)))),
            (ValueError, r"'t2'.*'NCHW'.*4-D.*\(3, 4, 4\)", lambda: w.add_images("t2", ok)),
            (ValueError, r"'t3'.*1, 3 or 4 channels.*\(2, 4, 4\)", lambda: w.add_image("t3", np.zeros((2, 4, 4)))),
            (ValueError, r"'t4'.*invalid dataformats 'CHX'", lambda: w.add_image("t4", ok, dataformats="CHX")),
            (ValueError, r"'t5'.*invalid dataformats 'CCH'", lambda: w.add_image("t5", ok, dataformats="CCH")),
            (TypeError, r"'t6'.*dataformats must be a str", lambda: w.add_image("t6", ok, dataformats=3)),
            (ValueError, r"'t7'.*non-empty.*\(3, 0, 4\)", lambda: w.add_image("t7", np.zeros((3, 0, 4)))),
            (ValueError, r"'t8'.*compress_level", lambda: w.add_image("t8", ok, compress_level=10)),
            (ValueError, r"'t9'.*one shape", lambda: w.add_images("t9", [ok, np.zeros((3, 5, 4))])),
            (ValueError, r"'t10'.*empty list", lambda: w.add_images("t10", [])),
            (ValueError, r"'t11'.*\[K, 4\].*\(2, 3\)", lambda: w.add_image_with_boxes("t11", ok, np.zeros((2, 3)))),
            (ValueError, r"'t12'.*2 str", lambda: w.add_image_with_boxes("t12", ok, np.zeros((2, 4)), labels=["a"])),
            (ValueError, r"'t13'.*rescale", lambda: w.add_image_with_boxes("t13", ok, np.zeros((1, 4)), rescale=0)),
            (
                ValueError,
                r"'t14'.*invalid dataformats 'NCHW'.*'CHW', 'HWC', 'HW'\)",
                lambda: w.add_image_with_boxes("t14", ok, np.zeros((1, 4)), dataformats="NCHW"),
            ),
            (ValueError, r"'t15'.*finite", lambda: w.add_image_with_boxes("t15", ok, np.array([[0, 0, np.nan, 1]]))),
            (TypeError, r"'t16'.*matplotlib Figure", lambda: w.add_figure("t16", object())),
            (TypeError, r"'t17'.*dtype", lambda: w.add_image("t17", np.array([["a"]]), dataformats="HW")),
            (  # refused on the call (it used to fail on the writer thread, or exhaust the memory)
                ValueError,
                r"'t18'.*rescale=100000.*400_000 x 400_000",
                lambda: w.add_image_with_boxes("t18", ok, np.zeros((1, 4)), rescale=1e5),
            ),
        ]
        for exc, pattern, call in cases:
            with pytest.raises(exc, match=pattern):
                call()
        w.flush()
    assert written(logdir) == {}


def test_boxes_labels_and_rescale(logdir):
    img = np.zeros((3, 40, 60), np.float32)
    with anyboard.SummaryWriter(logdir) as w:
        w.add_image_with_boxes("boxes", img, np.array([[10, 15, 30, 35]]), 1, labels=["cat"])
        w.add_image_with_boxes("scaled", img, np.array([5.0, 5.0, 20.0, 20.0]), 1, rescale=2)
        # tensorboardX's positional order: dataformats sixth, labels seventh.
        w.add_image_with_boxes("tbx", img.transpose(1, 2, 0), np.array([[1, 1, 8, 8]]), 1, None, "HWC", ["d"])
        w.add_image_with_boxes("gray", np.zeros((20, 20)), torch_boxes(), 1, dataformats="HW")
    px = pixels(logdir, "boxes")
    red = (px[..., 0] == 255) & (px[..., 1] == 0) & (px[..., 2] == 0)
    assert red[25, 10] and red[25, 30] and red[35, 20]  # left, right and bottom edges
    assert not red[25, 20] and (px[25, 20] == 0).all()  # the inside is untouched
    assert (px[:15, :, 1] > 200).any() and not (px[:15, 30:, 0]).any()  # white (anti-aliased) label above the box
    assert (px[36:] == 0).all()  # nothing below the box
    ((_, w2, h2, scaled),) = written(logdir)["scaled"]
    assert (w2, h2) == (120, 80) and scaled.size == (120, 80)
    assert pixels(logdir, "tbx")[4, 1, 0] == 255
    gray = pixels(logdir, "gray")
    assert gray.shape == (20, 20, 3) and tuple(gray[2, 5]) == (255, 0, 0)


def test_boxes_far_outside_the_image_draw_what_shows_of_them(logdir):
    # Found by the bad-input fuzz test: a box at 9.2e18 px made Pillow fail on the writer thread
    # (past a C long). Far coordinates draw as near-but-outside ones do.
    img = np.zeros((3, 40, 60), np.float32)
    far, near = 9.22e18, 1e4
    with anyboard.SummaryWriter(logdir) as w:
        w.add_image_with_boxes("far", img, np.array([[far, far, far, far], [-far, 10, 30, far]]), 1, labels=["0", "a"])
        w.add_image_with_boxes(
            "near", img, np.array([[near, near, near, near], [-near, 10, 30, near]]), 1, labels=["0", "a"]
        )
    far_px, near_px = pixels(logdir, "far"), pixels(logdir, "near")
    np.testing.assert_array_equal(far_px, near_px)
    red = (far_px[..., 0] == 255) & (far_px[..., 1] == 0)
    assert red[20, 30] and not red[20, 31:].any()  # the right edge shows; the rest lies outside
    ((_wall, _step, shown),) = python_tensors(logdir, "far")  # as TensorBoard's image dashboard reads it
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(shown[2]))), far_px)


def _naive_boxes(hwc: np.ndarray, boxes: np.ndarray, labels: list[str]) -> np.ndarray:
    """The boxes drawn straight from their coordinates (fine while Pillow takes them)."""
    from PIL import ImageDraw

    img = Image.fromarray(hwc)
    draw = ImageDraw.Draw(img)
    for (x1, y1, x2, y2), label in zip(boxes.tolist(), labels, strict=True):
        left, right = sorted((x1, x2))
        top, bottom = sorted((y1, y2))
        draw.rectangle([left, top, right, bottom], outline=(255, 0, 0), width=2)
        if label:
            tl, tt, tr, tb = draw.textbbox((0, 0), label)
            y0 = max(top - (tb - tt) - 4, 0)
            draw.rectangle([left, y0, left + tr - tl + 4, y0 + tb - tt + 4], fill=(255, 0, 0))
            draw.text((left + 2 - tl, y0 + 2 - tt), label, fill=(255, 255, 255))
    return np.asarray(img)


def test_boxes_outside_the_image_are_drawn_as_pillow_draws_them_unmoved():
    from anyboard.summary.image import draw_boxes

    rng = np.random.default_rng(4)
    hwc = rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)
    words = ["", "a", "cat", "a much longer label", "two\nlines", "x\n" * 12]
    for _ in range(300):
        boxes = rng.uniform(-400, 400, (3, 4)) * rng.choice([0.1, 1, 10, 1000], (3, 1))
        labels = [words[k] for k in rng.integers(0, len(words), 3)]
        drawn = np.asarray(draw_boxes(hwc, boxes, labels))
        np.testing.assert_array_equal(drawn, _naive_boxes(hwc, boxes, labels))


def torch_boxes():
    import torch

    return torch.tensor([[2, 2, 10, 10]])


def test_figure_is_rendered_rgba_and_closed(logdir):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def red_figure():
        fig = plt.figure(figsize=(2, 1), dpi=50, facecolor=(1, 0, 0, 1))
        return fig

    fig = red_figure()
    kept = red_figure()
    canvas = kept.canvas
    two = [red_figure(), red_figure()]
    with anyboard.SummaryWriter(logdir) as w:
        w.add_figure("fig", fig, 3)
        w.add_figure("kept", kept, 3, close=False)
        w.add_figure("two", two, 3)
        with pytest.raises(ValueError, match=r"'mixed'.*one size"):
            w.add_figure("mixed", [red_figure(), plt.figure(figsize=(1, 1), dpi=50)])
    px = pixels(logdir, "fig")
    assert px.shape == (50, 100, 4) and (px == [255, 0, 0, 255]).all()
    assert not plt.fignum_exists(fig.number) and plt.fignum_exists(kept.number)
    assert kept.canvas is canvas
    assert pixels(logdir, "two").shape == (50, 200, 4)
    plt.close("all")


def test_read_back_by_python_loader_and_server(logdir):
    rng = np.random.default_rng(1)
    imgs = [rng.random((3, 6, 9)) for _ in range(3)]
    with anyboard.SummaryWriter(logdir) as w:
        for step, img in enumerate(imgs):
            w.add_image("train/img", img, step, walltime=100.0 + step)
        w.add_images("batch", rng.integers(0, 256, (3, 1, 4, 5), dtype=np.uint8), 0)
        w.add_image_with_boxes("boxed", imgs[0], np.array([[0, 0, 4, 4]]), 0)
    expected = [np.rint(np.clip(i.transpose(1, 2, 0) * 255, 0, 255)).astype(np.uint8) for i in imgs]

    acc = python_accumulator(logdir)
    md = acc.SummaryMetadata("train/img")
    assert md.plugin_data.plugin_name == "images"
    assert ImagePluginData.FromString(md.plugin_data.content).version == 0
    series = python_tensors(logdir, "train/img")
    assert [(wt, s) for wt, s, _ in series] == [(100.0, 0), (101.0, 1), (102.0, 2)]
    for (_, _, arr), exp in zip(series, expected, strict=True):
        assert arr.shape == (3,) and arr[0] == b"9" and arr[1] == b"6"
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(arr[2]))), exp)

    with TensorBoardServer(logdir) as tb:
        tags = tb.wait_for(lambda: (t := tb.get("/data/plugin/images/tags")).get(".", {}).get("boxed") and t)
        assert set(tags["."]) == {"train/img", "batch", "boxed"}
        assert tags["."]["train/img"]["samples"] == 1
        entries = tb.get("/data/plugin/images/images", run=".", tag="train/img", sample=0)
        assert [(e["step"], e["wall_time"]) for e in entries] == [(0, 100.0), (1, 101.0), (2, 102.0)]
        for entry, exp in zip(entries, expected, strict=True):
            r = tb.get_raw("/data/plugin/images/individualImage?" + entry["query"])
            assert r.headers["Content-Type"] == "image/png"
            np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(r.content))), exp)
        (entry,) = tb.get("/data/plugin/images/images", run=".", tag="batch", sample=0)
        batch = Image.open(io.BytesIO(tb.get_raw("/data/plugin/images/individualImage?" + entry["query"]).content))
        assert batch.size == (15, 4) and batch.mode == "L"


def test_importing_image_modules_imports_no_pillow_matplotlib_or_torch():
    import subprocess
    import sys

    code = (
        "import sys, anyboard, anyboard.utils, anyboard.imaging, anyboard.summary.image, anyboard.summary.video\n"
        "heavy = {'PIL', 'matplotlib', 'torch', 'tensorboard'} & {m.partition('.')[0] for m in sys.modules}\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- the float snapshot's uint8 conversion (compiled and NumPy paths) ----------------------------


def _conversion_inputs(dtype, rng):
    """Specials, every half-way value k + 0.5 over 255 and its neighbours, normal and random-bit values."""
    specials = [np.nan, -np.nan, np.inf, -np.inf, -0.0, 0.0, 1.0, 1e30, -1e30, 0.5, 1.00001, -0.00001, 5e-324]
    with np.errstate(over="ignore", under="ignore"):
        halves = ((np.arange(256) + 0.5) / 255).astype(dtype)
        near = np.concatenate([halves, np.nextafter(halves, dtype(0)), np.nextafter(halves, dtype(2))])
        parts = [np.array(specials).astype(dtype), near, (rng.standard_normal(50_000) * 0.7 + 0.5).astype(dtype)]
    if dtype != np.float16:  # arbitrary bit patterns: NaN payloads, subnormals, huge values
        bits = {np.float32: np.uint32, np.float64: np.uint64}[dtype]
        parts.append(rng.integers(0, np.iinfo(bits).max, 50_000, dtype=bits, endpoint=True).view(dtype))
    return np.concatenate(parts)


@pytest.fixture(params=["compiled", "numpy"])
def conversion(request, monkeypatch):
    """``(float_to_uint8, calls, compiled)``: the conversion through the compiled helper or the NumPy steps.

    ``calls`` lists the dtype of each input the compiled helper converted.
    """
    import os

    from anyboard._methods import images

    real = images._native_to_uint8
    if request.param == "compiled" and real is None:
        if os.environ.get("ANYBOARD_REQUIRE_NATIVE"):
            pytest.fail("anyboard._native.float_to_uint8 is not compiled, and ANYBOARD_REQUIRE_NATIVE is set")
        pytest.skip("compiled conversion not built")
    calls = []
    if request.param == "numpy":
        monkeypatch.setattr(images, "_native_to_uint8", None)
    else:
        monkeypatch.setattr(images, "_native_to_uint8", lambda x, out: (calls.append(x.dtype), real(x, out)))
    return images.float_to_uint8, calls, request.param == "compiled"


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_float_snapshot_is_the_range_rules_uint8(conversion, dtype):
    # add_image snapshots float pixels as their uint8 conversion on the caller; the bytes must
    # equal the range rule's to_uint8 (anyboard.imaging) for every input, in either path.
    import warnings

    from anyboard.imaging import to_uint8

    convert, calls, compiled = conversion
    x = _conversion_inputs(dtype, np.random.default_rng(0))
    x = x[: len(x) // 3 * 3]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = to_uint8(x)
    forms = {
        "contiguous": (x, expected),
        "reversed": (x[::-1], expected[::-1]),
        "byte-swapped": (x.astype(x.dtype.newbyteorder()), expected),
        "2-D slice": (x.reshape(3, -1)[:, 1:], expected.reshape(3, -1)[:, 1:]),
    }
    for name, (form, want) in forms.items():
        got = convert(form)
        assert got.shape == form.shape and got.tobytes() == want.tobytes(), name
    # The compiled helper takes C-contiguous native float32/float64 arrays; the rest go through NumPy.
    assert calls == ([np.dtype(dtype)] if compiled and dtype != np.float16 else [])


def test_compiled_conversion_checks_its_arguments():
    import os

    from anyboard._methods import images

    native = images._native_to_uint8
    if native is None:
        if os.environ.get("ANYBOARD_REQUIRE_NATIVE"):
            pytest.fail("anyboard._native.float_to_uint8 is not compiled, and ANYBOARD_REQUIRE_NATIVE is set")
        pytest.skip("compiled conversion not built")
    x = np.linspace(-1, 2, 64, dtype=np.float32)
    out = np.full(64, 7, np.uint8)
    with pytest.raises(TypeError, match="float32 or float64"):
        native(x.astype(np.float16), out)
    with pytest.raises(TypeError, match="float32 or float64"):
        native(x.astype(np.int32), out)
    with pytest.raises(ValueError, match="64 items"):
        native(x, np.empty(63, np.uint8))
    with pytest.raises(ValueError, match="64 items"):
        native(x, np.empty(64, np.int8))
    misaligned = np.ndarray(64, np.float32, buffer=np.zeros(257, np.uint8).data, offset=1)
    with pytest.raises(ValueError, match="aligned"):
        native(misaligned, out)
    with pytest.raises((BufferError, TypeError, ValueError)):
        native(x, np.empty((8, 16), np.uint8)[:, ::2])  # not contiguous
    with pytest.raises((BufferError, TypeError)):
        native(x, bytes(64))  # read-only
    assert (out == 7).all()  # nothing was written by a refused call
    native(x, out)
    assert out.tolist() == np.clip(np.rint(x * np.float32(255)), 0, 255).astype(np.uint8).tolist()


def test_byte_swapped_and_strided_float_images_read_back_as_native_ones(logdir):
    # Big-endian floats (FITS files, network buffers) once failed in the NumPy conversion's
    # dtype= argument; they and non-contiguous arrays take the NumPy path, native ones the compiled one.
    x = np.random.default_rng(1).random((3, 16, 16))
    x[0, 0, :4] = [np.nan, np.inf, -1.0, 0.5 / 255]
    with anyboard.SummaryWriter(logdir) as w:
        for bits in ("4", "8"):
            w.add_image(f"native{bits}", x.astype(f"=f{bits}"))
            w.add_image(f"swapped{bits}", x.astype(f">f{bits}" if np.little_endian else f"<f{bits}"))
            w.add_image(f"strided{bits}", np.asfortranarray(x.astype(f"=f{bits}")))
    for bits in ("4", "8"):
        reference = pixels(logdir, f"native{bits}")
        assert reference[0, :4, 0].tolist() == [0, 255, 0, 0]  # NaN, inf, negative, a half (to even: 0)
        for tag in (f"swapped{bits}", f"strided{bits}"):
            assert np.array_equal(pixels(logdir, tag), reference), tag


def test_a_box_label_longer_than_pillow_draws_is_refused_on_the_call(logdir):
    with anyboard.SummaryWriter(logdir) as w:
        with pytest.raises(ValueError, match=r"'b'.*1_000_001 characters"):
            w.add_image_with_boxes("b", np.zeros((3, 8, 8)), np.array([[0, 0, 4, 4]]), 0, labels=["x" * 1_000_001])
        w.add_scalar("after", 1.0, 0)  # it failed on the writer thread, and this call raised a bare ValueError
    assert [v.tag for e in anyboard.iter_run_events(logdir) for v in e.summary.value] == ["after"]
