"""add_scalar with display_name / summary_description, as the readers see it.

tensorboardX writes such a scalar as a ``simple_value`` with a metadata that holds
only the display name and description. In the default ``summary_format="compat"``
anyboard writes the same bytes, so scripts that read them back with the legacy
``EventAccumulator`` or tbparse find the value among the scalars; with
``summary_format="tensor"`` it is a rank-0 tensor of the scalars plugin.
"""

from __future__ import annotations

import pytest

import anyboard

tensorboardX = pytest.importorskip("tensorboardX")
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
tbparse = pytest.importorskip("tbparse")


def _write(writer_cls, logdir, **kwargs):
    with writer_cls(str(logdir), **kwargs) as w:
        for step in range(3):
            w.add_scalar("acc", 0.5 * step, step, display_name="Accuracy", summary_description="top-1")


def _accumulated(logdir):
    acc = event_accumulator.EventAccumulator(str(logdir), size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    return acc


def test_compat_is_read_like_tensorboardx(tmp_path):
    _write(tensorboardX.SummaryWriter, tmp_path / "tbx")
    _write(anyboard.SummaryWriter, tmp_path / "any")
    tbx, ours = _accumulated(tmp_path / "tbx"), _accumulated(tmp_path / "any")
    assert ours.Tags()["scalars"] == tbx.Tags()["scalars"] == ["acc"]
    assert ours.Tags()["tensors"] == tbx.Tags()["tensors"] == []
    assert [(e.step, e.value) for e in ours.Scalars("acc")] == [(e.step, e.value) for e in tbx.Scalars("acc")]
    assert ours.SummaryMetadata("acc").display_name == "Accuracy"
    assert ours.SummaryMetadata("acc").summary_description == "top-1"
    frames = [tbparse.SummaryReader(str(tmp_path / d)).scalars for d in ("tbx", "any")]
    assert frames[1][["step", "tag", "value"]].equals(frames[0][["step", "tag", "value"]])
    assert len(frames[1]) == 3


def test_tensor_format_keeps_the_tensor(tmp_path):
    _write(anyboard.SummaryWriter, tmp_path / "any", summary_format="tensor")
    acc = _accumulated(tmp_path / "any")
    assert acc.Tags()["scalars"] == []
    assert acc.Tags()["tensors"] == ["acc"]
    assert acc.SummaryMetadata("acc").plugin_data.plugin_name == "scalars"
    assert acc.SummaryMetadata("acc").display_name == "Accuracy"


def test_plugin_loader_shows_the_display_name(tmp_path):
    plugin_accumulator = pytest.importorskip("tensorboard.backend.event_processing.plugin_event_accumulator")
    _write(anyboard.SummaryWriter, tmp_path / "any")
    acc = plugin_accumulator.EventAccumulator(str(tmp_path / "any"))
    acc.Reload()
    assert acc.Tags()["tensors"] == ["acc"]
    md = acc.SummaryMetadata("acc")
    assert (md.plugin_data.plugin_name, md.display_name, md.summary_description) == ("scalars", "Accuracy", "top-1")
    assert [e.step for e in acc.Tensors("acc")] == [0, 1, 2]


def _write_positional(writer_cls, logdir):
    """tensorboardX's positional order: (tag, value, step, walltime, display_name, summary_description)."""
    with writer_cls(str(logdir)) as w:
        for step in range(3):
            w.add_scalar("acc", 0.5 * step, step, None, "Accuracy", "top-1")
        w.add_scalar("named", 1.0, 0, None, "Only a name")


def test_tensorboardx_positional_order_is_read_like_tensorboardx(tmp_path):
    _write_positional(tensorboardX.SummaryWriter, tmp_path / "tbx")
    _write_positional(anyboard.SummaryWriter, tmp_path / "any")
    tbx, ours = _accumulated(tmp_path / "tbx"), _accumulated(tmp_path / "any")
    assert sorted(ours.Tags()["scalars"]) == sorted(tbx.Tags()["scalars"]) == ["acc", "named"]
    assert ours.Tags()["tensors"] == tbx.Tags()["tensors"] == []
    assert [(e.step, e.value) for e in ours.Scalars("acc")] == [(e.step, e.value) for e in tbx.Scalars("acc")]
    for tag in ("acc", "named"):
        md, peer = ours.SummaryMetadata(tag), tbx.SummaryMetadata(tag)
        assert (md.display_name, md.summary_description) == (peer.display_name, peer.summary_description)
    assert ours.SummaryMetadata("acc").summary_description == "top-1"


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((), {"display_name": 5}, TypeError, "display_name must be a str, got int"),
        ((), {"summary_description": b"x"}, TypeError, "summary_description must be a str, got bytes"),
        ((), {"display_name": "\ud800"}, ValueError, "UTF-8"),
        ((None, "a", "b"), {"display_name": "c"}, TypeError, "both positionally"),
        ((None, "a", 3), {}, TypeError, "summary_description must be a str, got int"),
    ],
)
def test_bad_display_name_is_refused_on_the_call_and_keeps_earlier_data(tmp_path, args, kwargs, error, match):
    with anyboard.SummaryWriter(str(tmp_path)) as w:
        w.add_scalar("good", 1.0, 0)
        with pytest.raises(error, match=match) as info:
            w.add_scalar("bad", 1.0, 1, *args, **kwargs)
        assert "'bad'" in str(info.value)
        w.add_scalar("good", 2.0, 1)
    acc = _accumulated(tmp_path)
    assert acc.Tags()["scalars"] == ["good"]
    assert [e.value for e in acc.Scalars("good")] == [1.0, 2.0]
