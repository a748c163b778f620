"""torch tensors to NumPy (CPU); the GPU path is completed in the adapters issue."""

from __future__ import annotations

from typing import Any

import numpy as np


def to_numpy(x: Any) -> Any:
    """Return a torch tensor as a NumPy array (bfloat16 widened exactly to float32)."""
    import torch

    if not isinstance(x, torch.Tensor):
        return np.asarray(x)
    if x.is_meta:
        raise ValueError("cannot log a meta tensor: it has no data")
    t = x.detach()
    if t.dtype == torch.bfloat16:
        t = t.float()
    if t.device.type != "cpu":
        t = t.cpu()
    return t.numpy()
