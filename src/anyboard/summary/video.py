"""Video summaries (``add_video``): an animated GIF stored as an image.

On disk: exactly the image encoding of :mod:`anyboard.summary.image` with the
GIF in place of a PNG, as the peers write it: ``"compat"`` a ``Summary.Image``
(``colorspace`` 1 or 3, the GIF's channels), ``"tensor"`` the rank-1
``DT_STRING`` tensor ``[b"<width>", b"<height>", <gif bytes>]`` with plugin
``images``. TensorBoard's images dashboard plays it (the server sniffs
``image/gif``).

The GIF is written by Pillow (no moviepy): looping forever (``loop=0``),
each frame shown ``round(1000 / fps)`` ms (GIF stores 10 ms units, so the
delay is rounded to them). Consecutive identical frames are merged by Pillow
into one longer frame (same total duration). Pixels follow the range rules of
:mod:`anyboard.imaging`; 1 channel is written as grayscale, 3 channels as RGB
quantized by Pillow to at most 256 colours per frame, 4 channels drop alpha
(GIF has no partial transparency).

A batch of ``B`` videos is laid out as the peers do: ``B`` zero-padded to a
power of two ``P``, ``rows = 2 ** ((B.bit_length() - 1) // 2)``,
``cols = P // rows`` (see :func:`anyboard.imaging.video_tile`).
"""

from __future__ import annotations

import io

import numpy as np

from anyboard.imaging import to_layout, to_uint8, video_tile
from anyboard.proto.summary_pb2 import Summary
from anyboard.summary.image import image_summary

MAX_FRAME_MS = 655_350
"""The longest frame delay a GIF can store (a 16-bit count of 10 ms units): ``fps`` below
``1000 / MAX_FRAME_MS`` (about 0.0015) cannot be encoded."""
MIN_FPS = 1000.0 / MAX_FRAME_MS


MAX_GIF_SIDE = 65535
"""A GIF stores its width and height in 16 bits."""


def frame_duration_ms(fps: float) -> int:
    """The GIF frame delay for ``fps`` (at least 10 ms, GIF's unit; ``fps >= MIN_FPS``)."""
    return max(10, round(1000.0 / fps))


def encode_gif(thwc: np.ndarray, fps: float) -> bytes:
    """Looping animated GIF bytes of uint8 frames ``[T, H, W, C]`` (C in 1, 3, 4)."""
    from PIL import Image

    if thwc.shape[3] == 4:
        thwc = thwc[..., :3]
    frames = [Image.fromarray(np.ascontiguousarray(f[:, :, 0] if f.shape[2] == 1 else f)) for f in thwc]
    duration = frame_duration_ms(fps)
    buf = io.BytesIO()
    try:
        frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=duration, loop=0)
    except OverflowError:
        # Frames that differ in the input but not after Pillow's palette conversion are merged
        # into one frame whose summed delay a GIF cannot store (the call checked identical
        # input frames): keep the animation, with each frame short enough that no merge overflows.
        duration = max(10, MAX_FRAME_MS // len(frames) // 10 * 10)
        buf = io.BytesIO()
        frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=duration, loop=0)
    return buf.getvalue()


def video(tag: str, array: np.ndarray, fmt: str = "NTCHW", fps: float = 4, summary_format: str = "compat") -> Summary:
    """Return a video ``Summary`` of ``array`` (axes named by ``fmt``, e.g. ``"NTCHW"``).

    ``array``'s layout and range were validated by the caller; a missing
    ``N`` or ``C`` axis counts as size 1.
    """
    frames = video_tile(to_uint8(to_layout(array, fmt, "NTHWC")))
    channels = 1 if frames.shape[3] == 1 else 3
    return image_summary(tag, frames.shape[2], frames.shape[1], [encode_gif(frames, fps)], channels, summary_format)
