"""Images, boxes, matplotlib figures and video (``add_image`` & co).

On the caller: the layout and dtype checks, one copy of the pixels (and the
min/max scan the range rules need for integer types other than uint8), and,
for figures, the Agg rendering (matplotlib is not thread-safe). A float image
for ``add_image``/``add_images`` is snapshot as its uint8 conversion (cheaper
than a float copy into fresh pages); other conversions to uint8, grids, box
drawing and PNG/GIF encoding run on the background thread.
On-disk encodings: :mod:`anyboard.summary.image`, :mod:`anyboard.summary.video`;
range rules: :mod:`anyboard.imaging`.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

from anyboard._layout import summary_tag
from anyboard._methods.base import MethodsBase
from anyboard.imaging import check_range, parse_layout, video_grid
from anyboard.summary.image import DEFAULT_COMPRESS_LEVEL, MAX_RESCALED_BYTES, rescaled_size
from anyboard.summary.image import encode_bytes as _encode_bytes
from anyboard.summary.image import image as _image_summary
from anyboard.summary.image import image_with_boxes as _image_with_boxes
from anyboard.summary.video import MAX_FRAME_MS, MAX_GIF_SIDE, MIN_FPS, frame_duration_ms
from anyboard.summary.video import video as _video

_MISSING: Any = object()
MAX_LABEL_CHARS = 1_000_000  # Pillow's ImageFont.MAX_STRING_LENGTH

try:  # the compiled conversion (_native.c): one fused pass; the NumPy steps below give the same bytes
    from anyboard._native import float_to_uint8 as _native_to_uint8
except ImportError:  # pragma: no cover - not built, or no FLT_EVAL_METHOD 0: the fallback tests patch this
    _native_to_uint8 = None  # type: ignore[assignment]
_NATIVE_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))  # native byte order only


def _level(tag: str, compress_level: Any) -> int:
    if (
        isinstance(compress_level, bool)
        or not isinstance(compress_level, int | np.integer)
        or not 0 <= compress_level <= 9
    ):
        raise ValueError(f"tag {tag!r}: compress_level must be an int in 0..9, got {compress_level!r}")
    return int(compress_level)


def _positive(tag: str, name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"tag {tag!r}: {name} must be a positive number, got {type(value).__name__}") from None
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"tag {tag!r}: {name} must be a positive finite number, got {value!r}")
    return number


def _image(tag: str, array: np.ndarray, fmt: str, level: int, summary_format: str = "tensor") -> Any:
    """Background side of ``add_image``/``add_images``/``add_figure`` (:func:`anyboard.summary.image.image`).

    Its queued arguments name the format only when it is not ``"tensor"`` (see :func:`_image_args`).
    """
    return _image_summary(tag, array, fmt, level, summary_format)


def _image_args(tag: str, array: np.ndarray, fmt: str, level: int, summary_format: str) -> tuple[Any, ...]:
    return (tag, array, fmt, level) if summary_format == "tensor" else (tag, array, fmt, level, summary_format)


def _check_gif_delay(tag: str, array: np.ndarray, fmt: str, rate: float, fps: Any) -> None:
    """Refuse an ``fps`` whose frame delay a GIF cannot store (16 bits of 10 ms units).

    Pillow merges consecutive identical frames into one frame of the summed delay, so a
    run of identical frames counts as one long frame.
    """
    delay = frame_duration_ms(rate) if rate >= MIN_FPS / 2 else MAX_FRAME_MS + 1
    if delay > MAX_FRAME_MS:
        raise ValueError(
            f"tag {tag!r}: fps must be >= {MIN_FPS:.4g} (a GIF frame lasts at most {MAX_FRAME_MS / 1000:g} s), got {fps!r}"
        )
    frames = np.moveaxis(array, fmt.index("T"), 0)
    if delay * frames.shape[0] <= MAX_FRAME_MS:
        return
    run = longest = 1
    for i in range(1, frames.shape[0]):
        run = run + 1 if np.array_equal(frames[i], frames[i - 1]) else 1
        longest = max(longest, run)
    if delay * longest > MAX_FRAME_MS:
        raise ValueError(
            f"tag {tag!r}: {longest} identical frames in a row at fps={fps!r} make one GIF frame of "
            f"{delay * longest / 1000:g} s, more than a GIF can store ({MAX_FRAME_MS / 1000:g} s); raise fps"
        )


def _render_figure(tag: str, figure: Any) -> np.ndarray:
    """RGBA uint8 ``[H, W, 4]`` pixels of a matplotlib figure, drawn with Agg on this thread."""
    if not (hasattr(figure, "canvas") and hasattr(figure, "set_canvas")):
        raise TypeError(f"tag {tag!r}: expected a matplotlib Figure (or a list of them), got {type(figure).__name__}")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    original = figure.canvas
    canvas = original if isinstance(original, FigureCanvasAgg) else FigureCanvasAgg(figure)
    try:
        canvas.draw()
        return np.array(canvas.buffer_rgba(), dtype=np.uint8, copy=True)
    finally:
        if canvas is not original:
            figure.set_canvas(original)


def float_to_uint8(x: np.ndarray) -> np.ndarray:
    """:func:`anyboard.imaging.to_uint8` of a float array, with one temporary (same bytes).

    ``x * 255`` (float16 widened to float32), clipped to ``[0, 255]``, rounded
    half to even, NaN set to 0, cast: the rule's steps, in place. A C-contiguous,
    aligned, native float32/float64 array goes through the compiled helper
    instead (one fused pass, GIL released; about twice as fast).
    """
    if _native_to_uint8 is not None and x.dtype in _NATIVE_FLOATS and x.flags.c_contiguous and x.flags.aligned:
        out = np.empty(x.shape, dtype=np.uint8)
        _native_to_uint8(x, out)
        return out
    # Huge values become inf, then 255, and NaN (signalling ones too) 0, as the rule says.
    # dtype= names the type, not x's dtype: a byte-swapped x is computed in native order.
    with np.errstate(over="ignore", invalid="ignore"):
        t = np.multiply(x, x.dtype.type(255.0), dtype=np.float32 if x.dtype.itemsize < 4 else x.dtype.type)
    np.clip(t, 0, 255, out=t)
    np.rint(t, out=t)
    nan = np.isnan(t)
    if nan.any():
        t[nan] = 0
    result: np.ndarray = t.astype(np.uint8)
    return result


class Methods(MethodsBase):
    """``add_image``, ``add_images``, ``add_image_with_boxes``, ``add_figure``, ``add_video``."""

    def _emit_pixels(
        self,
        tag: str,
        builder: Any,
        args: tuple[Any, ...],
        array: np.ndarray,
        fmt: str,
        global_step: Any,
        walltime: Any,
    ) -> None:
        """Queue an image or video ``builder`` (a pure function of ``args``, whose pixels are ``array`` laid out as ``fmt``).

        The declared bytes cover the snapshot and what encoding it allocates (grid, PNG/GIF
        buffers). Independent: while a caller waits, several are encoded at once
        (``anyboard.io.stream.parallel_encoder``).
        """
        nbytes = array.nbytes + _encode_bytes(array, fmt)
        self._emit(tag, builder, args, global_step, walltime, nbytes=nbytes, independent=True)

    def _image_snapshot(
        self, tag: str, x: Any, dataformats: Any, letters: str, *, copied: bool = False, as_uint8: bool = False
    ) -> tuple[np.ndarray, str]:
        if copied:
            array = x
        else:
            array = self._array(tag, x, copy=False)
            if not (as_uint8 and array.dtype.kind == "f" and array.dtype.itemsize in (2, 4, 8)):
                array = np.array(array, copy=True)  # the caller may change its array after this call
        fmt = parse_layout(tag, dataformats, letters, array.ndim, array.shape)
        check_range(tag, array)
        if not copied and array.dtype.kind == "f" and as_uint8:
            # The snapshot of a float image is its uint8 conversion: a quarter of the
            # bytes of a float32 copy (fresh pages cost more than the arithmetic).
            array = float_to_uint8(array)
        return array, fmt

    def add_image(
        self,
        tag: str,
        img_tensor: Any = _MISSING,
        global_step: Any = None,
        walltime: Any = None,
        dataformats: str = "CHW",
        *,
        image: Any = _MISSING,
        compress_level: int = DEFAULT_COMPRESS_LEVEL,
    ) -> None:
        """Log one image (a batch is logged as one grid image).

        Args:
            tag: the tag.
            img_tensor: pixels laid out as ``dataformats``: ``CHW`` (default),
                ``HWC``, ``HW``, or a batch ``NCHW``/``NHWC`` (any order of those
                letters, case-insensitive); 1, 3 or 4 channels. ``image=`` is
                MXBoard's spelling; with it and the default ``dataformats`` the
                layout follows the rank, as MXBoard did (``HW``, ``CHW``, ``NCHW``).
            global_step: int step (default 0).
            walltime: seconds since the epoch (default now).
            dataformats: the layout of ``img_tensor``.
            compress_level: PNG zlib level 0-9 (default 6).

        Pixel range rules: :mod:`anyboard.imaging` (uint8 as is; floats
        ``[0, 1]`` scaled by 255, clipped, rounded; other ints must be in
        ``[0, 255]``). On disk: :mod:`anyboard.summary.image`.

        Raises:
            ValueError: bad layout, channel count or integer range (the message
                names the tag, the expected and the received shape).
            TypeError: a non-numeric array.
        """
        tag = self._tag(tag)
        tag = summary_tag(self._file_layout, tag)
        if img_tensor is _MISSING:
            if image is _MISSING:
                raise TypeError(f"tag {tag!r}: add_image needs img_tensor (or image=)")
            img_tensor = self._array(tag, image)
            if dataformats == "CHW":
                dataformats = {2: "HW", 4: "NCHW"}.get(img_tensor.ndim, "CHW")
        level = _level(tag, compress_level)
        copied = image is not _MISSING
        array, fmt = self._image_snapshot(tag, img_tensor, dataformats, "NCHW", copied=copied, as_uint8=True)
        self._emit_pixels(
            tag, _image, _image_args(tag, array, fmt, level, self._summary_format), array, fmt, global_step, walltime
        )

    def add_images(
        self,
        tag: str,
        img_tensor: Any,
        global_step: Any = None,
        walltime: Any = None,
        dataformats: str = "NCHW",
        *,
        compress_level: int = DEFAULT_COMPRESS_LEVEL,
    ) -> None:
        """Log a batch of images as one grid (``min(N, 8)`` columns, no padding).

        ``img_tensor`` is ``NCHW`` (default) or ``NHWC`` (any order of those
        letters), or a list of same-shape images, each laid out as
        ``dataformats`` without ``N`` (``"CHW"`` and ``"NCHW"`` both mean a list
        of CHW images). Otherwise as :meth:`add_image`.
        """
        tag = self._tag(tag)
        tag = summary_tag(self._file_layout, tag)
        level = _level(tag, compress_level)
        copied = False
        if isinstance(img_tensor, list | tuple):
            if not img_tensor:
                raise ValueError(f"tag {tag!r}: add_images got an empty list of images")
            if not isinstance(dataformats, str):
                raise TypeError(
                    f"tag {tag!r}: dataformats must be a str such as 'NCHW', got {type(dataformats).__name__}"
                )
            fmt = dataformats.upper()
            fmt = fmt if "N" in fmt else "N" + fmt
            parts = [self._array(tag, x, copy=False) for x in img_tensor]
            shapes = {p.shape for p in parts}
            if len(shapes) != 1:
                raise ValueError(f"tag {tag!r}: add_images needs images of one shape, got shapes {sorted(shapes)}")
            if parts[0].ndim != len(fmt) - 1:
                raise ValueError(
                    f"tag {tag!r}: dataformats {dataformats!r} expects list items of rank {len(fmt) - 1}, "
                    f"got shape {parts[0].shape}"
                )
            img_tensor = np.stack(parts, axis=fmt.index("N"))  # a new array: the snapshot
            dataformats, copied = fmt, True
        array, fmt = self._image_snapshot(tag, img_tensor, dataformats, "NCHW", copied=copied, as_uint8=True)
        self._emit_pixels(
            tag, _image, _image_args(tag, array, fmt, level, self._summary_format), array, fmt, global_step, walltime
        )

    def add_image_with_boxes(
        self,
        tag: str,
        img_tensor: Any,
        box_tensor: Any,
        global_step: Any = None,
        walltime: Any = None,
        rescale: float = 1,
        dataformats: str = "CHW",
        labels: list[str] | None = None,
        *,
        compress_level: int = DEFAULT_COMPRESS_LEVEL,
    ) -> None:
        """Log one image with bounding boxes drawn on it.

        Args:
            img_tensor: one image laid out as ``dataformats`` (``CHW``, ``HWC``, ``HW``).
            box_tensor: ``[K, 4]`` (or ``[4]``) boxes ``(x1, y1, x2, y2)`` in
                pixels; drawn as red 2-px outlines.
            rescale: resize the drawn image by this factor (Lanczos; 1 = none).
            labels: K strings, written in white on red above each box.

        torch's positional order is used; tensorboardX's (``dataformats``
        sixth, then ``labels``) is recognised when a str is passed there.
        """
        tag = self._tag(tag)
        if isinstance(rescale, str):  # tensorboardX positional order
            if isinstance(dataformats, list | tuple):
                labels = list(dataformats)
            rescale, dataformats = 1, rescale
        scale = _positive(tag, "rescale", rescale)
        level = _level(tag, compress_level)
        array, fmt = self._image_snapshot(tag, img_tensor, dataformats, "CHW")
        sides = dict(zip(fmt, array.shape))
        width, height = rescaled_size(sides.get("W", 1), sides.get("H", 1), scale)
        if width * height * 4 >= MAX_RESCALED_BYTES:
            raise ValueError(
                f"tag {tag!r}: rescale={rescale!r} would draw a {width:_} x {height:_} image; "
                f"the rescaled image must have fewer than {MAX_RESCALED_BYTES // 4:_} pixels (2 GiB as RGBA)"
            )
        boxes = self._array(tag, box_tensor)
        if boxes.dtype.kind not in "biuf":
            raise TypeError(f"tag {tag!r}: box_tensor must be numeric, got dtype {boxes.dtype}")
        if boxes.shape == (4,):
            boxes = boxes[None]
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(
                f"tag {tag!r}: box_tensor must have shape [K, 4] (x1, y1, x2, y2), got shape {boxes.shape}"
            )
        boxes = boxes.astype(np.float64)
        if not np.isfinite(boxes).all():
            raise ValueError(f"tag {tag!r}: box_tensor must hold finite coordinates")
        if labels is not None:
            if isinstance(labels, str):
                labels = [labels]
            labels = list(labels)
            if len(labels) != len(boxes) or not all(isinstance(s, str) for s in labels):
                raise ValueError(
                    f"tag {tag!r}: labels must be a list of {len(boxes)} str (one per box), got {len(labels)} items"
                )
            longest = max(map(len, labels), default=0)
            if longest > MAX_LABEL_CHARS:  # Pillow draws no longer text (it failed on the writer thread)
                raise ValueError(
                    f"tag {tag!r}: a box label has {longest:_} characters; at most {MAX_LABEL_CHARS:_} can be drawn"
                )
        args = (tag, array, fmt, boxes, labels, scale, level, self._summary_format)
        nbytes = array.nbytes + _encode_bytes(array, fmt, scale)
        self._emit(tag, _image_with_boxes, args, global_step, walltime, nbytes=nbytes)

    def add_figure(
        self,
        tag: str,
        figure: Any,
        global_step: Any = None,
        close: bool = True,
        walltime: Any = None,
        *,
        compress_level: int = DEFAULT_COMPRESS_LEVEL,
    ) -> None:
        """Log a matplotlib figure (or a list of same-size figures, as one grid) as an RGBA PNG.

        The figure is drawn with matplotlib's Agg renderer on the caller's
        thread (its own canvas is restored afterwards); PNG encoding runs in
        the background. ``close=True`` closes it with ``pyplot.close``.
        """
        tag = self._tag(tag)
        tag = summary_tag(self._file_layout, tag)
        level = _level(tag, compress_level)
        figures = list(figure) if isinstance(figure, list | tuple) else [figure]
        if not figures:
            raise ValueError(f"tag {tag!r}: add_figure got an empty list of figures")
        pixels = [_render_figure(tag, f) for f in figures]
        shapes = {p.shape for p in pixels}
        if len(shapes) != 1:
            raise ValueError(
                f"tag {tag!r}: figures in one add_figure call must have one size, got pixel shapes {sorted(shapes)}"
            )
        if close and "matplotlib.pyplot" in sys.modules:
            plt = sys.modules["matplotlib.pyplot"]
            for f in figures:
                plt.close(f)
        array = pixels[0] if len(pixels) == 1 else np.stack(pixels)
        fmt = "HWC" if len(pixels) == 1 else "NHWC"
        self._emit_pixels(
            tag, _image, _image_args(tag, array, fmt, level, self._summary_format), array, fmt, global_step, walltime
        )

    def add_video(
        self,
        tag: str,
        vid_tensor: Any,
        global_step: Any = None,
        fps: float = 4,
        walltime: Any = None,
        dataformats: str = "NTCHW",
    ) -> None:
        """Log a video (or a batch of videos, as one grid) as a looping animated GIF.

        ``vid_tensor`` is laid out as ``dataformats``: ``NTCHW`` (default),
        ``NTHWC``, ``TCHW``, ``THWC``, ``THW``... (``T`` time, ``H``, ``W``
        required); 1, 3 or 4 channels; pixel range rules as images. ``fps``
        sets each frame's delay. On disk: :mod:`anyboard.summary.video`.
        """
        tag = self._tag(tag)
        tag = summary_tag(self._file_layout, tag)
        rate = _positive(tag, "fps", fps)
        array, fmt = self._image_snapshot(tag, vid_tensor, dataformats, "NTCHW")
        if "T" not in fmt:
            raise ValueError(
                f"tag {tag!r}: video dataformats must include a time axis 'T' (e.g. 'NTCHW'), got {dataformats!r}"
            )
        _check_gif_delay(tag, array, fmt, rate, fps)
        sides = dict(zip(fmt, array.shape))
        rows, cols = video_grid(sides.get("N", 1))
        height, width = rows * sides["H"], cols * sides["W"]
        if max(height, width) > MAX_GIF_SIDE:
            raise ValueError(
                f"tag {tag!r}: the video's frames would be {width:_} x {height:_} px (a batch of "
                f"{sides.get('N', 1)} is laid out {rows} x {cols}); a GIF holds at most {MAX_GIF_SIDE:_} px each way"
            )
        self._emit_pixels(tag, _video, (tag, array, fmt, rate, self._summary_format), array, fmt, global_step, walltime)
