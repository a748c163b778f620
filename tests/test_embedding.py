"""add_embedding: projector files, read back through a real TensorBoard."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tbread import TensorBoardServer

import anyboard
from anyboard import projector

PROJ = "/data/plugin/projector"


def _grid_cell(sprite: np.ndarray, k: int, w: int, h: int) -> np.ndarray:
    """Thumbnail ``k`` as TensorBoard's frontend finds it: ``ncols = floor(width / w)``, row-major."""
    ncols = sprite.shape[1] // w
    r, c = divmod(k, ncols)
    return sprite[r * h : (r + 1) * h, c * w : (c + 1) * w]


def test_embeddings_read_back_through_tensorboard(logdir):
    rng = np.random.default_rng(0)
    mat = rng.standard_normal((7, 5)).astype(np.float32)
    thumbs = rng.integers(0, 256, size=(7, 3, 4, 6), dtype=np.uint8)  # uint8, non-square (H=4, W=6)
    labels = ["cat", "tab\there", "new\nline", "", "  ", "ünï", "last"]
    table = [[i, f"name{i}", "x" if i % 2 else ""] for i in range(7)]
    with anyboard.SummaryWriter(logdir) as w:
        w.add_embedding(mat, metadata=labels, label_img=thumbs, tag="feat/a")
        w.add_embedding(mat * 2, table, global_step=3, metadata_header=["idx", "name", "flag"])
        w.add_embedding("mx", mat[:3], ["a", "b", "c"], None, 2)  # MXBoard positional spelling
        w.add_embedding(tag="mx2", embedding=mat[:2], labels=[["h1", "h2"], [1, 2], [3, 4]])  # header as first row
        w.add_embedding(mat + 1, metadata=labels, label_img=thumbs, tag="feat/a")  # same tag+step: replaces
        w.flush()
    with TensorBoardServer(logdir) as tb:
        assert tb.wait_for(lambda: "." in tb.get(PROJ + "/runs"))
        info = tb.wait_for(lambda: tb.get(PROJ + "/info", run="."))
        names = sorted(e["tensorName"] for e in info["embeddings"])
        assert names == ["default:00003", "feat/a:00000", "mx2:00000", "mx:00002"]
        by_name = {e["tensorName"]: e for e in info["embeddings"]}
        assert by_name["feat/a:00000"]["sprite"]["singleImageDim"] == [6, 4]
        assert [int(x) for x in by_name["feat/a:00000"]["tensorShape"]] == [7, 5]

        raw = tb.get(PROJ + "/tensor", run=".", name="feat/a:00000")
        np.testing.assert_array_equal(np.frombuffer(raw, "<f4").reshape(7, 5), mat + 1)  # exact float32 round trip
        raw = tb.get(PROJ + "/tensor", run=".", name="default:00003")
        np.testing.assert_array_equal(np.frombuffer(raw, "<f4").reshape(7, 5), mat * 2)

        text = tb.get(PROJ + "/metadata", run=".", name="feat/a:00000")
        text = text.decode() if isinstance(text, bytes) else text
        assert text.split("\n")[:-1] == ["cat", "tab\\there", "new\\nline", "<empty>", "<empty>", "ünï", "last"]
        text = tb.get(PROJ + "/metadata", run=".", name="default:00003")
        text = text.decode() if isinstance(text, bytes) else text
        lines = text.split("\n")[:-1]
        assert (
            lines[0] == "idx\tname\tflag" and lines[1] == "0\tname0\t" and lines[2] == "1\tname1\tx" and len(lines) == 8
        )
        text = tb.get(PROJ + "/metadata", run=".", name="mx2:00000")
        text = text.decode() if isinstance(text, bytes) else text
        assert text == "h1\th2\n1\t2\n3\t4\n"

        png = tb.get(PROJ + "/sprite_image", run=".", name="feat/a:00000")
        sprite = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
        assert sprite.shape[0] <= 8192 and sprite.shape[1] <= 8192
        for k in range(7):  # uint8 thumbnails come back exactly (the peers saturate them to white)
            np.testing.assert_array_equal(_grid_cell(sprite, k, 6, 4), thumbs[k].transpose(1, 2, 0))


def test_float_thumbnails_scaled_and_gray_and_rgba():
    imgs = np.linspace(0, 1, 2 * 1 * 3 * 3, dtype=np.float32).reshape(2, 1, 3, 3)
    png, dim = projector.sprite_png(imgs)
    assert dim == (3, 3)
    sprite = np.asarray(Image.open(io.BytesIO(png)))
    assert sprite.ndim == 2
    np.testing.assert_array_equal(_grid_cell(sprite, 1, 3, 3), np.rint(imgs[1, 0] * 255).astype(np.uint8))
    rgba = np.full((3, 4, 2, 5), 200, np.uint8)
    png, dim = projector.sprite_png(rgba)
    image = Image.open(io.BytesIO(png))
    assert image.mode == "RGBA" and dim == (5, 2)


def _check_downscaled(n: int, thumb_h: int, thumb_w: int, limit: int) -> None:
    colors = (np.arange(n) % 251).astype(np.uint8)
    imgs = np.broadcast_to(colors[:, None, None, None], (n, 1, thumb_h, thumb_w)).copy()  # constant per image
    png, (w, h) = projector.sprite_png(imgs)
    sprite = np.asarray(Image.open(io.BytesIO(png)))
    assert sprite.shape[0] <= limit and sprite.shape[1] <= limit
    assert (w, h) != (thumb_w, thumb_h) and abs(w / h - thumb_w / thumb_h) < 0.1  # aspect ratio kept
    for k in (0, 1, 57, n - 1):
        cell = _grid_cell(sprite, k, w, h)
        assert cell.shape == (h, w) and (cell == colors[k]).all()


def test_sprite_is_downscaled_to_fit_the_limit(monkeypatch):
    monkeypatch.setattr(projector, "MAX_SPRITE_PX", 600)
    _check_downscaled(1000, 30, 20, 600)


@pytest.mark.slow
def test_sprite_is_downscaled_to_fit_8192_px():
    _check_downscaled(3000, 300, 200, 8192)


def _config(logdir):
    from google.protobuf import text_format

    from anyboard.proto.projector_config_pb2 import ProjectorConfig

    return text_format.Parse(Path(logdir, "projector_config.pbtxt").read_text(), ProjectorConfig())


def test_non_square_thumbnails_round_trip_on_a_square_grid_of_cells(logdir):
    """H != W is kept; the grid is ncols x ncols cells (TensorBoard finds a row as index / spritesPerColumn)."""
    rng = np.random.default_rng(1)
    thumbs = rng.integers(1, 256, size=(5, 3, 3, 8), dtype=np.uint8)  # 5 RGB thumbnails, H=3, W=8
    with anyboard.SummaryWriter(logdir) as w:
        w.add_embedding(np.ones((5, 2)), label_img=thumbs, tag="wide")
        w.add_embedding(np.ones((6, 2)), label_img=np.full((6, 1, 4, 4), 9, np.uint8), tag="six")
    entries = {e.tensor_name: e for e in _config(logdir).embeddings}
    assert list(entries["wide:00000"].sprite.single_image_dim) == [8, 3]  # [W, H]
    sprite = np.asarray(Image.open(Path(logdir, "00000", "wide", "sprite.png")))
    assert sprite.shape == (3 * 3, 3 * 8, 3)  # ncols = 3: 3 rows of 3 cells, the last one partly empty
    for k in range(5):
        np.testing.assert_array_equal(_grid_cell(sprite, k, 8, 3), thumbs[k].transpose(1, 2, 0))
    assert not sprite[6:, 8:].any()  # unused cells are zeros
    six = np.asarray(Image.open(Path(logdir, "00000", "six", "sprite.png")))
    assert six.shape == (3 * 4, 3 * 4)  # 6 points: still 3 x 3 cells, so spritesPerRow == spritesPerColumn


def test_elongated_thumbnails_that_cannot_keep_their_aspect_ratio_are_refused_naming_the_tag(logdir, monkeypatch):
    monkeypatch.setattr(projector, "MAX_SPRITE_PX", 64)
    with anyboard.SummaryWriter(logdir) as w:
        w.add_embedding(np.ones((4, 2)), label_img=np.zeros((4, 1, 2, 30)), tag="fits")  # 2 x 2 cells of 2x30: as is
        w.add_embedding(np.ones((4, 2)), label_img=np.zeros((4, 1, 10, 40)), tag="shrinks")  # 2 x 2 cells: to 8x32
        with pytest.raises(ValueError, match=r"'thin'.*1x200.*aspect ratio"):
            w.add_embedding(np.ones((4, 2)), label_img=np.zeros((4, 1, 1, 200)), tag="thin", global_step=1)
        with pytest.raises(ValueError, match=r"'many'.*even at 1x1 px"):
            w.add_embedding(np.ones((4097, 2)), label_img=np.zeros((4097, 1, 1, 1)), tag="many", global_step=1)
    entries = {e.tensor_name: e for e in _config(logdir).embeddings}
    assert list(entries["fits:00000"].sprite.single_image_dim) == [30, 2]
    assert list(entries["shrinks:00000"].sprite.single_image_dim) == [32, 8]
    assert sorted(entries) == ["fits:00000", "shrinks:00000"]
    assert not Path(logdir, "00001").exists()  # the refused calls wrote nothing


def test_sprite_grid_keeps_the_aspect_ratio_within_rounding():
    for n, h, w in [(3000, 300, 200), (10, 5000, 37), (1, 9000, 100), (70000, 3, 2)]:
        th, tw, ncols = projector.sprite_grid(n, h, w, "t")
        assert ncols * ncols >= n and ncols * max(th, tw) <= projector.MAX_SPRITE_PX
        assert max(th, tw) == min(max(h, w), projector.MAX_SPRITE_PX // ncols)
        assert abs(th - h * tw / w) <= 1 or abs(tw - w * th / h) <= 1  # aspect kept up to one pixel
    with pytest.raises(ValueError, match="'t'"):
        projector.sprite_grid(1, 100_000, 10, "t")  # the short side would be 0.8 px


def test_tsv_is_exact_and_fast_formatted():
    mat = np.array([[0.1, -1e-30, 3e38], [1.0, 2.5, -0.0]], np.float32)
    text = projector.tensor_tsv(mat).decode()
    back = np.array([[float(x) for x in line.split("\t")] for line in text.splitlines()], np.float32)
    np.testing.assert_array_equal(back, mat)


@pytest.mark.parametrize("tag", ["a\x00b", "x\ny"])
def test_control_characters_in_an_embedding_tag_are_refused_and_write_nothing(tmp_path, tag):
    logdir = tmp_path / "logs"
    with anyboard.SummaryWriter(str(logdir)) as w, pytest.raises(ValueError, match="control character"):
        w.add_embedding(np.ones((2, 2)), metadata=["a", "b"], tag=tag, global_step=1)
    assert not (logdir / "00001").exists()


@pytest.mark.parametrize("tag", ["..", ".", "../../escape", "/abs/path", "..\\..\\win", "%2e%2e"])
def test_tag_never_escapes_logdir(tmp_path, tag):
    logdir = tmp_path / "inner" / "logs"
    with anyboard.SummaryWriter(str(logdir)) as w:
        w.add_embedding(np.ones((2, 2)), metadata=["a", "b"], tag=tag, global_step=1)
    outside = [p for p in tmp_path.rglob("*") if not str(p).startswith(str(logdir)) and p.is_file()]
    assert outside == []
    step_dir = logdir / "00001"
    (entry,) = list(step_dir.iterdir())
    assert entry.parent == step_dir and (entry / "tensors.tsv").is_file()
    config = (logdir / "projector_config.pbtxt").read_text()
    assert 'tensor_path: "00001/' in config


def test_config_merged_across_writers_threads_and_processes(logdir):
    with anyboard.SummaryWriter(logdir) as w1, anyboard.SummaryWriter(logdir) as w2:
        w1.add_embedding(np.ones((2, 2)), metadata=["a", "b"], tag="shared")
        w2.add_embedding(np.zeros((2, 2)), tag="shared")  # same tag and step: one entry, the latest files
        w2.add_embedding(np.ones((2, 2)), tag="other")
        threads = [
            threading.Thread(target=w1.add_embedding, args=(np.ones((2, 2)),), kwargs={"tag": f"t{i}"})
            for i in range(8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    code = (
        "import numpy as np, anyboard, sys\n"
        "with anyboard.SummaryWriter(sys.argv[1]) as w:\n"
        "    w.add_embedding(np.ones((3, 2)), tag='child')\n"
    )
    subprocess.run([sys.executable, "-c", code, logdir], check=True, timeout=120)
    from google.protobuf import text_format

    from anyboard.proto.projector_config_pb2 import ProjectorConfig

    config = text_format.Parse(Path(logdir, "projector_config.pbtxt").read_text(), ProjectorConfig())
    names = [e.tensor_name for e in config.embeddings]
    assert sorted(names) == sorted(["shared:00000", "other:00000", "child:00000", *[f"t{i}:00000" for i in range(8)]])
    shared = Path(logdir, "00000", "shared", "tensors.tsv").read_text()
    assert shared == "0\t0\n0\t0\n"
    assert not os.path.exists(os.path.join(logdir, "00000", "shared", "metadata.tsv"))  # stale file removed
    assert "metadata_path" not in str(next(e for e in config.embeddings if e.tensor_name == "shared:00000"))


def test_bad_embedding_inputs_name_the_tag(logdir):
    with anyboard.SummaryWriter(logdir) as w:
        cases = [
            (ValueError, {"mat": np.ones(3)}),
            (ValueError, {"mat": np.ones((3, 2)), "metadata": ["a", "b"]}),
            (ValueError, {"mat": np.ones((3, 2)), "label_img": np.ones((3, 2, 4, 4))}),
            (ValueError, {"mat": np.ones((3, 2)), "label_img": np.ones((2, 3, 4, 4))}),
            (ValueError, {"mat": np.ones((3, 2)), "label_img": np.ones((3, 4, 4))}),
            (ValueError, {"mat": np.full((3, 2), np.nan)}),
            (ValueError, {"mat": np.ones((2, 2)), "metadata": [[1, 2], [3, 4]]}),
            (ValueError, {"mat": np.ones((2, 2)), "metadata": [[1, 2], [3]], "metadata_header": ["a", "b"]}),
            (TypeError, {"mat": np.ones((2, 2)), "metadata": "ab"}),
            (TypeError, {"mat": np.array([["a", "b"]])}),
        ]
        for exc, kwargs in cases:
            with pytest.raises(exc, match="my_emb"):
                w.add_embedding(tag="my_emb", **kwargs)
        assert not os.path.exists(os.path.join(logdir, "projector_config.pbtxt"))


def test_torch_tensors_accepted(logdir):
    import torch

    with anyboard.SummaryWriter(logdir) as w:
        w.add_embedding(torch.randn(4, 3), metadata=torch.arange(4), label_img=torch.rand(4, 1, 8, 8), tag="t")
    text = Path(logdir, "00000", "t", "metadata.tsv").read_text()
    assert text == "0\n1\n2\n3\n"
    assert os.path.isfile(os.path.join(logdir, "00000", "t", "sprite.png"))


def _projector_entries(logdir):
    """``{tensor_name: (tensor_path, metadata_path, sprite path)}`` as TensorBoard's projector parses the config."""
    from google.protobuf import text_format
    from tensorboard.plugins.projector import projector_config_pb2

    config = text_format.Parse(
        Path(logdir, "projector_config.pbtxt").read_text(), projector_config_pb2.ProjectorConfig()
    )
    return {e.tensor_name: (e.tensor_path, e.metadata_path, e.sprite.image_path) for e in config.embeddings}


def test_mxboard_spellings_with_keywords_mixed_in(logdir):
    """MXBoard's ``add_embedding(tag, embedding, labels=None, images=None, global_step=None)``: any mix of
    positional and keyword arguments; ``global_step=`` lands in torch's slot, where MXBoard's images go."""
    mat = np.arange(8, dtype=np.float32).reshape(4, 2)
    thumbs = np.zeros((4, 3, 2, 2), np.uint8)
    with anyboard.SummaryWriter(logdir) as w:
        w.add_embedding("a", mat, global_step=5)
        w.add_embedding("b", mat, labels=list("wxyz"), global_step=np.int64(7))
        w.add_embedding("c", mat, images=thumbs, global_step=2)
        w.add_embedding("d", mat, list("wxyz"), thumbs, 9)
        w.add_embedding("e", mat, None, thumbs)
        with pytest.raises(TypeError, match="'images' both"):
            w.add_embedding("f", mat, None, thumbs, 3, images=thumbs)
    entries = _projector_entries(logdir)
    assert sorted(entries) == ["a:00005", "b:00007", "c:00002", "d:00009", "e:00000"]
    assert entries["b:00007"][1] and not entries["a:00005"][1]  # labels only where given
    assert entries["c:00002"][2] and entries["d:00009"][2] and entries["e:00000"][2] and not entries["a:00005"][2]
    for name, (tensor_path, _, _) in entries.items():
        step = int(name.split(":")[1])
        points = np.loadtxt(Path(logdir, tensor_path), delimiter="\t", dtype=np.float32)
        np.testing.assert_array_equal(points, mat)
        assert Path(tensor_path).parts[0] == f"{step:05d}"


def test_add_embedding_after_close_reopens_as_every_add_does(logdir):
    w = anyboard.SummaryWriter(logdir)
    w.add_scalar("x", 1.0, 0)
    w.close()
    w.add_embedding(np.ones((2, 3)), tag="later", global_step=1)  # torch's writer takes this call too
    w.add_scalar("x", 2.0, 1)
    w.close()
    assert list(_projector_entries(logdir)) == ["later:00001"]
    assert len(list(Path(logdir).glob("events.out.tfevents.*"))) == 2  # the run went on in a new file


def test_embedding_folders_are_named_as_torch_names_them(tmp_path):
    """Scripts open ``<step>/<tag>/tensors.tsv`` by name: torch escapes ``%``, ``/`` and ``\\`` in lower-case hex."""
    torch_tb = pytest.importorskip("torch.utils.tensorboard")
    mat = np.arange(6, dtype=np.float32).reshape(3, 2)
    for name, cls in (("torch", torch_tb.SummaryWriter), ("ours", anyboard.SummaryWriter)):
        w = cls(str(tmp_path / name))
        for tag in ("feat/a", "pct%", "back\\slash"):
            w.add_embedding(mat, tag=tag, global_step=3)
        w.close()
    folders = {
        name: sorted(p.parent.relative_to(tmp_path / name).as_posix() for p in (tmp_path / name).rglob("tensors.tsv"))
        for name in ("torch", "ours")
    }
    assert folders["ours"] == folders["torch"]
    assert "00003/feat%2fa" in folders["ours"]
