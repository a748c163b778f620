"""Text summaries.

Stored as a ``DT_STRING`` tensor with plugin ``text`` metadata under the tag
as given: rank 0 for one string (rendered as Markdown), rank 1 or 2 for a
list or table of strings (rendered as an HTML table).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from anyboard.proto.summary_pb2 import Summary
from anyboard.summary.metadata import metadata
from anyboard.summary.tensor_util import make_tensor

PLUGIN_NAME = "text"


def text(tag: str, text: str | Sequence[str] | np.ndarray) -> Summary:
    """Return a text ``Summary``; ``text`` is a str or a 1-D/2-D array of str."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if isinstance(text, str):
        array = np.array(text, dtype=object)
    else:
        array = np.array(text, dtype=object)
        if array.ndim not in (1, 2) or not all(isinstance(x, str) for x in array.flat):
            raise TypeError(f"tag {tag!r}: expected a str, or a 1-D or 2-D list of str, got {type(text).__name__}")
    val = Summary.Value(tag=tag, metadata=metadata(PLUGIN_NAME), tensor=make_tensor(array, tag=tag))
    return Summary(value=[val])
