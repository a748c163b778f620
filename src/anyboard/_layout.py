r"""``SummaryWriter(file_layout=...)``: whose run directories and tag spellings the files follow.

torch.utils.tensorboard and tensorboardX write the same summaries, but spell a few names
differently; a script that reads one peer's files back by name (EventAccumulator, tbparse,
the export JSON) needs that peer's spelling. ``"torch"`` (the default) and ``"tensorboardX"``:

==========================  ===============================  =================================
what                        ``"torch"``                      ``"tensorboardX"``
==========================  ===============================  =================================
``add_scalars`` sub-run     ``<main_tag with / as _>_<key>``  ``<main_tag>/<key>`` (nested)
``add_mesh`` tags           ``<tag>_VERTEX/_FACE/_COLOR``     ``<tag>_1/_2/_3``
``add_graph`` run metadata  tag ``step1``                     tag ``profiler``
``export_scalars_to_json``  ``<run directory>/<tag>``         an ``add_scalars`` sub-run's
keys                                                         directory alone
tags of ``add_scalar(s)``,  as given                          characters outside
``add_histogram``,                                           ``[-/\w.]`` as ``_``, leading
``add_image(s)``,                                            ``/`` dropped (tensorboardX's
``add_figure``, ``add_video``                                ``_clean_tag``)
==========================  ===============================  =================================

Everything else (other tags, plugins, encodings, the hparams and projector folders) is the
same in both. Each name component is still made safe (:func:`~anyboard._paths.safe_component`), so a
tensorboardX spelling never leaves the log directory (tensorboardX itself follows a leading
``/`` or ``..`` in a main tag out of it).
"""

from __future__ import annotations

import re
from typing import Any

from anyboard._paths import safe_component, safe_relative

TORCH = "torch"
TENSORBOARDX = "tensorboardX"
FILE_LAYOUTS = (TORCH, TENSORBOARDX)
"""The accepted values of ``SummaryWriter(file_layout=...)``."""

_RUN_METADATA_TAG = {TORCH: "step1", TENSORBOARDX: "profiler"}


def checked_layout(value: Any) -> str:
    """``value`` if it names a layout, else ``ValueError`` naming the option and the accepted values."""
    if not isinstance(value, str) or value not in FILE_LAYOUTS:
        raise ValueError(f"file_layout must be one of {list(FILE_LAYOUTS)}, got {value!r}")
    return value


def scalars_run(layout: str, main_tag: str, key: str, *, url: bool = False) -> str:
    """The sub-run (a relative path of safe components) of ``add_scalars(main_tag, {key: ...})``.

    torch: one directory ``<main_tag>_<key>`` with each ``/`` of ``main_tag`` made ``_``.
    tensorboardX: ``<main_tag>/<key>``, every ``/`` (of either) a directory level, empty
    and ``.`` levels dropped (as ``os.path.join`` and the file system do). ``url``: the log
    directory is a URL (see :func:`~anyboard._paths.safe_component`).

    Raises:
        ValueError: the tensorboardX spelling names no directory (``main_tag="/"``, ``key=""``).
    """
    what = f"tag {main_tag!r}: add_scalars sub-run"
    if layout == TORCH:
        return safe_component(main_tag.replace("/", "_") + "_" + key, url=url, what=what)
    run = safe_relative(
        f"{main_tag}/{key}", url=url, what=what, backslash=False
    )  # as tensorboardX's os.path.join on POSIX
    if not run:
        raise ValueError(f"tag {main_tag!r}: add_scalars key {key!r} names no sub-run directory")
    return run


def mesh_tag(layout: str, tag: str, content_type: int) -> str:
    """The tag of one mesh component: ``<tag>_VERTEX`` (torch) or ``<tag>_1`` (tensorboardX), etc.

    ``content_type`` is ``MeshPluginData``'s: 1 vertices, 2 faces, 3 colors.
    """
    if layout == TORCH:
        from anyboard.summary.mesh import component_tag

        return component_tag(tag, content_type)
    return f"{tag}_{content_type}"


def run_metadata_tag(layout: str) -> str:
    """The ``TaggedRunMetadata`` tag ``add_graph`` writes: ``step1`` (torch) or ``profiler`` (tensorboardX)."""
    return _RUN_METADATA_TAG[layout]


_TBX_INVALID = re.compile(r"[^-/\w.]")


def summary_tag(layout: str, tag: str) -> str:
    """The tag a scalar, histogram, image or video summary is written under.

    torch: ``tag`` as given. tensorboardX: every character outside ``[-/\\w.]`` becomes
    ``_`` and leading ``/`` are dropped (``"train loss"`` -> ``"train_loss"``,
    ``"/acc@1"`` -> ``"acc_1"``), as tensorboardX's summary functions do.

    Raises:
        ValueError: nothing is left of the tag (``"/"``).
    """
    if layout != TENSORBOARDX:
        return tag
    cleaned = _tbx_spelling(tag)
    if not cleaned:
        raise ValueError(f"tag {tag!r}: nothing is left of it in tensorboardX's spelling (leading '/' dropped)")
    return cleaned


def keeps_spelling(layout: str, tag: str) -> bool:
    """Whether :func:`summary_tag` writes ``tag`` as given (never raises)."""
    return layout != TENSORBOARDX or _tbx_spelling(tag) == tag


def _tbx_spelling(tag: str) -> str:
    return _TBX_INVALID.sub("_", tag).lstrip("/")
