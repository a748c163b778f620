"""add_video: decoded GIF frames, timing, batch layout, errors, and TensorBoard read-back."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageSequence
from tbread import TensorBoardServer, image_blob, python_accumulator, python_tensors

import anyboard


def gifs(logdir):
    """{tag: [(step, width, height, gif bytes)]} from anyboard's own reader."""
    out = {}
    for e in anyboard.iter_run_events(logdir):
        for v in e.summary.value:
            out.setdefault(v.tag, []).append((e.step, *image_blob(v)))
    return out


def decode(blob, mode="RGB"):
    """(frames as [T, H, W(, C)] uint8, per-frame durations in ms, loop) of a GIF."""
    img = Image.open(io.BytesIO(blob))
    assert img.format == "GIF"
    frames, durations = [], []
    for frame in ImageSequence.Iterator(img):
        frames.append(np.asarray(frame.convert(mode)))
        durations.append(frame.info["duration"])
    return np.stack(frames), durations, img.info.get("loop")


def colour_video(t, colours, h=4, w=6):
    """[T, 3, H, W] uint8 frames, frame k filled with colours[k]."""
    return np.stack([np.broadcast_to(np.array(colours[k], np.uint8)[:, None, None], (3, h, w)) for k in range(t)])


def test_frames_timing_and_loop(logdir):
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (10, 20, 30)]
    gray = np.stack([np.full((1, 3, 5), v, np.uint8) for v in (0, 60, 120, 250, 7)])  # T=5, C=1
    with anyboard.SummaryWriter(logdir) as w:
        w.add_video("rgb", colour_video(4, colours)[None], 2, fps=4)
        w.add_video("gray", gray[None], 2, fps=10)
        w.add_video("float", np.stack([np.full((1, 2, 2), v) for v in (1.5, -0.5, 0.5, np.nan)])[None], 2)
    ((step, width, height, blob),) = gifs(logdir)["rgb"]
    assert (step, width, height) == (2, 6, 4)
    frames, durations, loop = decode(blob)
    assert frames.shape == (4, 4, 6, 3) and loop == 0
    assert [tuple(f[0, 0]) for f in frames] == colours and (frames == frames[:, :1, :1]).all()
    assert durations == [250] * 4
    frames, durations, _ = decode(gifs(logdir)["gray"][0][3], "L")
    assert [int(f[0, 0]) for f in frames] == [0, 60, 120, 250, 7] and durations == [100] * 5
    frames, _, _ = decode(gifs(logdir)["float"][0][3], "L")
    assert [int(f[0, 0]) for f in frames] == [255, 0, 128, 0]


@pytest.mark.parametrize(("batch", "rows", "cols"), [(1, 1, 1), (2, 1, 2), (3, 1, 4), (4, 2, 2), (5, 2, 4), (8, 2, 4)])
def test_batch_layout_pads_to_power_of_two(logdir, batch, rows, cols):
    values = [20 * (b + 1) for b in range(batch)]
    vid = np.stack([np.full((2, 1, 3, 5), v, np.uint8) for v in values])  # B, T=2, C=1, H=3, W=5
    vid[:, 1] += 1  # frames differ, so none is merged
    with anyboard.SummaryWriter(logdir) as w:
        w.add_video("v", vid)
    ((_, width, height, blob),) = gifs(logdir)["v"]
    assert (width, height) == (cols * 5, rows * 3)
    frames, _, _ = decode(blob, "L")
    assert frames.shape == (2, rows * 3, cols * 5)
    for k in range(rows * cols):
        r, c = divmod(k, cols)
        cell = frames[:, r * 3 : r * 3 + 3, c * 5 : c * 5 + 5]
        expected = [values[k], values[k] + 1] if k < batch else [0, 0]
        assert [int(cell[t].min()) for t in range(2)] == expected and [int(cell[t].max()) for t in range(2)] == expected


def test_dataformats_and_channels(logdir):
    colours = [(200, 0, 0), (0, 200, 0), (0, 0, 200)]
    tchw = colour_video(3, colours)
    with anyboard.SummaryWriter(logdir) as w:
        w.add_video("nthwc", tchw.transpose(0, 2, 3, 1)[None], dataformats="NTHWC")
        w.add_video("tchw", tchw, dataformats="tchw")
        w.add_video("thwc", tchw.transpose(0, 2, 3, 1), dataformats="THWC")
        w.add_video("rgba", np.concatenate([tchw, np.full((3, 1, 4, 6), 9, np.uint8)], axis=1)[None])
        w.add_video("thw", np.stack([np.full((4, 6), v, np.uint8) for v in (5, 50, 100)]), dataformats="THW")
        w.add_video("f16", (tchw[None] / 255).astype(np.float16))
    for tag in ("nthwc", "tchw", "thwc", "rgba", "f16"):
        frames, _, _ = decode(gifs(logdir)[tag][0][3])
        assert frames.shape == (3, 4, 6, 3), tag
        assert [tuple(f[0, 0]) for f in frames] == colours, tag
    frames, _, _ = decode(gifs(logdir)["thw"][0][3], "L")
    assert [int(f[0, 0]) for f in frames] == [5, 50, 100]


def test_bad_inputs_raise_naming_the_tag(logdir):
    ok = np.zeros((1, 2, 3, 4, 4), np.uint8)
    with anyboard.SummaryWriter(logdir) as w:
        cases = [
            (ValueError, r"'v1'.*'NTCHW'.*5-D.*\(2, 3, 4, 4\)", lambda: w.add_video("v1", ok[0])),
            (
                ValueError,
                r"'v2'.*1, 3 or 4 channels.*\(1, 2, 2, 4, 4\)",
                lambda: w.add_video("v2", np.zeros((1, 2, 2, 4, 4))),
            ),
            (ValueError, r"'v3'.*time axis 'T'", lambda: w.add_video("v3", ok[0, 0], dataformats="CHW")),
            (ValueError, r"'v4'.*fps", lambda: w.add_video("v4", ok, fps=0)),
            (TypeError, r"'v5'.*fps", lambda: w.add_video("v5", ok, fps="fast")),
            (
                ValueError,
                r"'v6'.*\[0, 255\].*\[256, 256\]",
                lambda: w.add_video("v6", np.full((1, 2, 1, 2, 2), 256, np.int32)),
            ),
            (ValueError, r"'v7'.*invalid dataformats 'NTCHX'", lambda: w.add_video("v7", ok, dataformats="NTCHX")),
        ]
        for exc, pattern, call in cases:
            with pytest.raises(exc, match=pattern):
                call()
        w.flush()
    assert gifs(logdir) == {}


def test_read_back_by_python_loader_and_server(logdir):
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    with anyboard.SummaryWriter(logdir) as w:
        for step in range(2):
            w.add_video(
                "clip", colour_video(3, colours[step:] + colours[:step])[None], step, fps=5, walltime=50.0 + step
            )
    acc = python_accumulator(logdir)
    assert acc.SummaryMetadata("clip").plugin_data.plugin_name == "images"
    series = python_tensors(logdir, "clip")
    assert [(wt, s) for wt, s, _ in series] == [(50.0, 0), (51.0, 1)]
    assert list(series[0][2][:2]) == [b"6", b"4"]
    with TensorBoardServer(logdir) as tb:
        tb.wait_for(lambda: "clip" in tb.get("/data/plugin/images/tags").get(".", {}))
        entries = tb.get("/data/plugin/images/images", run=".", tag="clip", sample=0)
        assert [(e["step"], e["wall_time"]) for e in entries] == [(0, 50.0), (1, 51.0)]
        for step, entry in enumerate(entries):
            r = tb.get_raw("/data/plugin/images/individualImage?" + entry["query"])
            assert r.headers["Content-Type"] == "image/gif"
            frames, durations, loop = decode(r.content)
            assert [tuple(f[0, 0]) for f in frames] == colours[step:] + colours[:step]
            assert durations == [200] * 3 and loop == 0


@pytest.mark.parametrize(
    ("shape", "words"),
    [
        ((1, 2, 1, 70000, 1), r"1 x 70_000 px"),
        ((5, 2, 1, 2, 20000), r"80_000 x 4 px \(a batch of 5 is laid out 2 x 4\)"),
    ],
    ids=["tall", "grid-wide"],
)
def test_a_video_wider_or_taller_than_a_gif_holds_is_refused_on_the_call(logdir, shape, words):
    """A GIF stores its sides in 16 bits: such a video failed on the writer thread, and the next,
    unrelated call raised a WriteError and lost its own value."""
    with anyboard.SummaryWriter(logdir) as w:
        w.add_scalar("before", 1.0, 0)
        with pytest.raises(ValueError, match=f"'v'.*{words}.*65_535"):
            w.add_video("v", np.zeros(shape, np.uint8))
        w.add_scalar("after", 2.0, 0)
    tags = {v.tag for e in anyboard.iter_run_events(logdir) for v in e.summary.value}
    assert tags == {"before", "after"}
