"""Encoded media as what they show: shape and SHA-256 of the decoded pixels or samples.

The encoded bytes (PNG, GIF, WAV) depend on the encoder and its version; the decoded
content does not, so a dump stays equal when only the compressor changed and differs
when one pixel or sample did. Pillow is imported only when an image is decoded.
"""

from __future__ import annotations

import hashlib
import io
import wave


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def describe_image(blob: bytes, *, show_mode: bool = False) -> str:
    """``png shape=(H, W) rgba_sha256=...`` for one encoded image.

    The hash is of the pixels as displayed: decoded and converted to RGBA (8 bits per
    channel), so a gray image stored as one channel ("L") or as three equal channels ("RGB"),
    or an RGB image with or without an opaque alpha channel, hash alike; ``show_mode`` adds
    the stored mode. A GIF (videos) is decoded frame by frame: the shape is ``(T, H, W)`` and
    the frame durations (ms) and loop count are shown. Bytes that Pillow cannot decode are
    shown as ``undecodable bytes=N sha256=<of the bytes>``.
    """
    try:
        from PIL import Image, ImageSequence, UnidentifiedImageError
    except ImportError:  # pragma: no cover - Pillow is a dependency of anyboard's image support
        return f"undecodable (Pillow not installed) bytes={len(blob)} sha256={_sha256(blob)}"
    import numpy as np

    try:
        with Image.open(io.BytesIO(blob)) as img:
            fmt = (img.format or "image").lower()
            if fmt == "gif":
                frames = []
                durations = []
                for frame in ImageSequence.Iterator(img):
                    frames.append(np.asarray(frame.convert("RGBA")))
                    durations.append(frame.info.get("duration"))
                pixels = np.stack(frames)
                extra = f" durations_ms={durations} loop={img.info.get('loop')}"
            else:
                pixels = np.asarray(img.convert("RGBA"))
                extra = ""
            if show_mode:
                extra += f" mode={img.mode}"
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        return f"undecodable ({type(exc).__name__}) bytes={len(blob)} sha256={_sha256(blob)}"
    digest = _sha256(np.ascontiguousarray(pixels).tobytes())
    return f"{fmt} shape={tuple(pixels.shape[:-1])}{extra} rgba_sha256={digest}"


def describe_wav(blob: bytes) -> str:
    """``wav rate=R channels=C sampwidth=B frames=N sha256=...`` (hash of the PCM samples)."""
    try:
        with wave.open(io.BytesIO(blob)) as w:
            frames = w.readframes(w.getnframes())
            head = f"wav rate={w.getframerate()} channels={w.getnchannels()} sampwidth={w.getsampwidth()}"
            return f"{head} frames={w.getnframes()} sha256={_sha256(frames)}"
    except (wave.Error, EOFError, OSError) as exc:
        return f"undecodable ({type(exc).__name__}) bytes={len(blob)} sha256={_sha256(blob)}"
