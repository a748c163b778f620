"""``add_embedding``: points, labels and thumbnails for TensorBoard's projector."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from anyboard import projector
from anyboard._methods.base import MethodsBase

_MISSING: Any = object()


def _is_step(x: Any) -> bool:
    """Whether ``x`` is a single integer (a Python or NumPy int, or a 0-d integer array or tensor)."""
    if isinstance(x, bool):
        return False
    if isinstance(x, int | np.integer):
        return True
    dtype = getattr(x, "dtype", None)
    return getattr(x, "ndim", None) == 0 and dtype is not None and "int" in str(dtype)


def _is_row(x: Any) -> bool:
    return isinstance(x, list | tuple | np.ndarray) or (
        not isinstance(x, str | bytes) and hasattr(x, "__len__") and hasattr(x, "__getitem__")
    )


def _metadata(writer: Any, tag: str, metadata: Any, header: Any, n: int) -> tuple[list[Any] | None, list[Any] | None]:
    """Validated metadata as ``(rows, header)``; ``header`` is None for one column."""
    if metadata is None:
        if header is not None:
            raise ValueError(f"tag {tag!r}: metadata_header was given without metadata")
        return None, None
    if isinstance(metadata, str | bytes):
        raise TypeError(f"tag {tag!r}: metadata must be a sequence of N labels, got a single {type(metadata).__name__}")
    if not isinstance(metadata, list | tuple):
        array = writer._array(tag, metadata, copy=False)
        if array.ndim not in (1, 2):
            raise ValueError(f"tag {tag!r}: metadata must be 1-D (labels) or 2-D (rows), got shape {array.shape}")
        metadata = array.tolist()
    rows = list(metadata)
    if header is not None:
        if isinstance(header, str | bytes) or not _is_row(header) or len(header) < 1:
            raise TypeError(f"tag {tag!r}: metadata_header must be a sequence of column names, got {header!r}")
        header = list(header)
    two_d = bool(rows) and all(_is_row(r) for r in rows)
    if not two_d:
        if any(_is_row(r) for r in rows):
            raise TypeError(f"tag {tag!r}: metadata mixes labels and rows of labels")
        if header is not None and len(header) != 1:
            raise ValueError(
                f"tag {tag!r}: metadata_header has {len(header)} columns but metadata is one label per point"
            )
        if len(rows) != n:
            raise ValueError(f"tag {tag!r}: metadata has {len(rows)} labels but mat has {n} points")
        return rows, None
    rows = [list(r) for r in rows]
    if header is None:
        if len(rows) == n + 1:
            header, rows = rows[0], rows[1:]
        elif len(rows) == n and all(len(r) == 1 for r in rows):
            return [r[0] for r in rows], None
        else:
            raise ValueError(
                f"tag {tag!r}: multi-column metadata needs metadata_header (or the header as its first row); "
                f"got {len(rows)} rows for {n} points"
            )
    if len(rows) != n:
        raise ValueError(f"tag {tag!r}: metadata has {len(rows)} rows but mat has {n} points")
    bad = next((i for i, r in enumerate(rows) if len(r) != len(header)), None)
    if bad is not None:
        raise ValueError(f"tag {tag!r}: metadata row {bad} has {len(rows[bad])} cells, the header has {len(header)}")
    return rows, header


def _images(writer: Any, tag: str, label_img: Any, n: int) -> np.ndarray:
    """Validated thumbnails [N, C, H, W]."""
    images: np.ndarray = writer._array(tag, label_img, copy=False)
    if images.ndim != 4 or images.shape[1] not in (1, 3, 4):
        raise ValueError(f"tag {tag!r}: label_img must have shape [N, C, H, W] with C in (1, 3, 4), got {images.shape}")
    if images.shape[0] != n:
        raise ValueError(f"tag {tag!r}: label_img has {images.shape[0]} images but mat has {n} points")
    if images.shape[2] < 1 or images.shape[3] < 1:
        raise ValueError(f"tag {tag!r}: label_img thumbnails must be at least 1x1, got {images.shape}")
    if images.dtype.kind not in "biuf":
        raise TypeError(f"tag {tag!r}: label_img must be numeric, got dtype {images.dtype}")
    if images.dtype.kind in "iu" and images.dtype != np.uint8 and (images.min() < 0 or images.max() > 255):
        raise ValueError(
            f"tag {tag!r}: integer label_img values must be in [0, 255], got [{images.min()}, {images.max()}]"
        )
    return images


class Methods(MethodsBase):
    """``add_embedding`` (projector files next to the event files, no events)."""

    def add_embedding(
        self,
        mat: Any = _MISSING,
        metadata: Any = None,
        label_img: Any = None,
        global_step: Any = None,
        tag: Any = _MISSING,
        metadata_header: Sequence[Any] | None = None,
        *,
        embedding: Any = _MISSING,
        labels: Any = None,
        images: Any = None,
    ) -> None:
        """Log an embedding for the projector.

        Args:
            mat: points, [N, D] (any framework tensor or array; written as float32).
            metadata: N labels (one column), or N rows of cells with
                ``metadata_header`` (several columns). N+1 rows without a header
                take the first row as the header (MXBoard's convention).
            label_img: thumbnails [N, C, H, W], C in 1 (gray), 3 (RGB), 4 (RGBA):
                uint8 as is, floats in [0, 1]. H != W is fine (written as is;
                ``single_image_dim`` is ``[W, H]``).
            global_step: step (default 0): part of the directory and of the
                tensor name ``"<tag>:<step:05d>"``.
            tag: embedding name (default ``"default"``).
            metadata_header: column names for multi-column ``metadata``.

        MXBoard's ``add_embedding(tag, embedding, labels=None, images=None,
        global_step=None)`` is accepted too (a str first argument, or the
        ``embedding=``/``labels=``/``images=`` keywords), positional or by
        keyword, ``global_step=`` included.

        Files (see :mod:`anyboard.projector`) go to the same storage as the
        event files: the local log directory, or the fsspec URL (``s3://``,
        ``memory://``, ...) with this writer's ``storage_options``.
        ``<logdir>/<step:05d>/<tag>/`` holds ``tensors.tsv``, ``metadata.tsv``
        and ``sprite.png`` (at most 8192 px each way: thumbnails are
        downscaled to fit, keeping their aspect ratio; a rewrite without
        labels or thumbnails deletes the old ones), and the entry is merged into
        ``<logdir>/projector_config.pbtxt`` (same tag and step: replaced).
        Locally the merge holds a file lock, so writers in other processes
        keep each other's entries; on a URL there is no such lock, and two
        processes adding embeddings to one log directory at the same moment
        can race (the last config upload wins). Files are written on the
        caller's thread; the logdir is a run (the projector lists it) once
        this writer's event file exists.

        Raises:
            ValueError, TypeError: bad shapes or types, or thumbnails that
                cannot fit the 8192 px sprite without changing their aspect
                ratio (their short side would drop below 1 px); the message
                names the tag.
            OSError: writing to the storage failed.
        """
        if isinstance(mat, str):  # MXBoard positional order: (tag, embedding, labels, images, global_step)
            if tag is _MISSING and _is_step(global_step):
                # MXBoard's global_step= keyword lands in torch's global_step slot, where MXBoard's
                # images go positionally; a step is a single integer, thumbnails never are
                mx_args: tuple[tuple[str, Any], ...] = (
                    ("embedding", metadata),
                    ("labels", label_img),
                    ("global_step", global_step),
                )
            else:
                mx_args = (
                    ("embedding", metadata),
                    ("labels", label_img),
                    ("images", global_step),
                    ("global_step", tag),
                )
            given = {name: value for name, value in mx_args if value is not None and value is not _MISSING}
            for name, kw in (("embedding", embedding), ("labels", labels), ("images", images)):
                if name in given and kw is not (_MISSING if name == "embedding" else None):
                    raise TypeError(f"add_embedding got {name!r} both positionally and as a keyword")
            tag, mat = mat, given.get("embedding", embedding)
            metadata, label_img = given.get("labels", labels), given.get("images", images)
            global_step = given.get("global_step")
        else:
            if embedding is not _MISSING:
                if mat is not _MISSING:
                    raise TypeError("add_embedding got both mat and embedding=; pass one")
                mat = embedding
            if labels is not None:
                if metadata is not None:
                    raise TypeError("add_embedding got both metadata and labels=; pass one")
                metadata = labels
            if images is not None:
                if label_img is not None:
                    raise TypeError("add_embedding got both label_img and images=; pass one")
                label_img = images
        tag = self._tag("default" if tag is _MISSING else tag)
        if mat is _MISSING:
            raise TypeError(f"tag {tag!r}: add_embedding needs the points (mat, or embedding=)")
        if self.closed:  # as every add_* does: the run goes on in new files
            self.reopen()

        points = self._array(tag, mat, copy=False)
        if points.ndim != 2 or points.shape[0] < 1 or points.shape[1] < 1:
            raise ValueError(f"tag {tag!r}: embedding mat must have shape [N, D] with N, D >= 1, got {points.shape}")
        if points.dtype.kind not in "biuf":
            raise TypeError(f"tag {tag!r}: embedding mat must be real numbers, got dtype {points.dtype}")
        points = points.astype(np.float32)
        if not np.isfinite(points).all():
            raise ValueError(f"tag {tag!r}: embedding mat must be finite (as float32); it has NaN or Inf")
        n = points.shape[0]
        rows, header = _metadata(self, tag, metadata, metadata_header, n)
        thumbs = None if label_img is None else _images(self, tag, label_img, n)
        step = self._step(tag, global_step)
        url = self._url_names
        files, info = projector.embedding_files(tag, step, points, rows, header, thumbs, url=url)
        if self._write_to_disk:
            logdir, options = self._logdir, self._storage_options
            projector.save(logdir, files, info, projector.optional_files(tag, step, url=url), options)
