"""anyboard.utils.make_grid against torchvision's documented behaviour (hand-computed cases)."""

from __future__ import annotations

import numpy as np
import pytest

from anyboard.utils import make_grid, make_image_grid

A = [[1, 2], [3, 4]]
B = [[5, 6], [7, 8]]
C = [[10, 11], [12, 13]]
# Three 1x2x2 images, nrow=2, padding=1, pad_value=9: a 2x2 grid of 3x3 cells plus a 1-px border.
EXPECTED = [
    [9, 9, 9, 9, 9, 9, 9],
    [9, 1, 2, 9, 5, 6, 9],
    [9, 3, 4, 9, 7, 8, 9],
    [9, 9, 9, 9, 9, 9, 9],
    [9, 10, 11, 9, 9, 9, 9],
    [9, 12, 13, 9, 9, 9, 9],
    [9, 9, 9, 9, 9, 9, 9],
]


def test_layout_padding_and_channel_replication():
    batch = np.array([[A], [B], [C]], np.uint8)  # [3, 1, 2, 2]
    grid = make_grid(batch, nrow=2, padding=1, pad_value=9)
    assert isinstance(grid, np.ndarray) and grid.dtype == np.uint8 and grid.shape == (3, 7, 7)
    for channel in grid:  # one channel is replicated to three
        assert channel.tolist() == EXPECTED
    listed = make_grid([np.array([A]), np.array([B]), np.array([C])], nrow=2, padding=1, pad_value=9)
    np.testing.assert_array_equal(listed, grid)


def test_grid_size_formula():
    batch = np.zeros((10, 3, 4, 5), np.float32)
    # ncols = min(nrow, B) = 8, rows = ceil(10 / 8) = 2: rows*(H+p)+p by ncols*(W+p)+p
    assert make_grid(batch).shape == (3, 2 * 6 + 2, 8 * 7 + 2)
    assert make_grid(batch, nrow=3, padding=0).shape == (3, 4 * 4, 3 * 5)
    assert make_grid(batch, nrow=20, padding=1).shape == (3, 1 * 5 + 1, 10 * 6 + 1)
    grid = make_grid(np.ones((3, 3, 2, 2), np.float32), nrow=2, padding=0, pad_value=0.5)
    assert grid[:, 2:, 2:].tolist() == [[[0.5, 0.5], [0.5, 0.5]]] * 3  # the empty cell
    assert (grid[:, :2, :] == 1).all() and (grid[:, 2:, :2] == 1).all()


def test_single_image_is_returned_without_padding():
    img = np.arange(12, dtype=np.float32).reshape(3, 2, 2)
    np.testing.assert_array_equal(make_grid(img), img)
    np.testing.assert_array_equal(make_grid(img[None], padding=5), img)
    gray = make_grid(np.array(A, np.uint8))  # [H, W] -> [3, H, W]
    assert gray.shape == (3, 2, 2) and all(ch.tolist() == A for ch in gray)


def test_normalize_value_range_and_scale_each():
    batch = np.array([[[[0.0, 2.0]]], [[[4.0, 8.0]]]])  # [2, 1, 1, 2] float64
    whole = make_grid(batch, padding=0, normalize=True)  # by the batch's min 0 and max 8
    assert whole.dtype == np.float64 and whole[0].tolist() == [[0.0, 0.25, 0.5, 1.0]]
    each = make_grid(batch, padding=0, normalize=True, scale_each=True)  # each image by its own range
    assert each[0].tolist() == [[0.0, 1.0, 0.0, 1.0]]
    ranged = make_grid(np.array([[[[-1.0, 1.0]]], [[[3.0, 2.0]]]]), padding=0, normalize=True, value_range=(0, 2))
    assert ranged[0].tolist() == [[0.0, 0.5, 1.0, 1.0]]  # clipped to the range, then scaled
    flat = make_grid(np.full((2, 1, 1, 1), 7.0), padding=0, normalize=True)
    assert flat[0].tolist() == [[0.0, 0.0]]  # a constant batch does not divide by zero
    ints = make_grid(np.array([[[[0, 255]]], [[[51, 102]]]], np.uint8), padding=0, normalize=True)
    assert ints.dtype == np.float32 and ints[0, 0].tolist() == pytest.approx([0.0, 1.0, 0.2, 0.4])
    unchanged = make_grid(batch, padding=0)
    assert unchanged[0].tolist() == [[0.0, 2.0, 4.0, 8.0]]


def test_torch_in_torch_out_and_mxboard_alias():
    import torch

    batch = torch.tensor([[A], [B], [C]], dtype=torch.float32)
    grid = make_grid(batch, nrow=2, padding=1, pad_value=9)
    assert isinstance(grid, torch.Tensor) and grid.dtype == torch.float32 and grid.shape == (3, 7, 7)
    assert grid[1].tolist() == EXPECTED
    half = make_grid(batch.to(torch.bfloat16), nrow=2, padding=1, pad_value=9)
    assert half.dtype == torch.bfloat16 and half[0].float().tolist() == EXPECTED
    listed = make_grid([batch[0], batch[1], batch[2]], nrow=2, padding=1, pad_value=9)
    assert isinstance(listed, torch.Tensor) and torch.equal(listed, grid)
    mx = make_image_grid(np.array([[[[-1.0, 1.0]]], [[[3.0, 2.0]]]]), padding=0, normalize=True, norm_range=(0, 2))
    assert mx[0].tolist() == [[0.0, 0.5, 1.0, 1.0]]
    assert make_image_grid(np.zeros((10, 3, 4, 5))).shape == (3, 14, 58)


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"\[B, C, H, W\].*\(1, 1, 1, 2, 2\)"):
        make_grid(np.zeros((1, 1, 1, 2, 2)))
    with pytest.raises(ValueError, match="empty list"):
        make_grid([])
    with pytest.raises(ValueError, match="one shape"):
        make_grid([np.zeros((3, 2, 2)), np.zeros((3, 2, 3))])
    with pytest.raises(ValueError, match="nrow"):
        make_grid(np.zeros((2, 3, 2, 2)), nrow=0)
    with pytest.raises(TypeError, match="value_range"):
        make_grid(np.zeros((2, 3, 2, 2)), normalize=True, value_range=5)
