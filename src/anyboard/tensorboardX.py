"""``from anyboard.tensorboardX import SummaryWriter``: anyboard's writer with tensorboardX's file layout.

For scripts written against tensorboardX's files: the same class as :class:`anyboard.SummaryWriter`
(every method, argument and encoding), but ``file_layout`` defaults to ``"tensorboardX"``, so the run
directories and tags are tensorboardX's (``add_scalars`` sub-runs ``<main_tag>/<key>``, mesh tags
``<tag>_1``/``_2``/``_3``, the graph's run metadata tag ``profiler``, ``export_scalars_to_json`` keyed
by sub-run directory; see :mod:`anyboard._layout`). :func:`anyboard.patch` puts this class in place of
``tensorboardX.SummaryWriter`` (and torch's names get :class:`anyboard.SummaryWriter`). Importing this
module does not import tensorboardX.
"""

from __future__ import annotations

from anyboard._layout import TENSORBOARDX
from anyboard.writer import SummaryWriter as _TorchLayoutWriter

__all__ = ["SummaryWriter"]


class SummaryWriter(_TorchLayoutWriter):
    """:class:`anyboard.SummaryWriter` whose ``file_layout`` defaults to ``"tensorboardX"``."""

    default_file_layout = TENSORBOARDX
