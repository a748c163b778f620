"""Text summaries.

Stored as a ``DT_STRING`` tensor with plugin ``text`` metadata (empty content,
``TextPluginData(version=0)``) under the tag as given (the peers append
``/text_summary``). One string: shape ``[1]`` with ``summary_format="compat"``
(the default, the peers' form: TensorBoard renders it as a one-cell table),
rank 0 with ``"tensor"`` (rendered as one Markdown block, as TF2's
``tf.summary.text`` writes it); a list or table of strings: rank 1 or 2
(rendered as an HTML table) in both.

:func:`text_event` writes the whole ``Event`` of one string without building
protobuf objects: the bytes protobuf writes for ``text(tag, s)`` at that wall
time and step (``Event``: wall_time 1, step 2, summary 5; ``Summary.value`` 1;
``Value``: tag 1, tensor 8, metadata 9; the tensor's dtype field, then
``string_val`` 8), with the parts that depend on neither the tag nor the
string taken once from protobuf itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from anyboard._wire import event_bytes, length_prefix
from anyboard.proto.summary_pb2 import Summary
from anyboard.summary.metadata import metadata
from anyboard.summary.tensor_util import make_tensor

PLUGIN_NAME = "text"


def text(tag: str, text: str | Sequence[str] | np.ndarray, summary_format: str = "tensor") -> Summary:
    """Return a text ``Summary``; ``text`` is a str or a 1-D/2-D array of str (module doc).

    The default is the ``"tensor"`` form (what :func:`text_event` writes); the writer passes its format.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if isinstance(text, str):
        array = np.array(text, dtype=object)
        if summary_format == "compat":
            array = array.reshape(1)
    else:
        array = np.array(text, dtype=object)
        if array.ndim not in (1, 2) or not all(isinstance(x, str) for x in array.flat):
            raise TypeError(f"tag {tag!r}: expected a str, or a 1-D or 2-D list of str, got {type(text).__name__}")
    val = Summary.Value(tag=tag, metadata=metadata(PLUGIN_NAME), tensor=make_tensor(array, tag=tag))
    return Summary(value=[val])


_PARTS: dict[str, tuple[bytes, bytes]] = {}  # format -> (tensor fields before the string's length, metadata field)


def _parts(summary_format: str) -> tuple[bytes, bytes]:
    parts = _PARTS.get(summary_format)
    if parts is None:
        empty = np.array("", dtype=object)
        if summary_format == "compat":
            empty = empty.reshape(1)
        tensor = make_tensor(empty).SerializeToString()
        if not tensor.endswith(b"\x42\x00"):  # string_val (field 8) holding "": the last field
            raise RuntimeError(f"unexpected DT_STRING tensor encoding {tensor!r}")
        meta = metadata(PLUGIN_NAME).SerializeToString()
        parts = _PARTS[summary_format] = (tensor[:-1], b"\x4a" + length_prefix(len(meta)) + meta)
    return parts


def text_event(wall_time: float, step: int, tag: str, text: str) -> bytes:
    """Serialized ``Event`` of ``text(tag, text, "tensor")`` (one str, rank 0) at ``wall_time`` and ``step``.

    Byte for byte what protobuf writes (module doc). Raises ``UnicodeEncodeError``
    for a str that is not valid UTF-8 (lone surrogates), as protobuf does.
    """
    return _text_event(wall_time, step, tag, text, "tensor")


def text_event_compat(wall_time: float, step: int, tag: str, text: str) -> bytes:
    """:func:`text_event` in the ``"compat"`` form: the string as a shape ``[1]`` tensor."""
    return _text_event(wall_time, step, tag, text, "compat")


def _text_event(wall_time: float, step: int, tag: str, text: str, summary_format: str) -> bytes:
    head, meta = _parts(summary_format)
    data = text.encode("utf-8")
    tensor = head + length_prefix(len(data)) + data
    name = tag.encode("utf-8")
    field = b"\x0a" + length_prefix(len(name)) + name if name else b""  # an empty tag is omitted, as protobuf does
    value = field + b"\x42" + length_prefix(len(tensor)) + tensor + meta
    summary = b"\x0a" + length_prefix(len(value)) + value
    return event_bytes(wall_time, step, summary)
