"""Image summaries (``add_image``, ``add_images``, ``add_image_with_boxes``, ``add_figure``).

On disk, by ``SummaryWriter(summary_format=...)``:

- ``"compat"`` (default), the peers' form: ``Summary.Value.image``, a
  ``Summary.Image{height, width, colorspace (the channel count: 1, 3 or 4),
  encoded_image_string (the PNG)}`` without metadata. The legacy
  ``EventAccumulator`` (``Images``) and tbparse (``.images``) read it as they
  read the peers' files; both TensorBoard loaders convert it to the v2 form.
- ``"tensor"``: TensorBoard's v2 encoding, a rank-1 ``DT_STRING`` tensor of
  shape ``[3]``, ``string_val = [b"<width>", b"<height>", <png bytes>]`` (width
  and height as ASCII decimals), with plugin ``images`` metadata whose content
  is ``ImagePluginData(version=0)``.

Both TensorBoard loaders serve either in the images dashboard; ``samples`` is 1
(a batch is one grid image, as the peers write it).

The PNG is written by Pillow at ``compress_level`` (0-9, default 6, Pillow's
own default; 1 is about twice as fast and a little larger):

- 1 channel: 8-bit grayscale (``L``), not replicated to RGB (a third of the
  work and of the size); 3 channels: ``RGB``; 4 channels: ``RGBA``.
- Pixel values follow the range rules of :mod:`anyboard.imaging`.
- A batch ``N > 1`` becomes one grid, ``min(N, 8)`` columns, row-major, no
  padding, empty cells black (as the peers).
- The image is never resized, except by ``rescale != 1`` in
  :func:`image_with_boxes` (Lanczos; the stored width and height are the
  rescaled ones).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

from anyboard.imaging import tile, to_layout, to_uint8
from anyboard.proto.plugins_pb2 import ImagePluginData
from anyboard.proto.summary_pb2 import Summary
from anyboard.proto.tensor_pb2 import TensorProto
from anyboard.proto.types_pb2 import DT_STRING
from anyboard.summary.metadata import metadata

PLUGIN_NAME = "images"
DEFAULT_COMPRESS_LEVEL = 6
_CONTENT = ImagePluginData(version=0).SerializeToString()
BOX_COLOR = (255, 0, 0)
BOX_WIDTH = 2


def image_summary(
    tag: str, width: int, height: int, blobs: Sequence[bytes], channels: int = 3, summary_format: str = "tensor"
) -> Summary:
    """Wrap encoded images (PNG/GIF bytes, all ``width`` x ``height``) as an image ``Summary``.

    ``summary_format`` ``"compat"``: one ``Summary.Image`` (``blobs`` must hold one image) with
    ``colorspace=channels``; ``"tensor"``: the v2 tensor (module doc).
    """
    if summary_format == "compat":
        if len(blobs) != 1:
            raise ValueError(f"tag {tag!r}: the compat image encoding holds one image, got {len(blobs)}")
        img = Summary.Image(
            height=int(height), width=int(width), colorspace=int(channels), encoded_image_string=blobs[0]
        )
        return Summary(value=[Summary.Value(tag=tag, image=img)])
    t = TensorProto(dtype=DT_STRING)
    t.tensor_shape.dim.add().size = 2 + len(blobs)
    t.string_val.extend([str(int(width)).encode(), str(int(height)).encode(), *blobs])
    return Summary(value=[Summary.Value(tag=tag, metadata=metadata(PLUGIN_NAME, _CONTENT), tensor=t)])


MAX_RESCALED_BYTES = 1 << 31  # RGBA bytes of a rescaled image: more could not be one event (2 GiB)


def rescaled_size(width: int, height: int, rescale: float) -> tuple[int, int]:
    """``(width, height)`` of an image resized by ``rescale`` (each side at least 1 px)."""
    return max(1, round(width * rescale)), max(1, round(height * rescale))


def encode_bytes(array: np.ndarray, fmt: str, scale: float = 1.0) -> int:
    """Bytes the writer thread allocates to encode ``array`` (axes named by ``fmt``) as an image or
    video event: the uint8 conversion, the grid, Pillow's copy, the PNG/GIF output and its copy.

    A batch of ``N`` images makes a grid of at most ``2 * N`` cells; videos pad ``N`` to a power
    of two. ``scale``: ``rescale`` of :func:`image_with_boxes` (a resized copy).
    """
    sizes: dict[str, int] = dict(zip(fmt, array.shape))
    n, t = sizes.get("N", 1), sizes.get("T", 1)
    cells = n if n <= 8 else -(-n // 8) * 8
    if "T" in sizes:
        cells = 1 << max(0, (n - 1).bit_length())
    out = cells * t * sizes.get("H", 1) * sizes.get("W", 1) * max(3, sizes.get("C", 1))
    conv = array.size if array.dtype != np.uint8 else 0
    resized = int(out * scale * scale) if scale != 1 else 0
    return conv + 4 * out + 2 * resized + 65536


def _pil(hwc: np.ndarray):  # type: ignore[no-untyped-def]
    from PIL import Image

    hwc = np.ascontiguousarray(hwc)
    return Image.fromarray(hwc[:, :, 0] if hwc.shape[2] == 1 else hwc)


def encode_png(hwc: np.ndarray, compress_level: int = DEFAULT_COMPRESS_LEVEL) -> bytes:
    """PNG bytes of a uint8 ``[H, W, C]`` image (C in 1, 3, 4; see module doc)."""
    buf = io.BytesIO()
    _pil(hwc).save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


def to_hwc_uint8(array: np.ndarray, fmt: str) -> np.ndarray:
    """One uint8 ``[H, W, C]`` image from ``array`` laid out as ``fmt`` (a batch becomes a grid)."""
    return tile(to_uint8(to_layout(array, fmt, "NHWC")))


def image(
    tag: str,
    array: np.ndarray,
    fmt: str = "CHW",
    compress_level: int = DEFAULT_COMPRESS_LEVEL,
    summary_format: str = "compat",
) -> Summary:
    """Return an image ``Summary`` of ``array`` whose axes are named by ``fmt``.

    Args:
        tag: the tag.
        array: pixels, any layout of ``N``/``C``/``H``/``W`` named by ``fmt``
            (validated by the caller); uint8, bool, float or int in [0, 255].
        fmt: upper-case layout string, e.g. ``"CHW"``, ``"HWC"``, ``"HW"``, ``"NCHW"``.
        compress_level: PNG zlib level 0-9.
        summary_format: ``"compat"`` or ``"tensor"`` (module doc).
    """
    hwc = to_hwc_uint8(array, fmt)
    png = encode_png(hwc, compress_level)
    return image_summary(tag, hwc.shape[1], hwc.shape[0], [png], hwc.shape[2], summary_format)


def draw_boxes(hwc: np.ndarray, boxes: np.ndarray, labels: Sequence[str] | None):  # type: ignore[no-untyped-def]
    """A Pillow RGB(A) image of ``hwc`` with ``boxes`` ``[K, 4]`` (x1, y1, x2, y2, pixels; finite) drawn in red.

    Each label sits in a red box above its box (at the top of the image where it does not fit).
    Pillow's C code fails on coordinates past a C long (a box at 9.2e18 px): what is drawn is
    laid out from the given coordinates, and only then are coordinates outside the image moved
    to just outside it (what shows is the same); a label wholly outside is not drawn.
    """
    from PIL import ImageDraw

    img = _pil(hwc)
    if img.mode == "L":
        img = img.convert("RGB")
    draw = ImageDraw.Draw(img)
    width, height = img.size
    margin = BOX_WIDTH + 1

    def near(x0: float, y0: float, x1: float, y1: float) -> list[float]:
        """The rectangle with its sides outside the image moved to ``margin`` px outside it."""
        return [
            min(max(v, -margin), side + margin) for v, side in ((x0, width), (y0, height), (x1, width), (y1, height))
        ]

    for i, (x1, y1, x2, y2) in enumerate(boxes.tolist()):
        left, right = sorted((x1, x2))
        top, bottom = sorted((y1, y2))
        draw.rectangle(near(left, top, right, bottom), outline=BOX_COLOR, width=BOX_WIDTH)
        if labels is not None and labels[i]:
            tl, tt, tr, tb = draw.textbbox((0, 0), labels[i])
            tw, th = tr - tl, tb - tt
            y0 = max(top - th - 4, 0)
            if left > width + margin or left + tw + 4 < -margin or y0 > height + margin:
                continue  # the label lies wholly outside the image (with a margin for Pillow's rounding)
            draw.rectangle(near(left, y0, left + tw + 4, y0 + th + 4), fill=BOX_COLOR)
            draw.text((left + 2 - tl, y0 + 2 - tt), labels[i], fill=(255, 255, 255))
    return img


def image_with_boxes(
    tag: str,
    array: np.ndarray,
    fmt: str,
    boxes: np.ndarray,
    labels: Sequence[str] | None = None,
    rescale: float = 1.0,
    compress_level: int = DEFAULT_COMPRESS_LEVEL,
    summary_format: str = "compat",
) -> Summary:
    """Return an image ``Summary`` of one image with bounding boxes drawn on it.

    ``boxes`` is ``[K, 4]`` ``(x1, y1, x2, y2)`` in pixels of the original
    image; red outlines 2 px wide; ``labels`` (K str or None) in white on a red
    box above each. A grayscale image is drawn as RGB. With ``rescale != 1``
    the drawn image is resized by that factor (Lanczos).
    """
    from PIL import Image

    img = draw_boxes(to_hwc_uint8(array, fmt), boxes, labels)
    if rescale != 1:
        img = img.resize(rescaled_size(img.width, img.height, rescale), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=compress_level)
    return image_summary(tag, img.width, img.height, [buf.getvalue()], len(img.getbands()), summary_format)
