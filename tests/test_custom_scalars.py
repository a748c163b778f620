"""Custom-scalars layouts: on disk, accumulated across calls, served by both loaders."""

from __future__ import annotations

import pytest
from tbread import TensorBoardServer, python_tensors

import anyboard
from anyboard.proto.layout_pb2 import Layout
from anyboard.summary.custom_scalars import CONFIG_TAG


def _layouts(logdir):
    out = []
    for e in anyboard.iter_run_events(logdir):
        for v in e.summary.value:
            if v.tag == CONFIG_TAG:
                assert v.metadata.plugin_data.plugin_name == "custom_scalars"
                assert v.tensor.dtype == 7 and len(v.tensor.tensor_shape.dim) == 0  # rank-0 DT_STRING
                out.append(Layout.FromString(v.tensor.string_val[0]))
    return out


def _charts(layout_json):
    return {
        (c["title"], ch["title"]): ch.get("multiline", ch.get("margin"))
        for c in layout_json["category"]
        for ch in c["chart"]
    }


def test_layout_dict_and_accumulated_charts_on_disk_and_in_both_servers(logdir):
    with anyboard.SummaryWriter(logdir) as w:
        for step in range(3):
            w.add_scalar("loss/train", 1.0 / (step + 1), step)
            w.add_scalar("loss/val", 2.0 / (step + 1), step)
        w.add_custom_scalars(
            {
                "Losses": {
                    "both": ["Multiline", ["loss/.*"]],
                    "band": ["Margin", ["loss/train", "loss/val", "loss/train"]],
                },
                "Other": {"val": ["multiline", ["loss/val"]]},
            }
        )
        w.add_custom_scalars_multilinechart(["loss/train"], category="Extra", title="train only")
        w.add_custom_scalars_marginchart(["a", "b", "c"], title="margin")  # category 'default'
        w.add_custom_scalars_multilinechart(["x.*"], category="Losses", title="both")  # replaces the chart

    layouts = _layouts(logdir)
    assert len(layouts) == 4  # the merged layout is written on every call
    last = layouts[-1]
    assert [c.title for c in last.category] == ["Losses", "Other", "Extra", "default"]
    losses = last.category[0]
    assert [c.title for c in losses.chart] == ["both", "band"]
    assert list(losses.chart[0].multiline.tag) == ["x.*"]
    band = losses.chart[1].margin.series[0]
    assert (band.value, band.lower, band.upper) == ("loss/train", "loss/val", "loss/train")
    margin = last.category[3].chart[0]
    assert margin.title == "margin" and margin.margin.series[0].upper == "c"

    loaded = python_tensors(logdir, CONFIG_TAG)
    assert Layout.FromString(loaded[-1][2].item()) == last

    expected = {
        ("Losses", "both"): {"tag": ["x.*"]},
        ("Losses", "band"): {"series": [{"value": "loss/train", "lower": "loss/val", "upper": "loss/train"}]},
        ("Other", "val"): {"tag": ["loss/val"]},
        ("Extra", "train only"): {"tag": ["loss/train"]},
        ("default", "margin"): {"series": [{"value": "a", "lower": "b", "upper": "c"}]},
    }
    for load_fast in (True, False):
        with TensorBoardServer(logdir, load_fast=load_fast) as tb:
            layout = tb.wait_for(lambda: tb.get("/data/plugin/custom_scalars/layout"))
            assert _charts(layout) == expected, load_fast
            got = tb.get("/data/plugin/custom_scalars/scalars", run=".", tag="loss/.*")
            assert got["regex_valid"] and set(got["tag_to_events"]) == {"loss/train", "loss/val"}
            assert [s for _, s, _ in got["tag_to_events"]["loss/val"]] == [0, 1, 2]


def test_layouts_of_two_runs_are_merged_by_the_server(logdir):
    with anyboard.SummaryWriter(logdir + "/a") as a, anyboard.SummaryWriter(logdir + "/b") as b:
        a.add_custom_scalars_multilinechart(["acc"], category="C", title="from a")
        b.add_custom_scalars_multilinechart(["loss"], category="C", title="from b")
    with TensorBoardServer(logdir) as tb:
        layout = tb.wait_for(lambda: tb.get("/data/plugin/custom_scalars/layout"))
        assert _charts(layout) == {("C", "from a"): {"tag": ["acc"]}, ("C", "from b"): {"tag": ["loss"]}}


@pytest.mark.parametrize(
    ("layout", "error", "words"),
    [
        (["not", "a", "dict"], TypeError, "layout dict"),
        ({"cat": ["Multiline", ["a"]]}, TypeError, "'cat'"),
        ({"cat": {"t": ["Bars", ["a"]]}}, ValueError, "'Multiline' or 'Margin'"),
        ({"cat": {"t": ["Margin", ["a", "b"]]}}, ValueError, "exactly"),
        ({"cat": {"t": ["Multiline", []]}}, ValueError, "at least one"),
        ({"cat": {"t": ["Multiline", "a.*"]}}, TypeError, "list of tag names"),
        ({"cat": {"t": ["Multiline", ["a", 3]]}}, TypeError, "must be str"),
        ({"cat": {"t": "Multiline"}}, TypeError, "[kind, tags]"),
        ({1: {"t": ["Multiline", ["a"]]}}, TypeError, "category titles"),
        ({"cat": {"t": ["Multiline", ["a\ud800"]]}}, ValueError, "chart 'cat'/'t': the tag"),
        ({"cat": {"t\udfff": ["Multiline", ["a"]]}}, ValueError, "the chart title"),
        ({"c\ud800": {"t": ["Margin", ["a", "b", "c"]]}}, ValueError, "the category title"),
    ],
)
def test_bad_layouts_raise_and_name_the_config_tag(logdir, layout, error, words):
    with anyboard.SummaryWriter(logdir) as w:
        with pytest.raises(error, match=CONFIG_TAG) as info:
            w.add_custom_scalars(layout)
        # A failed call leaves the accumulated layout unchanged.
        w.add_custom_scalars_multilinechart(["ok"], title="fine")
    assert words in str(info.value)
    assert len(_layouts(logdir)) == 1 and [c.title for c in _layouts(logdir)[0].category[0].chart] == ["fine"]


def test_chart_helpers_check_their_tags(logdir):
    with anyboard.SummaryWriter(logdir) as w:
        with pytest.raises(ValueError, match="exactly"):
            w.add_custom_scalars_marginchart(["a", "b"])
        with pytest.raises(TypeError, match="category titles"):
            w.add_custom_scalars_multilinechart(["a"], category=None)
