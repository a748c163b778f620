"""add_embedding on fsspec log directories: memory:// and a real S3 API (moto) on 127.0.0.1.

Every projector file (tensors.tsv, metadata.tsv, sprite.png and the merged
projector_config.pbtxt) must land on the same storage as the event files.
"""

from __future__ import annotations

import io
import posixpath
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable

import numpy as np
import pytest
from google.protobuf import text_format
from PIL import Image
from tbread import free_port

import anyboard
from anyboard.io import remote
from anyboard.proto.projector_config_pb2 import ProjectorConfig

KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}

rng = np.random.default_rng(7)
MAT_A = rng.standard_normal((5, 3)).astype(np.float32)
LABELS_A = ["cat", "dog", "tab\there", "", "ünï"]
THUMBS_A = rng.integers(0, 256, size=(5, 3, 4, 6), dtype=np.uint8)  # uint8 RGB, H=4, W=6
MAT_B = rng.standard_normal((4, 2)).astype(np.float32) * 1000
TABLE_B = [[i, f"name{i}"] for i in range(4)]
THUMBS_B = np.linspace(0, 1, 4 * 1 * 3 * 3, dtype=np.float32).reshape(4, 1, 3, 3)  # float gray
MAT_A2 = -MAT_A[:2] * 3  # the rewrite of tag "feat/a": new points, no labels, no thumbnails

DIR_A = "00000/feat%2fa"  # tag "feat/a" made one path component
DIR_B = "00002/b"


def _log_three(w: anyboard.SummaryWriter) -> None:
    w.add_embedding(MAT_A, metadata=LABELS_A, label_img=THUMBS_A, tag="feat/a")
    w.add_embedding(MAT_B, TABLE_B, THUMBS_B, global_step=2, tag="b", metadata_header=["idx", "name"])


def _config(read: Callable[[str], bytes]) -> dict[str, object]:
    config = text_format.Parse(read("projector_config.pbtxt").decode("utf-8"), ProjectorConfig())
    names = [e.tensor_name for e in config.embeddings]
    assert len(names) == len(set(names)), f"duplicate entries: {names}"
    return {e.tensor_name: e for e in config.embeddings}


def _tsv(data: bytes) -> np.ndarray:
    return np.array([[float(x) for x in line.split("\t")] for line in data.decode("ascii").splitlines()], np.float32)


def _sprite_cells(png: bytes, w: int, h: int, n: int) -> list[np.ndarray]:
    """The ``n`` thumbnails of a sprite as TensorBoard's frontend cuts them: ``ncols = width // w``, row-major."""
    sprite = np.asarray(Image.open(io.BytesIO(png)))
    if sprite.ndim == 2:
        sprite = sprite[:, :, None]
    ncols = sprite.shape[1] // w
    return [sprite[(k // ncols) * h : (k // ncols + 1) * h, (k % ncols) * w : (k % ncols + 1) * w] for k in range(n)]


def _check_first_two(read: Callable[[str], bytes]) -> None:
    """The files and config entries of ``_log_three`` before the rewrite."""
    entries = _config(read)
    assert sorted(entries) == ["b:00002", "feat/a:00000"]
    a, b = entries["feat/a:00000"], entries["b:00002"]
    assert (a.tensor_path, a.metadata_path, a.sprite.image_path) == (
        f"{DIR_A}/tensors.tsv",
        f"{DIR_A}/metadata.tsv",
        f"{DIR_A}/sprite.png",
    )
    assert list(a.tensor_shape) == [5, 3] and list(b.tensor_shape) == [4, 2]
    np.testing.assert_array_equal(_tsv(read(a.tensor_path)), MAT_A)  # %.9g round-trips float32 exactly
    np.testing.assert_array_equal(_tsv(read(b.tensor_path)), MAT_B)
    assert read(a.metadata_path).decode("utf-8").split("\n") == ["cat", "dog", "tab\\there", "<empty>", "ünï", ""]
    assert read(b.metadata_path).decode("utf-8").splitlines() == ["idx\tname"] + [f"{i}\tname{i}" for i in range(4)]

    w, h = a.sprite.single_image_dim
    assert (w, h) == (6, 4)
    for k, cell in enumerate(_sprite_cells(read(a.sprite.image_path), w, h, 5)):
        np.testing.assert_array_equal(cell, THUMBS_A[k].transpose(1, 2, 0))
    w, h = b.sprite.single_image_dim
    assert (w, h) == (3, 3)
    for k, cell in enumerate(_sprite_cells(read(b.sprite.image_path), w, h, 4)):
        expected = np.rint(THUMBS_B[k].transpose(1, 2, 0) * 255).astype(np.uint8)
        np.testing.assert_array_equal(cell, expected)


def _check_after_rewrite(read: Callable[[str], bytes], exists: Callable[[str], bool]) -> None:
    entries = _config(read)
    assert sorted(entries) == ["b:00002", "feat/a:00000"]  # replaced, not duplicated
    a = entries["feat/a:00000"]
    assert not a.metadata_path and not a.HasField("sprite")
    assert list(a.tensor_shape) == [2, 3]
    np.testing.assert_array_equal(_tsv(read(f"{DIR_A}/tensors.tsv")), MAT_A2)
    assert not exists(f"{DIR_A}/metadata.tsv")  # stale files of the first version removed
    assert not exists(f"{DIR_A}/sprite.png")
    assert exists(f"{DIR_B}/metadata.tsv") and exists(f"{DIR_B}/sprite.png")  # the other tag untouched
    np.testing.assert_array_equal(_tsv(read(entries["b:00002"].tensor_path)), MAT_B)


# -- memory:// -------------------------------------------------------------------
@pytest.fixture
def memory_logdir():
    url = f"memory://anyboard-emb-{uuid.uuid4().hex[:10]}/run"
    try:
        yield url
    finally:
        fs, inner = remote.filesystem(url)
        if fs.exists(inner):
            fs.rm(inner, recursive=True)


def test_memory_logdir_gets_every_projector_file_merged(memory_logdir):
    def read(rel: str) -> bytes:
        return remote.read_bytes(remote.join(memory_logdir, rel))

    def exists(rel: str) -> bool:
        return remote.exists(remote.join(memory_logdir, rel))

    with anyboard.SummaryWriter(memory_logdir) as w:
        _log_three(w)
        _check_first_two(read)
        w.add_embedding(MAT_A2, tag="feat/a")  # same tag and step, without labels or thumbnails
    _check_after_rewrite(read, exists)
    assert any("tfevents" in n for n in remote.listdir(memory_logdir))  # next to the event files


def test_memory_logdir_with_only_embeddings_is_a_run(memory_logdir):
    """TensorBoard's projector lists only runs with an event file: one is uploaded even without events."""
    with anyboard.SummaryWriter(memory_logdir) as w:
        w.add_embedding(MAT_A2, tag="only")
    names = [n for n in remote.listdir(memory_logdir) if "tfevents" in n]
    assert len(names) == 1
    path = remote.join(memory_logdir, posixpath.basename(names[0]))
    events = list(anyboard.iter_events(path, fileobj=io.BytesIO(remote.read_bytes(path))))
    assert [e.file_version for e in events] == ["brain.Event:2"]


def test_memory_logdir_second_writer_merges_into_existing_config(memory_logdir):
    with anyboard.SummaryWriter(memory_logdir) as w:
        w.add_embedding(MAT_A, tag="first")
    with anyboard.SummaryWriter(memory_logdir) as w:  # a new writer reads the config it finds
        w.add_embedding(MAT_B, tag="second")
        w.add_embedding(MAT_B * 2, tag="first")
    entries = _config(lambda rel: remote.read_bytes(remote.join(memory_logdir, rel)))
    assert sorted(entries) == ["first:00000", "second:00000"]
    np.testing.assert_array_equal(
        _tsv(remote.read_bytes(remote.join(memory_logdir, "00000/first/tensors.tsv"))), MAT_B * 2
    )


def test_memory_logdir_threads_of_one_writer_keep_every_entry(memory_logdir):
    with anyboard.SummaryWriter(memory_logdir) as w:
        threads = [threading.Thread(target=w.add_embedding, args=(MAT_A,), kwargs={"tag": f"t{i}"}) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    entries = _config(lambda rel: remote.read_bytes(remote.join(memory_logdir, rel)))
    assert sorted(entries) == sorted(f"t{i}:00000" for i in range(8))


def test_memory_logdir_invalid_existing_config_is_a_clear_error(memory_logdir):
    remote.write_bytes(remote.join(memory_logdir, "projector_config.pbtxt"), b"embeddings { nonsense")
    with anyboard.SummaryWriter(memory_logdir) as w, pytest.raises(ValueError, match=r"projector_config\.pbtxt"):
        w.add_embedding(MAT_A, tag="x")


# -- local paths: no fsspec, file:// URLs are local ---------------------------------
def test_local_embedding_never_imports_fsspec(tmp_path):
    code = (
        "import sys, numpy as np, anyboard\n"
        "with anyboard.SummaryWriter(sys.argv[1]) as w:\n"
        "    w.add_embedding(np.ones((3, 2)), ['a', 'b', 'c'], np.zeros((3, 1, 2, 2)), tag='e')\n"
        "with anyboard.SummaryWriter('file://' + sys.argv[2]) as w:\n"
        "    w.add_embedding(np.ones((3, 2)), tag='e')\n"
        "bad = sorted(m for m in ('fsspec', 's3fs', 'boto3') if m in sys.modules)\n"
        "sys.exit(f'imported {bad}' if bad else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "a"), str(tmp_path / "b")],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    for run in ("a", "b"):  # file:// goes to the local directory it names, not to a "file:" folder
        assert (tmp_path / run / "projector_config.pbtxt").is_file()
        assert (tmp_path / run / "00000" / "e" / "tensors.tsv").read_text() == "1\t1\n1\t1\n1\t1\n"
    assert not (tmp_path / "file:").exists()


# -- a real S3 API on 127.0.0.1 (moto) -------------------------------------------
@pytest.fixture
def s3(monkeypatch):
    """moto's S3 server on a free port of 127.0.0.1; yields its endpoint URL and stops it afterwards."""
    from moto.server import ThreadedMotoServer

    for key, value in KEYS.items():
        monkeypatch.setenv(key, value)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def test_s3_logdir_gets_every_projector_file_merged(s3):
    import boto3

    client = boto3.client("s3", endpoint_url=s3, region_name="us-east-1")
    bucket = f"emb-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=bucket)
    options = {
        "client_kwargs": {"endpoint_url": s3, "region_name": "us-east-1"},
        "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 2, "read_timeout": 10},
    }

    def keys() -> set[str]:
        listed = client.list_objects_v2(Bucket=bucket, Prefix="run/")
        return {o["Key"] for o in listed.get("Contents", [])}

    # Read back with boto3, independently of the fsspec code that wrote it.
    def read(rel: str) -> bytes:
        return client.get_object(Bucket=bucket, Key=posixpath.join("run", rel))["Body"].read()

    def exists(rel: str) -> bool:
        return posixpath.join("run", rel) in keys()

    with anyboard.SummaryWriter(f"s3://{bucket}/run", storage_options=options) as w:
        _log_three(w)
        _check_first_two(read)
        assert {f"run/{DIR_A}/sprite.png", f"run/{DIR_B}/metadata.tsv", "run/projector_config.pbtxt"} <= keys()
        w.add_embedding(MAT_A2, tag="feat/a")
        w.add_scalar("loss", 1.0, 0)
    _check_after_rewrite(read, exists)
    assert any("tfevents" in k for k in keys())
    # remote.read_bytes reads the same config the writer merged.
    config = remote.read_bytes(f"s3://{bucket}/run/projector_config.pbtxt", options)
    assert config == read("projector_config.pbtxt")
