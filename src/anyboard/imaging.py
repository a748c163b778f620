"""Pure NumPy helpers shared by images, video and :func:`anyboard.utils.make_grid`.

No I/O, no Pillow, no frameworks: layout strings (``dataformats``), the pixel
range rules, and the two grid layouts.

Layout strings name the axes of an array, e.g. ``"CHW"``: ``N`` batch, ``T``
time (video), ``C`` channels, ``H`` height, ``W`` width. Any order is
accepted, case-insensitively, each letter once; ``H`` and ``W`` are required,
a missing ``N``/``T``/``C`` axis is inserted with size 1.

Range rules (:func:`check_range` on the caller, :func:`to_uint8` later):

- ``uint8``: used as is.
- ``bool``: ``False`` -> 0, ``True`` -> 255.
- floating point (float16/32/64; bfloat16 arrives as float32): the range
  ``[0, 1]`` maps to ``[0, 255]``: ``x * 255``, clipped to ``[0, 255]`` (never
  wrapped: 1.5 -> 255, -0.5 -> 0), rounded to nearest; NaN -> 0.
- other integer types: values must already lie in ``[0, 255]`` and are taken
  as is (int64 200 -> 200); anything outside is a ``ValueError`` naming the
  range found, never saturated or wrapped.
- anything else (complex, strings, objects) is a ``TypeError``.
"""

from __future__ import annotations

import math

import numpy as np

CHANNELS = (1, 3, 4)
_EXAMPLES = ("CHW", "HWC", "HW", "NCHW", "NHWC", "NTCHW", "NTHWC", "TCHW")


def parse_layout(tag: str, dataformats: object, letters: str, ndim: int, shape: tuple[int, ...]) -> str:
    """Validate ``dataformats`` (upper-cased) against an array of shape ``shape``.

    ``letters`` are the axis letters allowed (e.g. ``"NCHW"``). Raises
    ``ValueError`` naming the tag, the format and the shape received.
    """
    if not isinstance(dataformats, str):
        raise TypeError(f"tag {tag!r}: dataformats must be a str such as 'CHW', got {type(dataformats).__name__}")
    fmt = dataformats.upper()
    if len(set(fmt)) != len(fmt) or not set(fmt) <= set(letters) or not {"H", "W"} <= set(fmt):
        examples = ", ".join(repr(e) for e in _EXAMPLES if set(e) <= set(letters))
        raise ValueError(
            f"tag {tag!r}: invalid dataformats {dataformats!r}; expected distinct letters from "
            f"{letters!r} including 'H' and 'W' (e.g. {examples})"
        )
    if len(fmt) != ndim:
        raise ValueError(
            f"tag {tag!r}: dataformats {dataformats!r} expects a {len(fmt)}-D array, "
            f"got shape {tuple(shape)} ({ndim}-D)"
        )
    if "C" in fmt and shape[fmt.index("C")] not in CHANNELS:
        raise ValueError(
            f"tag {tag!r}: expected 1, 3 or 4 channels on axis 'C' of dataformats {dataformats!r}, "
            f"got shape {tuple(shape)}"
        )
    if any(size == 0 for size in shape):
        raise ValueError(f"tag {tag!r}: expected a non-empty image, got shape {tuple(shape)}")
    return fmt


def to_layout(array: np.ndarray, fmt: str, target: str) -> np.ndarray:
    """View ``array`` (axes named by ``fmt``) with axes ``target``, inserting missing ones."""
    for letter in target:
        if letter not in fmt:
            array = array[..., None]
            fmt += letter
    return np.transpose(array, [fmt.index(letter) for letter in target])


def check_range(tag: str, array: np.ndarray) -> None:
    """Raise unless ``array``'s dtype and values follow the range rules (module doc).

    O(1) for uint8, bool and floats; integer types other than uint8 are
    scanned once for their min and max.
    """
    kind = array.dtype.kind
    if array.dtype == np.uint8 or kind in "bf":
        return
    if kind in "iu":
        lo, hi = int(array.min()), int(array.max())
        if lo < 0 or hi > 255:
            raise ValueError(
                f"tag {tag!r}: integer ({array.dtype}) pixel values must lie in [0, 255], got values in "
                f"[{lo}, {hi}]; pass uint8, or floats in [0, 1]"
            )
        return
    raise TypeError(f"tag {tag!r}: expected a real numeric or bool image array, got dtype {array.dtype}")


def to_uint8(array: np.ndarray) -> np.ndarray:
    """``array`` as uint8 by the range rules (already checked by :func:`check_range`)."""
    if array.dtype == np.uint8:
        return array
    kind = array.dtype.kind
    if kind == "b":
        scaled: np.ndarray = array.astype(np.uint8) * np.uint8(255)
        return scaled
    if kind in "iu":
        return array.astype(np.uint8)
    x = array.astype(np.float32) if array.dtype.itemsize < 4 else array
    with np.errstate(over="ignore", invalid="ignore"):  # huge values become inf, then 255 by the clip
        x = x * x.dtype.type(255.0)
    np.clip(x, 0, 255, out=x)
    np.rint(x, out=x)
    out: np.ndarray = np.nan_to_num(x, nan=0.0).astype(np.uint8)
    return out


def tile(nhwc: np.ndarray, ncols: int | None = None) -> np.ndarray:
    """Lay out a batch ``[N, H, W, C]`` row-major as one ``[rows*H, ncols*W, C]`` image.

    The peers' grid: ``ncols = min(N, 8)``, no padding, empty cells 0.
    """
    n, h, w, c = nhwc.shape
    if n == 1:
        single: np.ndarray = nhwc[0]
        return single
    ncols = min(n, 8) if ncols is None else ncols
    nrows = math.ceil(n / ncols)
    if nrows * ncols != n:
        pad = np.zeros((nrows * ncols - n, h, w, c), nhwc.dtype)
        nhwc = np.concatenate([nhwc, pad])
    grid: np.ndarray = nhwc.reshape(nrows, ncols, h, w, c).transpose(0, 2, 1, 3, 4).reshape(nrows * h, ncols * w, c)
    return grid


def video_tile(nthwc: np.ndarray) -> np.ndarray:
    """Lay out a video batch ``[B, T, H, W, C]`` as frames ``[T, rows*H, cols*W, C]``.

    As the peers do: ``B`` is zero-padded up to a power of two ``P``, then
    ``rows = 2 ** ((B.bit_length() - 1) // 2)`` and ``cols = P // rows``.
    """
    b, t, h, w, c = nthwc.shape
    if b & (b - 1):
        pad = np.zeros(((1 << b.bit_length()) - b, t, h, w, c), nthwc.dtype)
        nthwc = np.concatenate([nthwc, pad])
    rows, cols = video_grid(b)
    grid = nthwc.reshape(rows, cols, t, h, w, c).transpose(2, 0, 3, 1, 4, 5)
    frames: np.ndarray = grid.reshape(t, rows * h, cols * w, c)
    return frames


def video_grid(b: int) -> tuple[int, int]:
    """``(rows, cols)`` of :func:`video_tile`'s grid for a batch of ``b`` videos."""
    padded = b if not b & (b - 1) else 1 << b.bit_length()
    rows = 1 << ((b.bit_length() - 1) // 2)
    return rows, padded // rows


def padded_grid(
    nchw: np.ndarray,
    nrow: int = 8,
    padding: int = 2,
    normalize: bool = False,
    value_range: tuple[float, float] | None = None,
    scale_each: bool = False,
    pad_value: float = 0,
) -> np.ndarray:
    """torchvision's ``make_grid`` on a NumPy ``[N, C, H, W]`` batch; returns ``[C, H', W']``.

    See :func:`anyboard.utils.make_grid` for the semantics.
    """
    x = nchw
    if x.shape[1] == 1:
        x = np.concatenate([x, x, x], axis=1)
    if normalize:
        x = x.astype(np.float64 if x.dtype == np.float64 else np.float32)

        def norm(t: np.ndarray) -> np.ndarray:
            lo, hi = (float(t.min()), float(t.max())) if value_range is None else value_range
            scaled: np.ndarray = (np.clip(t, lo, hi) - lo) / max(hi - lo, 1e-5)
            return scaled

        x = np.stack([norm(img) for img in x]) if scale_each else norm(x)
        x = x.astype(np.float64 if nchw.dtype == np.float64 else np.float32)
    n, c, h, w = x.shape
    if n == 1:
        single: np.ndarray = x[0].copy()
        return single
    xmaps = min(nrow, n)
    ymaps = math.ceil(n / xmaps)
    cell_h, cell_w = h + padding, w + padding
    grid = np.full((c, cell_h * ymaps + padding, cell_w * xmaps + padding), pad_value, dtype=x.dtype)
    for k in range(n):
        y, col = divmod(k, xmaps)
        top, left = y * cell_h + padding, col * cell_w + padding
        grid[:, top : top + h, left : left + w] = x[k]
    return grid
