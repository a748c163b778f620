"""Pure summary builders: NumPy in, ``Summary`` proto out.

No I/O, threads, clocks or frameworks here; one module per summary type,
each module's docstring states its on-disk encoding.
"""

from __future__ import annotations

from anyboard.summary.histogram import histogram, histogram_raw
from anyboard.summary.scalar import scalar
from anyboard.summary.tensor import tensor
from anyboard.summary.text import text

__all__ = ["histogram", "histogram_raw", "scalar", "tensor", "text"]
