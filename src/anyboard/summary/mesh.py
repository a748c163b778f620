"""Mesh and point-cloud summaries (TensorBoard's own mesh format).

On disk: ONE ``Summary`` with one ``Summary.Value`` per component given, in
the order vertices, faces, colors, tagged ``<tag>_VERTEX``, ``<tag>_FACE``,
``<tag>_COLOR``. Each carries plugin ``mesh`` metadata with content
``MeshPluginData(version=0, name=<tag>, content_type=VERTEX|FACE|COLOR,
json_config=<config JSON>, shape=<that tensor's shape>, components=<bitmask>)``
where the bitmask is the OR of ``1 << content_type`` over the components
present (14 for all three). TensorBoard groups the three values by ``name``.

Tensors (``tensor_content``, little-endian, row-major):

- vertices: float32 ``[B, N, 3]`` (x, y, z);
- faces: int32 ``[B, F, 3]``, vertex indices in ``[0, N)``;
- colors: uint8 ``[B, N, 3]`` (R, G, B, 0-255), one per vertex.
"""

from __future__ import annotations

import numpy as np

from anyboard.proto.mesh_pb2 import MeshPluginData
from anyboard.proto.summary_pb2 import Summary
from anyboard.summary.metadata import metadata
from anyboard.summary.tensor_util import make_tensor

PLUGIN_NAME = "mesh"
VERTEX = MeshPluginData.VERTEX
FACE = MeshPluginData.FACE
COLOR = MeshPluginData.COLOR
_SUFFIX: dict[int, str] = {VERTEX: "_VERTEX", FACE: "_FACE", COLOR: "_COLOR"}
_DTYPE: dict[int, type] = {VERTEX: np.float32, FACE: np.int32, COLOR: np.uint8}


def component_tag(tag: str, content_type: int) -> str:
    """The tag of one component: ``<tag>_VERTEX``, ``<tag>_FACE`` or ``<tag>_COLOR``."""
    return tag + _SUFFIX[content_type]


def mesh(
    tag: str,
    vertices: np.ndarray,
    faces: np.ndarray | None = None,
    colors: np.ndarray | None = None,
    json_config: str = "{}",
) -> Summary:
    """Return one mesh ``Summary`` (see the module doc).

    Arrays are expected to be valid already (the writer checks shapes,
    index ranges and color range); they are cast to the stored dtypes.
    """
    parts: list[tuple[int, np.ndarray]] = []
    given: tuple[tuple[int, np.ndarray | None], ...] = ((VERTEX, vertices), (FACE, faces), (COLOR, colors))
    for kind, array in given:
        if array is not None:
            parts.append((kind, np.asarray(array, dtype=_DTYPE[kind])))
    components = 0
    for kind, _ in parts:
        components |= 1 << kind
    values = []
    for kind, array in parts:
        content = MeshPluginData(
            version=0,
            name=tag,
            content_type=kind,  # type: ignore[arg-type]
            json_config=json_config,
            shape=list(array.shape),
            components=components,
        ).SerializeToString()
        values.append(
            Summary.Value(
                tag=component_tag(tag, kind),
                metadata=metadata(PLUGIN_NAME, content),
                tensor=make_tensor(array, tag=tag),
            )
        )
    return Summary(value=values)
