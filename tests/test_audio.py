"""add_audio: WAV bytes decoded with ``wave``, TensorBoard's Python loader and the Rust server."""

from __future__ import annotations

import io
import warnings
import wave

import numpy as np
import pytest
from tbread import TensorBoardServer, audio_blob, python_accumulator, python_tensors

import anyboard
from anyboard.proto.plugins_pb2 import AudioPluginData


def _decode(wav: bytes) -> tuple[int, int, int, np.ndarray]:
    with wave.open(io.BytesIO(wav), "rb") as r:
        rate, channels, width = r.getframerate(), r.getnchannels(), r.getsampwidth()
        frames = np.frombuffer(r.readframes(r.getnframes()), dtype="<i2").reshape(-1, channels)
    return rate, channels, width, frames


def _clips(logdir: str, tag: str) -> list[tuple[int, bytes]]:
    out = []
    for e in anyboard.iter_run_events(logdir):
        for v in e.summary.value:
            if v.tag == tag:
                out.append((e.step, audio_blob(v)))
    return out


@pytest.mark.parametrize("fmt", ["compat", "tensor"])
def test_audio_samples_encoding_and_readback_by_python_loader_and_server(logdir, fmt):
    t = np.linspace(0, 1, 800, endpoint=False)
    mono = (0.5 * np.sin(2 * np.pi * 5 * t)).astype(np.float32)
    stereo = np.stack([mono, -mono], axis=1)
    ints = np.arange(-300, 300, dtype=np.int16)
    with anyboard.SummaryWriter(logdir, summary_format=fmt) as w:
        w.add_audio("mono", mono, 0, sample_rate=8000, walltime=100.0)
        w.add_audio("mono", mono[:, None] * 0.5, 1, sample_rate=8000, walltime=101.0)  # (L, 1)
        w.add_audio("stereo", stereo, 3, sample_rate=16000)
        w.add_audio("int16", ints, 0, 22050)
        w.add_audio("torch_layout", mono[None, :], 0, sample_rate=8000)  # (1, L)
        w.add_audio("mx", audio=mono, sample_rate=8000, global_step=7)  # MXBoard keyword
        w.add_audio("nan", np.array([np.nan, 0.5, -0.25]), 0, sample_rate=100)

    clips = _clips(logdir, "mono")
    assert [s for s, _ in clips] == [0, 1]
    rate, ch, width, frames = _decode(clips[0][1])
    assert (rate, ch, width) == (8000, 1, 2)
    np.testing.assert_array_equal(frames[:, 0], np.rint(mono.astype(np.float64) * 32767).astype(np.int16))
    _, _, _, frames1 = _decode(clips[1][1])
    np.testing.assert_array_equal(frames1[:, 0], np.rint(mono.astype(np.float64) * 0.5 * 32767).astype(np.int16))

    rate, ch, _, frames = _decode(_clips(logdir, "stereo")[0][1])
    assert (rate, ch) == (16000, 2)
    np.testing.assert_array_equal(frames, np.rint(stereo.astype(np.float64) * 32767).astype(np.int16))
    assert _decode(_clips(logdir, "int16")[0][1])[3][:, 0].tolist() == ints.tolist()
    assert _decode(_clips(logdir, "torch_layout")[0][1])[3].shape == (800, 1)
    assert _clips(logdir, "mx")[0][0] == 7
    assert _decode(_clips(logdir, "nan")[0][1])[3][:, 0].tolist() == [0, 16384, -8192]

    value = next(v for e in anyboard.iter_run_events(logdir) for v in e.summary.value if v.tag == "stereo")
    if fmt == "tensor":  # on-disk form: [1, 2] DT_STRING (wav, label) with AudioPluginData(encoding=WAV)
        assert [d.size for d in value.tensor.tensor_shape.dim] == [1, 2]
        assert value.metadata.plugin_data.plugin_name == "audio"
        assert AudioPluginData.FromString(value.metadata.plugin_data.content).encoding == AudioPluginData.WAV
    else:  # the peers' Summary.Audio, no metadata
        assert value.WhichOneof("value") == "audio" and not value.HasField("metadata")
        clip = value.audio
        assert (clip.sample_rate, clip.num_channels, clip.length_frames, clip.content_type) == (
            16000,
            2,
            800,
            "audio/wav",
        )

    acc = python_accumulator(logdir)
    assert set(acc.PluginTagToContent("audio")) == {"mono", "stereo", "int16", "torch_layout", "mx", "nan"}
    loaded = python_tensors(logdir, "stereo")
    # The loader's data-class migration keeps the clips and drops the label column.
    assert loaded[0][1] == 3 and loaded[0][2].shape == (1,)
    assert loaded[0][2][0] == _clips(logdir, "stereo")[0][1]

    with TensorBoardServer(logdir) as tb:
        tags = tb.wait_for(lambda: tb.get("/data/plugin/audio/tags").get(".", {}).get("int16"))
        assert tags["samples"] == 1
        entries = tb.get("/data/plugin/audio/audio", run=".", tag="mono", sample=0)
        assert [(e["step"], e["wall_time"]) for e in entries] == [(0, 100.0), (1, 101.0)]
        # The Rust server serves v1 audio (the peers' files too) without its content type.
        expected_type = "audio/wav" if fmt == "tensor" else "application/octet-stream"
        assert all(e["contentType"] == expected_type for e in entries)
        body = tb.get_raw("/data/plugin/audio/individualAudio?" + entries[0]["query"]).content
        assert body == clips[0][1]
        stereo_entry = tb.get("/data/plugin/audio/audio", run=".", tag="stereo", sample=0)[0]
        body = tb.get_raw("/data/plugin/audio/individualAudio?" + stereo_entry["query"]).content
        assert _decode(body)[1] == 2


def test_audio_clipping_warns_once_per_writer_and_tag(logdir):
    loud = np.array([2.0, -3.0, 0.5, np.inf])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with anyboard.SummaryWriter(logdir) as w:
            w.add_audio("loud", loud, 0, sample_rate=100)
            w.add_audio("loud", loud, 1, sample_rate=100)
            w.add_audio("quiet", loud / 10, 0, sample_rate=100)  # contains inf: clipped too
            w.add_audio("fine", loud[:3] / 10, 0, sample_rate=100)
    messages = [str(c.message) for c in caught]
    assert len([m for m in messages if "'loud'" in m]) == 1
    assert len([m for m in messages if "'quiet'" in m]) == 1
    assert not [m for m in messages if "'fine'" in m]
    assert _decode(_clips(logdir, "loud")[1][1])[3][:, 0].tolist() == [32767, -32767, 16384, 32767]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with anyboard.SummaryWriter(logdir + "2") as w:  # a new writer warns again
            w.add_audio("loud", loud, 0, sample_rate=100)
    assert len(caught) == 1


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"snd_tensor": np.zeros((10, 3))}, ValueError),
        ({"snd_tensor": np.zeros((2, 10, 1))}, ValueError),
        ({"snd_tensor": np.zeros((0,))}, ValueError),
        ({"snd_tensor": np.zeros(10, dtype=np.int32)}, TypeError),
        ({"snd_tensor": np.array(["a", "b"])}, TypeError),
        ({"snd_tensor": np.zeros(10), "sample_rate": 0}, ValueError),
        ({"snd_tensor": np.zeros(10), "sample_rate": 44100.5}, TypeError),
        ({}, TypeError),
    ],
)
def test_audio_bad_inputs_name_the_tag(logdir, kwargs, error):
    with anyboard.SummaryWriter(logdir) as w, pytest.raises(error, match="bad_clip"):
        w.add_audio("bad_clip", **kwargs)


def test_integer_valued_float_rates_and_big_endian_samples_are_accepted(logdir):
    """torch's writer takes sample_rate=16000.0; big-endian int16 is the same samples (it was refused
    with a message listing int16 as accepted)."""
    samples = (np.sin(np.arange(800) / 10) * 20000).astype(np.int16)
    with anyboard.SummaryWriter(logdir) as w:
        w.add_audio("float_rate", samples, 0, sample_rate=16000.0)
        w.add_audio("np_rate", samples, 0, sample_rate=np.float32(8000))
        w.add_audio("big_endian", samples.astype(">i2"), 0, sample_rate=16000)
        with pytest.raises(TypeError, match=r"'half'.*sample_rate must be an int"):
            w.add_audio("half", samples, 0, sample_rate=22050.5)
    native = _decode(_clips(logdir, "float_rate")[0][1])
    assert native[0] == 16000 and _decode(_clips(logdir, "np_rate")[0][1])[0] == 8000
    big = _decode(_clips(logdir, "big_endian")[0][1])
    np.testing.assert_array_equal(big[3], native[3])
    np.testing.assert_array_equal(native[3][:, 0], samples)
