"""The files TensorBoard's projector (embedding) plugin reads, as bytes.

Layout (the same as torch and tensorboardX, so existing logdirs keep working)::

    <logdir>/projector_config.pbtxt            text-format ProjectorConfig
    <logdir>/<step:05d>/<tag>/tensors.tsv      N lines of D tab-separated floats
    <logdir>/<step:05d>/<tag>/metadata.tsv     labels (optional)
    <logdir>/<step:05d>/<tag>/sprite.png       thumbnail atlas (optional): a square grid of cells,
                                               at most 8192 px each way (see sprite_grid)

``<tag>`` is the tag made one safe path component by
:func:`anyboard._paths.safe_component` (``/``, ``\\``, ``%``, control characters
become ``%XX``; ``.`` and ``..`` are escaped), so no tag can name a path
outside the logdir. Each embedding is one ``embeddings`` entry of the config,
``tensor_name: "<tag>:<step:05d>"``; writing the same tag and step again
replaces that entry (and its files) instead of adding a duplicate.

The functions here build bytes and merge text; :func:`save` puts them in the
log directory, wherever it is:

* a local path (or a ``file://`` URL): :func:`write_local` and
  :func:`merge_config_local`, every file written atomically (temporary file
  + rename) and the config read, merged and replaced under an exclusive
  ``flock`` on the log directory itself (no lock file is left behind, except
  on file systems that cannot lock a directory, such as NFS: there
  ``projector_config.pbtxt.lock`` is locked instead), so writers in other
  threads and processes never lose each other's entries.
  A symlink below the log directory that leads outside it (the
  ``<step>``/``<tag>`` directories, any of the files, the config) is refused
  with :class:`anyboard._paths.UnsafePathError` before anything is written;
  symlinks staying inside are followed. fsspec is never imported.
* any other fsspec URL (``s3://``, ``memory://``, ...; see
  :mod:`anyboard.io.remote`): :func:`write_remote` and
  :func:`merge_config_remote`, each file uploaded whole in one request and
  the config read, merged by ``tensor_name`` and uploaded again. Object stores
  have no locks: merges from threads of one process are serialized, but
  writers in **different processes or machines** adding embeddings to one
  remote log directory at the same time can race; the config is replaced
  as a whole file and the last upload wins, dropping entries the other
  writer added in between (their ``tensors.tsv`` etc. are still there). Give
  concurrent writers distinct log directories, or add their embeddings one
  after another.

In both cases, rewriting an embedding without ``metadata.tsv`` or
``sprite.png`` deletes the one left from before, so the directory matches
the config.
"""

from __future__ import annotations

import contextlib
import errno
import io
import math
import os
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from anyboard._paths import check_inside, safe_component
from anyboard.io import remote
from anyboard.proto.projector_config_pb2 import EmbeddingInfo, ProjectorConfig

CONFIG_NAME = "projector_config.pbtxt"
MAX_SPRITE_PX = 8192  # TensorBoard's frontend refuses sprites wider or taller than this
EMPTY_LABEL = "<empty>"  # the frontend skips blank metadata lines, which would shift every later label
_CHUNK_ROWS = 4096


def embedding_subdir(tag: str, step: int, *, url: bool = False) -> str:
    """``<step:05d>/<safe tag>``: the embedding's directory relative to the logdir (``/``-separated);
    ``url``: the logdir is a URL (see :func:`anyboard._paths.safe_component`)."""
    return f"{step:05d}/{safe_component(tag, url=url, what=f'tag {tag!r}: add_embedding folder')}"


def tensor_name(tag: str, step: int) -> str:
    """The ``tensor_name`` of an embedding in the config: ``"<tag>:<step:05d>"``."""
    return f"{tag}:{step:05d}"


def tensor_tsv(mat: np.ndarray) -> bytes:
    """``mat`` [N, D] as TSV: one line per row, values as float32 ``%.9g`` (exact round trip).

    Formatting is done one chunk of rows at a time with a single ``%`` over the
    whole chunk, not one Python call per value.
    """
    values = np.asarray(mat, dtype=np.float32)
    n, d = values.shape
    out = io.StringIO()
    line = "\t".join(["%.9g"] * d) + "\n"
    for start in range(0, n, _CHUNK_ROWS):
        chunk = values[start : start + _CHUNK_ROWS]
        out.write((line * len(chunk)) % tuple(chunk.ravel().tolist()))
    return out.getvalue().encode("ascii")


def escape_label(text: str) -> str:
    r"""One metadata cell: tab, newline and carriage return become the two characters ``\t``, ``\n``, ``\r``.

    TensorBoard splits metadata on raw tabs and newlines and has no escape
    syntax, so the escapes are shown literally. Backslashes are kept as they
    are (so the escaping is readable, not reversible).
    """
    if "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")
    return text


def _cell(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    elif isinstance(value, np.generic):
        value = value.item()
    return escape_label(value if isinstance(value, str) else str(value))


def metadata_tsv(rows: Sequence[Any], header: Sequence[Any] | None = None) -> bytes:
    """Labels as the metadata TSV.

    Args:
        rows: one label per point (single column), or one sequence of cells
            per point when ``header`` is given.
        header: column names; written as the first line when there are two or
            more columns (TensorBoard takes a first line with a tab as the
            header; a one-column file has no header, so a one-name header is
            dropped).

    Cells go through :func:`escape_label`. A row whose cells are all blank is
    written with :data:`EMPTY_LABEL` in its first cell, because TensorBoard
    skips blank lines, which would pair every later label with the wrong point.
    """
    lines: list[str] = []
    if header is not None and len(header) > 1:
        lines.append("\t".join(_cell(h) for h in header))
        for row in rows:
            cells = [_cell(c) for c in row]
            if not "".join(cells).strip():
                cells[0] = EMPTY_LABEL
            lines.append("\t".join(cells))
    else:
        for row in rows:
            cell = _cell(row[0] if header is not None else row)
            lines.append(cell if cell.strip() else EMPTY_LABEL)
    return ("\n".join(lines) + "\n").encode("utf-8")


def sprite_grid(n: int, height: int, width: int, tag: str = "") -> tuple[int, int, int]:
    """``(thumb_h, thumb_w, ncols)``: the sprite of ``n`` thumbnails of ``height`` x ``width`` px.

    The grid is square in cells, ``ncols`` x ``ncols`` with ``ncols =
    ceil(sqrt(n))`` (the last rows may be empty), so the sprite is
    ``ncols * thumb_w`` px wide and ``ncols * thumb_h`` px high: TensorBoard
    reads a thumbnail's column as ``index mod spritesPerRow`` but its row as
    ``floor(index / spritesPerColumn)``, right only when the two counts are
    equal. Thumbnails keep their size unless a side of the sprite would
    exceed :data:`MAX_SPRITE_PX`; then both sides shrink by one factor (the
    long side to ``MAX_SPRITE_PX // ncols``, the aspect ratio kept up to
    rounding to whole pixels).

    Raises:
        ValueError: (naming ``tag``) ``n`` cells do not fit even at 1x1 px, or
            the short side would shrink below 1 px (the aspect ratio could
            not be kept).
    """
    ncols = max(1, math.ceil(math.sqrt(n)))
    while ncols * ncols < n:  # sqrt rounding for huge n
        ncols += 1
    room = MAX_SPRITE_PX // ncols  # the most pixels one cell may have each way
    if room < 1:
        raise ValueError(
            f"tag {tag!r}: {n} label_img thumbnails cannot fit in TensorBoard's {MAX_SPRITE_PX}x{MAX_SPRITE_PX} px "
            f"sprite even at 1x1 px (at most {MAX_SPRITE_PX * MAX_SPRITE_PX} thumbnails)"
        )
    long_side = max(height, width)
    if long_side <= room:
        return height, width, ncols
    scale = room / long_side
    if min(height, width) * scale < 1:
        raise ValueError(
            f"tag {tag!r}: label_img thumbnails of {height}x{width} px (HxW) must shrink to at most {room} px "
            f"each way for {n} points to fit TensorBoard's {MAX_SPRITE_PX} px sprite limit, and their short side "
            f"would be below 1 px, changing the aspect ratio; pass fewer points or less elongated thumbnails"
        )
    return (
        min(room, max(1, round(height * scale))),
        min(room, max(1, round(width * scale))),
        ncols,
    )


def _box_downscale(images: np.ndarray, height: int, width: int) -> np.ndarray:
    """Area-average ``images`` [N, C, H, W] (float) down to [N, C, height, width], vectorized."""
    for axis, size in ((2, height), (3, width)):
        old = images.shape[axis]
        if old == size:
            continue
        starts = (np.arange(size) * old) // size
        counts = np.diff(np.append(starts, old))
        images = np.add.reduceat(images, starts, axis=axis)
        images /= counts.reshape((-1, 1) if axis == 2 else (-1,))
    return images


def sprite_png(images: np.ndarray, tag: str = "") -> tuple[bytes, tuple[int, int]]:
    """A sprite atlas PNG of ``images`` [N, C, H, W] (C in 1, 3, 4) and its ``single_image_dim`` ``(W, H)``.

    Pixel values: uint8 as is; other integer types must already be in
    [0, 255]; floats and bools are taken as [0, 1] and scaled by 255 (clipped,
    NaN as 0). Thumbnails are laid out row-major on a square grid of
    ``ncols`` x ``ncols`` cells (:func:`sprite_grid`); unused cells are
    transparent black (zeros). Non-square thumbnails keep their shape
    (TensorBoard reads width and height from ``single_image_dim``
    separately). When the sprite would exceed TensorBoard's 8192 px limit in
    either direction, every thumbnail is downscaled by the same factor (area
    averaging) until it fits.

    Raises:
        ValueError: naming ``tag``, where the thumbnails cannot fit the limit
            with their aspect ratio (see :func:`sprite_grid`).
    """
    from PIL import Image

    n, c, h, w = images.shape
    if images.dtype == np.uint8:
        pixels = images
    elif images.dtype.kind in "iu":
        pixels = images.astype(np.uint8)
    else:
        pixels = np.nan_to_num(images.astype(np.float32) * 255.0, nan=0.0).clip(0, 255)
        pixels = np.rint(pixels).astype(np.uint8)
    th, tw, ncols = sprite_grid(n, h, w, tag)
    if (th, tw) != (h, w):
        pixels = np.rint(_box_downscale(pixels.astype(np.float32), th, tw)).clip(0, 255).astype(np.uint8)
    canvas = np.zeros((ncols * ncols, th, tw, c), dtype=np.uint8)
    canvas[:n] = pixels.transpose(0, 2, 3, 1)
    canvas = canvas.reshape(ncols, ncols, th, tw, c).transpose(0, 2, 1, 3, 4).reshape(ncols * th, ncols * tw, c)
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[c]
    buf = io.BytesIO()
    Image.fromarray(canvas[:, :, 0] if c == 1 else canvas, mode).save(buf, format="PNG", compress_level=6)
    return buf.getvalue(), (tw, th)


def embedding_files(
    tag: str,
    step: int,
    mat: np.ndarray,
    metadata: Sequence[Any] | None = None,
    header: Sequence[Any] | None = None,
    label_img: np.ndarray | None = None,
    *,
    url: bool = False,
) -> tuple[dict[str, bytes], EmbeddingInfo]:
    """Every file of one embedding (paths relative to the logdir, ``/``-separated) and its config entry.

    Arguments must already be validated (see ``SummaryWriter.add_embedding``); ``url``: see
    :func:`embedding_subdir`.
    """
    subdir = embedding_subdir(tag, step, url=url)
    files = {f"{subdir}/tensors.tsv": tensor_tsv(mat)}
    info = EmbeddingInfo(
        tensor_name=tensor_name(tag, step), tensor_path=f"{subdir}/tensors.tsv", tensor_shape=list(mat.shape)
    )
    if metadata is not None:
        files[f"{subdir}/metadata.tsv"] = metadata_tsv(metadata, header)
        info.metadata_path = f"{subdir}/metadata.tsv"
    if label_img is not None:
        png, (w, h) = sprite_png(label_img, tag)
        files[f"{subdir}/sprite.png"] = png
        info.sprite.image_path = f"{subdir}/sprite.png"
        info.sprite.single_image_dim.extend([w, h])
    return files, info


def merge_config_text(existing: str, info: EmbeddingInfo) -> str:
    """``existing`` config text with ``info`` added, replacing any entry of the same ``tensor_name``.

    Raises:
        ValueError: ``existing`` is not a text-format ``ProjectorConfig``.
    """
    from google.protobuf import text_format

    config = ProjectorConfig()
    try:
        text_format.Parse(existing, config)
    except text_format.ParseError as exc:
        raise ValueError(f"{CONFIG_NAME} exists but is not a valid projector config ({exc}); fix or remove it") from exc
    kept = [e for e in config.embeddings if e.tensor_name != info.tensor_name]
    del config.embeddings[:]
    config.embeddings.extend(kept)
    config.embeddings.append(info)
    return text_format.MessageToString(config)


def _atomic_write(path: str, data: bytes) -> None:
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def optional_files(tag: str, step: int, *, url: bool = False) -> list[str]:
    """The files an embedding may or may not have (relative paths), to remove when rewritten without them."""
    subdir = embedding_subdir(tag, step, url=url)
    return [f"{subdir}/metadata.tsv", f"{subdir}/sprite.png"]


def write_local(logdir: str, files: dict[str, bytes], stale: Sequence[str] = ()) -> None:
    """Write ``files`` (relative ``/``-separated paths) under ``logdir``, each atomically (temp file + rename).

    Paths in ``stale`` that are not in ``files`` are removed (left over from an
    earlier embedding of the same tag and step).

    Raises:
        UnsafePathError: a directory or file below ``logdir`` is a symlink
            leading outside it (checked for every path before anything is
            written).
    """
    paths = {rel: os.path.join(logdir, *rel.split("/")) for rel in [*files, *stale]}
    for path in paths.values():
        check_inside(logdir, path)
    for rel, data in files.items():
        path = paths[rel]
        os.makedirs(os.path.dirname(path), exist_ok=True)
        check_inside(logdir, path)
        _atomic_write(path, data)
    for rel in stale:
        if rel not in files:
            with contextlib.suppress(FileNotFoundError):
                os.remove(paths[rel])


# flock errors of file systems that cannot lock a directory (NFS emulates flock with
# byte-range locks, which need a file open for writing; some FUSE and SMB mounts
# have no locks on directories at all).
_NO_DIRECTORY_LOCK = frozenset(
    getattr(errno, name) for name in ("EBADF", "ENOLCK", "EOPNOTSUPP", "ENOTSUP", "EINVAL") if hasattr(errno, name)
)


@contextlib.contextmanager
def _locked(directory: str) -> Iterator[None]:
    """An exclusive ``flock`` on ``directory`` itself (nothing is created; released on exit).

    Where the file system cannot lock a directory (see ``_NO_DIRECTORY_LOCK``),
    the lock is taken on ``<directory>/projector_config.pbtxt.lock`` instead
    (checked with :func:`~anyboard._paths.check_inside`, opened ``O_NOFOLLOW``),
    which is then left in place, as every writer on that file system locks it.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no cross-process lock, the rename is still atomic
        yield
        return
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:
            if exc.errno not in _NO_DIRECTORY_LOCK:
                raise
            os.close(fd)
            fd = -1
            path = os.path.join(directory, CONFIG_NAME + ".lock")
            check_inside(directory, path)
            flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
            fd = os.open(path, flags, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        if fd >= 0:
            os.close(fd)  # closing releases the lock


def merge_config_local(logdir: str, info: EmbeddingInfo) -> None:
    """Merge ``info`` into ``<logdir>/projector_config.pbtxt``.

    Read, merge (:func:`merge_config_text`) and atomic replace happen while
    holding an exclusive ``flock`` on the log directory, so writers in other
    threads or processes never lose each other's entries. (Earlier versions
    locked a ``projector_config.pbtxt.lock`` file, left behind in every log
    directory; a directory can be locked itself, so no file is needed, except
    on file systems that cannot lock one, such as NFS: see ``_locked``.)

    Raises:
        UnsafePathError: the config is a symlink leading outside ``logdir``.
    """
    os.makedirs(logdir, exist_ok=True)
    path = os.path.join(logdir, CONFIG_NAME)
    check_inside(logdir, path)
    with _locked(logdir):
        try:
            with open(path, encoding="utf-8") as f:
                existing = f.read()
        except FileNotFoundError:
            existing = ""
        _atomic_write(path, merge_config_text(existing, info).encode("utf-8"))


# -- remote (fsspec) log directories ---------------------------------------------
_REMOTE_LOCKS: dict[str, threading.Lock] = {}
_REMOTE_LOCKS_GUARD = threading.Lock()


def _remote_lock(url: str) -> threading.Lock:
    """The in-process lock serializing config merges of ``url`` (no cross-process lock exists on object stores)."""
    with _REMOTE_LOCKS_GUARD:
        lock = _REMOTE_LOCKS.get(url)
        if lock is None:
            lock = _REMOTE_LOCKS[url] = threading.Lock()
        return lock


# Raised as they are: storage errors already, and setup errors (fsspec or the
# backend missing, unknown protocol, bad storage_options) that the writer's
# constructor reports the same way.
_PASS_THROUGH = (OSError, ImportError, ValueError, TypeError)


def _storage_error(action: str, url: str, exc: Exception) -> OSError:
    """Any other backend error (botocore, ...) as an ``OSError`` naming the file (raise it ``from exc``)."""
    return remote.UploadError(f"{action} projector file {url} failed: {exc}")


def write_remote(
    logdir: str, files: dict[str, bytes], stale: Sequence[str] = (), storage_options: Mapping[str, Any] | None = None
) -> None:
    """Upload ``files`` (relative ``/``-separated paths) under the URL ``logdir``, each whole in one request.

    Paths in ``stale`` that are not in ``files`` are deleted if present (left
    over from an earlier embedding of the same tag and step).

    Raises:
        OSError: an upload or delete failed (backend errors that are not
            ``OSError`` come as :class:`anyboard.io.remote.UploadError`).
    """
    for rel, data in files.items():
        url = remote.join(logdir, rel)
        try:
            remote.write_bytes(url, data, storage_options)
        except _PASS_THROUGH:
            raise
        except Exception as exc:  # network, auth, backend errors alike
            raise _storage_error("uploading", url, exc) from exc
    for rel in stale:
        if rel in files:
            continue
        url = remote.join(logdir, rel)
        try:
            fs, inner = remote.filesystem(url, storage_options)
            with contextlib.suppress(FileNotFoundError):
                fs.rm_file(inner)
        except _PASS_THROUGH:
            raise
        except Exception as exc:
            raise _storage_error("deleting stale", url, exc) from exc


def merge_config_remote(logdir: str, info: EmbeddingInfo, storage_options: Mapping[str, Any] | None = None) -> None:
    """Merge ``info`` into ``<logdir>/projector_config.pbtxt`` at the URL ``logdir``.

    Downloads the config (none yet: an empty one), merges it with
    :func:`merge_config_text` and uploads the whole file again. Merges by
    threads of this process are serialized; merges from other processes or
    machines at the same time can race, and the last upload wins (see the
    module docstring).

    Raises:
        ValueError: the existing config is not a valid projector config.
        OSError: the download or upload failed.
    """
    url = remote.join(logdir, CONFIG_NAME)
    with _remote_lock(url):
        try:
            existing = remote.read_bytes(url, storage_options).decode("utf-8")
        except FileNotFoundError:
            existing = ""
        except UnicodeDecodeError as exc:
            raise ValueError(f"{CONFIG_NAME} at {url} exists but is not UTF-8 text; fix or remove it") from exc
        except _PASS_THROUGH:
            raise
        except Exception as exc:
            raise _storage_error("reading", url, exc) from exc
        merged = merge_config_text(existing, info).encode("utf-8")
        try:
            remote.write_bytes(url, merged, storage_options)
        except _PASS_THROUGH:
            raise
        except Exception as exc:
            raise _storage_error("uploading", url, exc) from exc


def save(
    logdir: str,
    files: dict[str, bytes],
    info: EmbeddingInfo,
    stale: Sequence[str] = (),
    storage_options: Mapping[str, Any] | None = None,
) -> None:
    """Write one embedding's ``files`` under ``logdir``, drop ``stale`` leftovers, then merge ``info`` into the config.

    ``logdir`` is a local path or ``file://`` URL (:func:`write_local`,
    :func:`merge_config_local`; fsspec is not imported) or any other fsspec
    URL (:func:`write_remote`, :func:`merge_config_remote` with
    ``storage_options``). The config is updated last, so it never names a
    file that is not there yet.
    """
    local = remote._local(logdir)  # the same local-path test the event files use
    if local is not None:
        check_inside(local, os.path.join(local, CONFIG_NAME))  # a refused config: no file written before it
        write_local(local, files, stale)
        merge_config_local(local, info)
        return
    write_remote(logdir, files, stale, storage_options)
    merge_config_remote(logdir, info, storage_options)
