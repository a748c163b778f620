"""Pure summary builders: NumPy in, ``Summary`` proto out.

No I/O, threads, clocks or frameworks here; one module per summary type,
each module's docstring states its on-disk encoding. Optional codecs (Pillow)
are imported only when a builder that needs them runs.
"""

from __future__ import annotations

from anyboard.summary.audio import audio
from anyboard.summary.custom_scalars import custom_scalars
from anyboard.summary.histogram import histogram, histogram_raw
from anyboard.summary.mesh import mesh
from anyboard.summary.pr_curve import pr_curve, pr_curve_raw
from anyboard.summary.scalar import scalar
from anyboard.summary.image import image, image_with_boxes
from anyboard.summary.tensor import tensor
from anyboard.summary.text import text
from anyboard.summary.video import video

__all__ = [
    "audio",
    "custom_scalars",
    "histogram",
    "histogram_raw",
    "image",
    "image_with_boxes",
    "mesh",
    "pr_curve",
    "pr_curve_raw",
    "scalar",
    "tensor",
    "text",
    "video",
]
