"""Custom-scalars dashboard layout.

On disk: one ``Summary.Value`` with tag ``custom_scalars__config__`` (the
only tag the plugin reads), plugin ``custom_scalars`` metadata (empty
content), and a rank-0 ``DT_STRING`` tensor holding
``Layout.SerializeToString()`` (:mod:`anyboard.proto.layout_pb2`). Within one
run TensorBoard shows the last layout written; layouts of several runs are
merged, categories matched by title.

The layout dict is the peers' format::

    {category_title: {chart_title: ["Multiline", [tag_regex, ...]]
                                 | ["Margin", [value_tag, lower_tag, upper_tag]]}}

A multiline chart plots every scalar tag matching one of its regexes; a
margin chart plots ``value_tag`` with a band between ``lower_tag`` and
``upper_tag`` (exact tag names).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from anyboard.proto.layout_pb2 import Chart, Layout
from anyboard.proto.summary_pb2 import Summary
from anyboard.proto.tensor_pb2 import TensorProto
from anyboard.proto.types_pb2 import DT_STRING
from anyboard.summary.metadata import metadata

PLUGIN_NAME = "custom_scalars"
CONFIG_TAG = "custom_scalars__config__"
_KINDS = {"multiline": "Multiline", "margin": "Margin"}


def _str_list(where: str, tags: Any) -> list[str]:
    if isinstance(tags, str | bytes) or not isinstance(tags, Sequence):
        raise TypeError(f"{CONFIG_TAG}: {where}: expected a list of tag names, got {type(tags).__name__}: {tags!r}")
    out = list(tags)
    bad = [t for t in out if not isinstance(t, str)]
    if bad:
        raise TypeError(f"{CONFIG_TAG}: {where}: tag names must be str, got {bad[0]!r}")
    for t in out:
        _utf8(where, "tag", t)
    return out


def _utf8(where: str, what: str, text: str) -> None:
    """A ``ValueError`` naming ``where`` if ``text`` cannot be written (proto strings are UTF-8)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            f"{CONFIG_TAG}: {where}: the {what} {text!r} cannot be encoded as UTF-8 (lone surrogate)"
        ) from None


def normalize(layout: Any) -> dict[str, dict[str, tuple[str, tuple[str, ...]]]]:
    """Check a layout dict and return it as ``{category: {title: (kind, tags)}}``.

    ``kind`` is ``"Multiline"`` or ``"Margin"`` (any letter case accepted on
    input). Order is kept.

    Raises:
        TypeError: a level is not a dict/list, or a name is not a str.
        ValueError: an unknown chart kind, an empty multiline tag list, a
            margin chart without exactly three tags, or a name that is not
            valid UTF-8 (a lone surrogate).
    """
    if not isinstance(layout, Mapping):
        raise TypeError(
            f"{CONFIG_TAG}: expected a layout dict {{category: {{title: [kind, tags]}}}}, got {type(layout).__name__}"
        )
    out: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = {}
    for category, charts in layout.items():
        if not isinstance(category, str):
            raise TypeError(f"{CONFIG_TAG}: category titles must be str, got {category!r}")
        _utf8(f"category {category!r}", "category title", category)
        if not isinstance(charts, Mapping):
            raise TypeError(
                f"{CONFIG_TAG}: category {category!r}: expected a dict {{title: [kind, tags]}}, got {type(charts).__name__}"
            )
        out[category] = {}
        for title, spec in charts.items():
            where = f"chart {category!r}/{title!r}"
            if not isinstance(title, str):
                raise TypeError(f"{CONFIG_TAG}: category {category!r}: chart titles must be str, got {title!r}")
            _utf8(where, "chart title", title)
            if isinstance(spec, str | bytes) or not isinstance(spec, Sequence) or len(spec) != 2:
                raise TypeError(
                    f"{CONFIG_TAG}: {where}: expected [kind, tags] with kind 'Multiline' or 'Margin', got {spec!r}"
                )
            kind = _KINDS.get(spec[0].lower()) if isinstance(spec[0], str) else None
            if kind is None:
                raise ValueError(f"{CONFIG_TAG}: {where}: chart kind must be 'Multiline' or 'Margin', got {spec[0]!r}")
            tags = _str_list(where, spec[1])
            if kind == "Margin" and len(tags) != 3:
                raise ValueError(
                    f"{CONFIG_TAG}: {where}: a Margin chart needs exactly [value, lower, upper] tags, got {len(tags)}: {tags!r}"
                )
            if kind == "Multiline" and not tags:
                raise ValueError(f"{CONFIG_TAG}: {where}: a Multiline chart needs at least one tag regex")
            out[category][title] = (kind, tuple(tags))
    return out


def layout_proto(layout: Mapping[str, Mapping[str, tuple[str, Sequence[str]]]]) -> Layout:
    """Build the ``Layout`` proto of a :func:`normalize`-d layout dict."""
    proto = Layout(version=0)
    for category, charts in layout.items():
        cat = proto.category.add(title=category)
        for title, (kind, tags) in charts.items():
            chart: Chart = cat.chart.add(title=title)
            if kind == "Margin":
                chart.margin.series.add(value=tags[0], lower=tags[1], upper=tags[2])
            else:
                chart.multiline.tag.extend(tags)
    return proto


def custom_scalars(layout: Layout | bytes) -> Summary:
    """Return the layout ``Summary`` for a ``Layout`` proto (or its serialized bytes)."""
    data = layout if isinstance(layout, bytes) else layout.SerializeToString()
    tensor = TensorProto(dtype=DT_STRING, string_val=[data])
    val = Summary.Value(tag=CONFIG_TAG, metadata=metadata(PLUGIN_NAME), tensor=tensor)
    return Summary(value=[val])
