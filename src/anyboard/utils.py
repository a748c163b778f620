"""Utilities users of the peers expect: :func:`make_grid` (torchvision's), MXBoard's :func:`make_image_grid`
and tensorboardX's :func:`figure_to_image`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from anyboard.adapters import to_numpy
from anyboard.imaging import padded_grid

__all__ = ["figure_to_image", "make_grid", "make_image_grid"]


def _is_torch(x: Any) -> bool:
    return type(x).__module__.partition(".")[0] == "torch"


def make_grid(
    tensor: Any,
    nrow: int = 8,
    padding: int = 2,
    normalize: bool = False,
    value_range: tuple[float, float] | None = None,
    scale_each: bool = False,
    pad_value: float = 0,
) -> Any:
    """Arrange a batch of images in a grid, with torchvision's semantics.

    Args:
        tensor: a ``[B, C, H, W]`` batch, a list of same-shape ``[C, H, W]``
            images, one ``[C, H, W]`` image or an ``[H, W]`` image; NumPy,
            torch, MXNet or anything :func:`anyboard.adapters.to_numpy` reads.
            One channel is replicated to three.
        nrow: images per row (the last row may be shorter).
        padding: pixels between images and around the grid.
        normalize: shift and scale the values into ``[0, 1]``: by
            ``value_range=(lo, hi)`` if given (values clipped to it first),
            otherwise by the min and max of the whole batch, or of each image
            when ``scale_each``. Integer input becomes float32 then.
        value_range: see ``normalize``.
        scale_each: normalize each image by its own min and max.
        pad_value: the value of the padding pixels.

    Returns:
        A ``[C, rows * (H + padding) + padding, ncols * (W + padding) + padding]``
        array with ``ncols = min(nrow, B)``, ``rows = ceil(B / ncols)``, empty
        cells filled with ``pad_value``; a batch of one image is returned as
        that image, without padding (as torchvision). A torch tensor in gives
        a torch tensor (same device and dtype unless normalized), anything else a
        NumPy array.
    """
    if isinstance(value_range, list):
        value_range = (value_range[0], value_range[1])
    if value_range is not None and (not isinstance(value_range, tuple) or len(value_range) != 2):
        raise TypeError(f"value_range must be a (min, max) tuple, got {value_range!r}")
    if not isinstance(nrow, int | np.integer) or nrow < 1:
        raise ValueError(f"nrow must be a positive int, got {nrow!r}")
    if not isinstance(padding, int | np.integer) or padding < 0:
        raise ValueError(f"padding must be a non-negative int, got {padding!r}")
    sample = tensor[0] if isinstance(tensor, list | tuple) and tensor else tensor
    torch_in = _is_torch(sample)
    if isinstance(tensor, list | tuple):
        if not tensor:
            raise ValueError("make_grid got an empty list of images")
        parts = [np.asarray(to_numpy(t)) for t in tensor]
        if len({p.shape for p in parts}) != 1:
            raise ValueError(f"make_grid needs images of one shape, got {sorted({p.shape for p in parts})}")
        array = np.stack(parts)
    else:
        array = np.asarray(to_numpy(tensor))
    if array.ndim == 2:
        array = array[None]
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4:
        raise ValueError(f"make_grid expects [B, C, H, W], [C, H, W] or [H, W] images, got shape {array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"make_grid got an empty batch, shape {array.shape}")
    grid = padded_grid(array, int(nrow), int(padding), normalize, value_range, scale_each, pad_value)
    if torch_in:
        import torch

        out = torch.from_numpy(np.ascontiguousarray(grid))
        dtype = sample.dtype if not normalize or sample.dtype.is_floating_point else out.dtype
        return out.to(device=sample.device, dtype=dtype)
    return grid


def make_image_grid(
    tensor: Any,
    nrow: int = 8,
    padding: int = 2,
    normalize: bool = False,
    norm_range: Sequence[float] | None = None,
    scale_each: bool = False,
    pad_value: float = 0,
) -> Any:
    """MXBoard's name for :func:`make_grid` (``norm_range`` is its ``value_range``)."""
    value_range = None if norm_range is None else (norm_range[0], norm_range[1])
    return make_grid(tensor, nrow, padding, normalize, value_range, scale_each, pad_value)


def _figure_pixels(figure: Any, close: bool) -> np.ndarray:
    """``[3, H, W]`` uint8 RGB of one matplotlib figure, drawn with Agg (its own canvas is put back)."""
    if not (hasattr(figure, "canvas") and hasattr(figure, "set_canvas")):
        raise TypeError(
            f"figure_to_image: expected a matplotlib Figure (or a list of them), got {type(figure).__name__}"
        )
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    original = figure.canvas
    canvas = original if isinstance(original, FigureCanvasAgg) else FigureCanvasAgg(figure)
    try:
        canvas.draw()
        rgba = np.asarray(canvas.buffer_rgba(), dtype=np.uint8)
        chw = np.ascontiguousarray(np.moveaxis(rgba[:, :, :3], 2, 0))
    finally:
        if canvas is not original:
            figure.set_canvas(original)
    if close:
        import matplotlib.pyplot as plt

        plt.close(figure)
    return chw


def figure_to_image(figures: Any, close: bool = True) -> np.ndarray:
    """Render matplotlib figure(s) to pixels, as ``tensorboardX.utils.figure_to_image`` does.

    Args:
        figures: a ``matplotlib.figure.Figure``, or a list/tuple of them (all of
            one pixel size: same ``figsize`` and ``dpi``).
        close: close each figure after drawing it (``plt.close``), freeing
            pyplot's reference to it.

    Returns:
        One figure: a ``[3, H, W]`` uint8 RGB array (CHW, ``add_image``'s
        default layout; the alpha channel is dropped). A list: ``[N, 3, H, W]``
        (NCHW, ready for ``add_images``). ``H, W`` are the figure's size in
        pixels (``figsize * dpi``). Drawn with matplotlib's Agg renderer on
        the calling thread; a figure keeps its own canvas (tensorboardX's
        replaces it with an Agg canvas).

    Raises:
        TypeError: something other than a figure or a list of figures.
        ValueError: an empty list, or figures of different pixel sizes.
    """
    if isinstance(figures, list | tuple):
        if not figures:
            raise ValueError("figure_to_image: got an empty list of figures")
        images = [_figure_pixels(f, close) for f in figures]
        shapes = {im.shape for im in images}
        if len(shapes) > 1:
            raise ValueError(
                f"figure_to_image: figures of one list must have one pixel size, got {sorted(s[1:] for s in shapes)} "
                "(H, W); give them the same figsize and dpi"
            )
        return np.stack(images)
    return _figure_pixels(figures, close)
