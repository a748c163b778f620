"""Audio summaries.

On disk, by ``SummaryWriter(summary_format=...)``:

- ``"compat"`` (default), the peers' form: ``Summary.Value.audio``, a
  ``Summary.Audio{sample_rate, num_channels, length_frames,
  encoded_audio_string (the WAV), content_type="audio/wav"}`` without metadata,
  read by the legacy ``EventAccumulator`` (``Audio``) and tbparse (``.audio``)
  as the peers' files are. TensorBoard's Python loader serves it as
  ``audio/wav``, its Rust data server (as for the peers' files) as
  ``application/octet-stream``.
- ``"tensor"``: TensorBoard's v2 encoding, one ``Summary.Value`` whose tensor
  is ``DT_STRING`` of shape ``[1, 2]``, the single row being ``(wav_bytes,
  label)`` with an empty label, and whose metadata is plugin ``audio`` with
  content ``AudioPluginData(version=0, encoding=WAV)`` (the ``WAV`` encoding
  makes both TensorBoard loaders serve the clip as ``audio/wav``).

The WAV file is 16-bit signed little-endian PCM written with the standard
library :mod:`wave` module, mono or stereo (interleaved frames), at the given
sample rate.

Sample conversion (:func:`pcm16`): ``int16`` samples are stored as they are;
float samples are clipped to ``[-1, 1]`` (NaN becomes 0) and scaled by 32767
with rounding to the nearest integer, so ``1.0 -> 32767`` and ``-1.0 -> -32767``.
"""

from __future__ import annotations

import io
import wave

import numpy as np

from anyboard.proto.plugins_pb2 import AudioPluginData
from anyboard.proto.summary_pb2 import Summary
from anyboard.proto.tensor_pb2 import TensorProto
from anyboard.proto.types_pb2 import DT_STRING
from anyboard.summary.metadata import metadata

PLUGIN_NAME = "audio"
_CONTENT = AudioPluginData(version=0, encoding=AudioPluginData.WAV).SerializeToString()


def pcm16(samples: np.ndarray) -> np.ndarray:
    """Return ``samples`` as int16 PCM (see the module doc for the rule).

    Args:
        samples: ``int16``, or any float dtype with values nominally in
            ``[-1, 1]``; any shape.
    """
    if samples.dtype == np.int16:
        return samples
    x = np.nan_to_num(samples.astype(np.float64), nan=0.0, posinf=1.0, neginf=-1.0)
    np.clip(x, -1.0, 1.0, out=x)
    return np.rint(x * 32767.0).astype(np.int16)


def wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    """Encode ``samples`` of shape ``[frames, channels]`` as a 16-bit PCM WAV file."""
    pcm = pcm16(samples)
    channels = pcm.shape[1]
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(np.ascontiguousarray(pcm, dtype="<i2").tobytes())
    return buf.getvalue()


def audio(tag: str, samples: np.ndarray, sample_rate: int, summary_format: str = "compat") -> Summary:
    """Return an audio ``Summary`` holding one clip.

    Args:
        tag: the tag.
        samples: ``[frames, channels]`` with 1 or 2 channels; ``int16`` or float.
        sample_rate: frames per second (a positive int).
        summary_format: ``"compat"`` or ``"tensor"`` (module doc).
    """
    if summary_format == "compat":
        clip = Summary.Audio(
            sample_rate=float(sample_rate),
            num_channels=int(samples.shape[1]),
            length_frames=int(samples.shape[0]),
            encoded_audio_string=wav_bytes(samples, sample_rate),
            content_type="audio/wav",
        )
        return Summary(value=[Summary.Value(tag=tag, audio=clip)])
    tensor = TensorProto(dtype=DT_STRING)
    tensor.tensor_shape.dim.add().size = 1
    tensor.tensor_shape.dim.add().size = 2
    tensor.string_val.extend([wav_bytes(samples, sample_rate), b""])
    return Summary(value=[Summary.Value(tag=tag, metadata=metadata(PLUGIN_NAME, _CONTENT), tensor=tensor)])
