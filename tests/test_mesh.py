"""add_mesh: one event with VERTEX/FACE/COLOR values, read back by the Python loader and the server."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tbread import TensorBoardServer, python_accumulator, python_tensors

import anyboard
from anyboard.proto.mesh_pb2 import MeshPluginData
from anyboard.summary.tensor_util import make_ndarray

VERTS = np.array([[[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]], dtype=np.float64) * 1.5
FACES = np.array([[[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]]], dtype=np.int64)
COLORS = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10.4, 20.6, 30]]])


def test_mesh_components_in_one_event_loader_and_server(logdir):
    config = {"camera": {"cls": "PerspectiveCamera", "fov": 75}}
    with anyboard.SummaryWriter(logdir) as w:
        w.add_mesh("tetra", VERTS, colors=COLORS, faces=FACES, config_dict=config, global_step=2, walltime=50.0)
        w.add_mesh("cloud", VERTS[0] + 1, global_step=0)  # [N, 3] point cloud, vertices only

    events = [e for e in anyboard.iter_run_events(logdir) if e.HasField("summary")]
    assert [[v.tag for v in e.summary.value] for e in events] == [
        ["tetra_VERTEX", "tetra_FACE", "tetra_COLOR"],
        ["cloud_VERTEX"],
    ]
    tetra = events[0]
    assert (tetra.step, tetra.wall_time) == (2, 50.0)
    expected = {
        "tetra_VERTEX": (VERTS.astype(np.float32), 1),
        "tetra_FACE": (FACES.astype(np.int32), 2),
        "tetra_COLOR": (np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 21, 30]]], np.uint8), 3),
    }
    for v in tetra.summary.value:
        array, kind = expected[v.tag]
        got = make_ndarray(v.tensor)
        assert got.dtype == array.dtype
        np.testing.assert_array_equal(got, array)
        md = MeshPluginData.FromString(v.metadata.plugin_data.content)
        assert v.metadata.plugin_data.plugin_name == "mesh"
        assert (md.name, md.content_type, list(md.shape), md.components) == ("tetra", kind, list(array.shape), 14)
        assert json.loads(md.json_config) == config
    cloud_md = MeshPluginData.FromString(events[1].summary.value[0].metadata.plugin_data.content)
    assert cloud_md.components == 2 and list(cloud_md.shape) == [1, 4, 3] and cloud_md.json_config == "{}"

    assert set(python_accumulator(logdir).PluginTagToContent("mesh")) == {
        "tetra_VERTEX",
        "tetra_FACE",
        "tetra_COLOR",
        "cloud_VERTEX",
    }
    np.testing.assert_array_equal(python_tensors(logdir, "tetra_FACE")[0][2], FACES)

    with TensorBoardServer(logdir) as tb:
        tags = tb.wait_for(lambda: tb.get("/data/plugin/mesh/tags").get("."))
        assert set(tags) == {"tetra", "cloud"}
        meshes = tb.get("/data/plugin/mesh/meshes", run=".", tag="tetra", sample=0)
        assert sorted(m["content_type"] for m in meshes) == [1, 2, 3]
        assert all(m["step"] == 2 and m["wall_time"] == 50.0 and m["data_shape"] == [1, 4, 3] for m in meshes)
        assert all(json.loads(m["config"]) == config for m in meshes)  # served as the JSON string
        for name, dtype, array in (
            ("VERTEX", "<f4", VERTS),
            ("FACE", "<i4", FACES),
            ("COLOR", "u1", expected["tetra_COLOR"][0]),
        ):
            raw = tb.get_raw(f"/data/plugin/mesh/data?run=.&tag=tetra&content_type={name}&step=2&sample=0").content
            np.testing.assert_array_equal(np.frombuffer(raw, dtype=dtype), array[0].ravel().astype(dtype))
        cloud = tb.get("/data/plugin/mesh/meshes", run=".", tag="cloud", sample=0)
        assert [m["content_type"] for m in cloud] == [1]


def test_mesh_batch_of_two(logdir):
    verts = np.random.default_rng(1).random((2, 5, 3))
    faces = np.array([[[0, 1, 2]], [[2, 3, 4]]])
    with anyboard.SummaryWriter(logdir) as w:
        w.add_mesh("pair", verts, faces=faces)
    values = {v.tag: make_ndarray(v.tensor) for e in anyboard.iter_run_events(logdir) for v in e.summary.value}
    assert values["pair_VERTEX"].shape == (2, 5, 3) and values["pair_FACE"].shape == (2, 1, 3)
    assert "pair_COLOR" not in values


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"vertices": np.zeros((1, 4, 2))}, ValueError, "[B, N, 3]"),
        ({"vertices": np.zeros(4)}, ValueError, "[B, N, 3]"),
        ({"vertices": np.array([[[np.nan, 0, 0]]])}, ValueError, "finite"),
        ({"vertices": np.array([[[1e39, 0, 0]]])}, ValueError, "float32"),
        ({"vertices": np.array([[["a", "b", "c"]]])}, TypeError, "real numbers"),
        ({"vertices": VERTS, "colors": COLORS[:, :3]}, ValueError, "vertices' shape"),
        ({"vertices": VERTS, "colors": COLORS * 2}, ValueError, "[0, 255]"),
        ({"vertices": VERTS, "faces": FACES + 1}, ValueError, "[0, 4)"),
        ({"vertices": VERTS, "faces": FACES - 1}, ValueError, "[0, 4)"),
        ({"vertices": VERTS, "faces": FACES.astype(float)}, TypeError, "integer"),
        ({"vertices": VERTS, "faces": np.concatenate([FACES, FACES])}, ValueError, "batch size"),
        ({"vertices": VERTS, "faces": FACES[..., :2]}, ValueError, "[B, N, 3]"),
        ({"vertices": VERTS, "config_dict": {"f": object()}}, TypeError, "JSON"),
        ({"vertices": VERTS, "config_dict": "{}"}, TypeError, "dict"),
    ],
)
def test_mesh_bad_inputs_name_the_tag(logdir, kwargs, error, words):
    with anyboard.SummaryWriter(logdir) as w, pytest.raises(error, match="bad_mesh") as info:
        w.add_mesh("bad_mesh", **kwargs)
    assert words in str(info.value)
