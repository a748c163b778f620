"""Raw tensor summaries (``add_tensor``).

Stored as a ``TensorProto`` of the array's own dtype and shape with plugin
``tensor`` metadata, like torch's ``add_tensor``. TensorBoard has no dashboard
for it; it is there for users who read it back (anyboard's reader, or the
Python loader's ``Tensors(tag)``).
"""

from __future__ import annotations

import numpy as np

from anyboard.proto.summary_pb2 import Summary
from anyboard.summary.metadata import metadata
from anyboard.summary.tensor_util import make_tensor

PLUGIN_NAME = "tensor"


def tensor(tag: str, array: np.ndarray) -> Summary:
    """Return ``array`` as a tensor ``Summary`` (any shape, numeric/bool/str)."""
    val = Summary.Value(tag=tag, metadata=metadata(PLUGIN_NAME), tensor=make_tensor(array, tag=tag))
    return Summary(value=[val])
