"""Remote log directories through fsspec: memory://, a flaky filesystem, and a real S3 API (moto) on 127.0.0.1."""

from __future__ import annotations

import logging
import os
import posixpath
import subprocess
import sys
import threading
import time
import uuid

import pytest
from tbread import free_port

import anyboard
from anyboard.errors import WriteError
from anyboard.io import remote
from anyboard.io.event_file import LocalFile
from anyboard.io.events import header_events
from anyboard.io.records import frame_many

# fsspec is optional (the fsspec/s3 extras): the module is skipped without it.
fsspec = pytest.importorskip("fsspec")
MemoryFileSystem = pytest.importorskip("fsspec.implementations.memory").MemoryFileSystem

KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


# -- helpers -------------------------------------------------------------------
def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _objects(url: str, storage_options: dict | None = None) -> list[str]:
    """Event-object URLs directly in ``url``, in name order."""
    names = [n for n in remote.listdir(url, storage_options) if "tfevents" in n]
    return [posixpath.join(url, n) for n in names]


def _events(url: str, storage_options: dict | None = None) -> list:
    """All events of every object of run ``url``, objects in name order (anyboard's reader via fsspec)."""
    out = []
    for obj in _objects(url, storage_options):
        with remote.open_file(obj, "rb", storage_options) as f:
            out.append(list(anyboard.iter_events(obj, fileobj=f)))
    return out


def _scalars(per_object: list, tag: str) -> list[tuple[int, float]]:
    return [
        (e.step, v.simple_value if v.HasField("simple_value") else _tensor_value(v))
        for evs in per_object
        for e in evs
        for v in e.summary.value
        if v.tag == tag
    ]


def _tensor_value(v) -> float:
    from tensorboard.util import tensor_util

    return float(tensor_util.make_ndarray(v.tensor).reshape(()))


def _python_loader(url: str) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing import plugin_event_accumulator as pea
    from tensorboard.util import tensor_util

    acc = pea.EventAccumulator(url, size_guidance={pea.TENSORS: 0})
    acc.Reload()
    return {
        tag: [(e.step, float(tensor_util.make_ndarray(e.tensor_proto).reshape(()))) for e in acc.Tensors(tag)]
        for tag in acc.Tags()["tensors"]
    }


class FlakyMemoryFS(MemoryFileSystem):
    """memory:// storage under protocol ``flaky://`` whose uploads fail ``failures`` times."""

    protocol = ("flaky",)
    failures = 0
    uploads: list[int] = []

    @classmethod
    def _strip_protocol(cls, path):
        if path.startswith("flaky://"):
            path = path[len("flaky://") :]
        return MemoryFileSystem._strip_protocol(path)

    def pipe_file(self, path, value, mode="overwrite", **kwargs):
        if FlakyMemoryFS.failures > 0:
            FlakyMemoryFS.failures -= 1
            raise ConnectionError("injected network failure")
        FlakyMemoryFS.uploads.append(len(value))
        return super().pipe_file(path, value, mode=mode, **kwargs)


fsspec.register_implementation("flaky", FlakyMemoryFS, clobber=True)


# -- URL helpers ---------------------------------------------------------------
def test_is_url_and_join():
    assert remote.is_url("s3://bucket/run")
    assert remote.is_url("memory://x")
    assert remote.is_url("file:///tmp/x")
    assert remote.is_url("simplecache::s3://b/x")
    assert not remote.is_url("/tmp/run")
    assert not remote.is_url("runs/exp1")
    assert not remote.is_url("C:\\logs\\run")
    assert not remote.is_url("C:/logs/run")
    assert remote.join("s3://b/run", "a", "b") == "s3://b/run/a/b"
    assert remote.join("s3://b/run/", "a") == "s3://b/run/a"
    assert remote.join("/tmp/run", "a") == os.path.join("/tmp/run", "a")
    assert remote.join("file:///tmp/run", "a") == "file:///tmp/run/a"


def test_local_logdir_never_imports_fsspec(tmp_path):
    code = (
        "import sys, anyboard\n"
        f"w = anyboard.SummaryWriter({str(tmp_path / 'a')!r})\n"
        "w.add_scalar('x', 1.0, 0); w.add_scalars('m', {'a': 1.0}, 0); w.close()\n"
        f"w = anyboard.SummaryWriter('file://' + {str(tmp_path / 'b')!r})\n"
        "w.add_scalar('x', 1.0, 0); w.close()\n"
        "from anyboard.io import remote\n"
        f"remote.write_bytes({str(tmp_path / 'c' / 'f.bin')!r}, b'abc')\n"
        f"assert remote.read_bytes('file://' + {str(tmp_path / 'c' / 'f.bin')!r}) == b'abc'\n"
        "bad = sorted(m for m in ('fsspec', 's3fs', 'boto3', 'torch') if m in sys.modules)\n"
        "print('IMPORTED', bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "IMPORTED []" in out.stdout
    assert len(os.listdir(tmp_path / "a")) == 2  # main run + one add_scalars sub-run directory
    assert len(os.listdir(tmp_path / "b")) == 1


def test_file_url_appends_to_one_local_file(tmp_path):
    url = "file://" + str(tmp_path / "run")
    factory = remote.event_file_factory(url)
    f = factory()
    assert isinstance(f, LocalFile)
    f.close()
    with anyboard.SummaryWriter(url) as w:
        for i in range(5):
            w.add_scalar("x", float(i), i)
            w.flush()
    files = [n for n in os.listdir(tmp_path / "run") if "tfevents" in n]
    assert len(files) == 2  # the probe above and the writer's one file, appended to on every flush
    assert [s for s, _ in _scalars(_events(url), "x")] == [0, 1, 2, 3, 4]


def test_storage_options_must_be_a_dict():
    with pytest.raises(TypeError, match="storage_options"):
        anyboard.SummaryWriter("memory://x/opts", storage_options=[("a", 1)])


# -- memory:// -----------------------------------------------------------------
def test_memory_one_object_per_flush_read_by_both_readers():
    url = f"memory://{_unique('mem')}/run"
    with anyboard.SummaryWriter(url, purge_step=0) as w:
        for i in range(30):
            w.add_scalar("loss", float(i), i)
            if i % 3 == 2:
                w.flush()
        w.flush()
        w.flush()  # nothing new: no empty object
        assert w.event_file_paths()[""].startswith(url + "/events.out.tfevents.")
    objects = _objects(url)
    assert len(objects) == 10
    per_object = _events(url)
    # Every object starts with file_version; only the first carries the purge_step restart events,
    # so a rotation never purges what earlier objects hold.
    for i, evs in enumerate(per_object):
        assert evs[0].file_version == "brain.Event:2"
        starts = [e for e in evs if e.HasField("session_log")]
        assert len(starts) == (2 if i == 0 else 0)
        assert len([e for e in evs if e.summary.value]) == 3
    assert [s for s, _ in _scalars(per_object, "loss")] == list(range(30))
    assert _python_loader(url)["loss"] == [(i, float(i)) for i in range(30)]


def test_a_url_log_directory_is_not_flushed_early_for_the_memory_bound():
    """The early flush that bounds the bytes a local file keeps for a deleted-file rewrite must not
    apply to URLs, where every flush uploads an object: 16 MiB of text under a 4 MiB bound made 32
    objects of 512 KiB instead of one."""
    url = f"memory://{_unique('early')}/run"
    with anyboard.SummaryWriter(url, max_pending_bytes=4 << 20) as w:
        for i in range(16):
            w.add_text("t", "x" * (1 << 20), i)
    assert len(_objects(url)) == 1
    assert [e.step for evs in _events(url) for e in evs if e.summary.value] == list(range(16))


def test_memory_each_byte_uploaded_once(monkeypatch):
    sent: list[int] = []
    original = MemoryFileSystem.pipe_file

    def counting(self, path, value, *args, **kwargs):
        sent.append(len(value))
        return original(self, path, value, *args, **kwargs)

    monkeypatch.setattr(MemoryFileSystem, "pipe_file", counting)
    url = f"memory://{_unique('bytes')}/run"
    flushes = 40
    with anyboard.SummaryWriter(url) as w:
        for k in range(flushes):
            for i in range(25):
                w.add_scalar("x", float(i), k * 25 + i)
            w.flush()
    sizes = [len(remote.read_bytes(o)) for o in _objects(url)]
    assert len(sent) == flushes == len(sizes)
    assert sum(sent) == sum(sizes)
    header = len(frame_many(header_events()[:1]))
    payload = sum(sizes) - flushes * header
    # Every object holds one batch of 25 scalars plus a ~60-byte header: linear, not data x flushes.
    assert max(sizes) - min(sizes) < 50
    assert payload / flushes == pytest.approx(sizes[-1] - header, rel=0.05)
    assert sum(sent) < 2 * (payload + flushes * header)


def test_large_buffer_is_uploaded_from_write():
    url = f"memory://{_unique('big')}/run"
    f = remote.RemoteFile(url, max_buffer_bytes=1000)
    f.write(frame_many(header_events()))
    for _ in range(10):
        f.write(b"r" * 400)
    assert 3 <= len(f.paths) <= 5  # uploaded while writing, without a flush
    f.close()
    assert f.uploaded_bytes == sum(len(remote.read_bytes(p)) for p in f.paths)
    with pytest.raises(ValueError, match="closed"):
        f.write(b"x")


def test_upload_failures_raise_and_lose_nothing():
    FlakyMemoryFS.uploads = []
    url = f"flaky://{_unique('flaky')}/run"
    w = anyboard.SummaryWriter(url, flush_secs=3600)
    try:
        w.add_scalar("x", 0.0, 0)
        w.flush()
        FlakyMemoryFS.failures = 2
        for i in range(1, 6):
            w.add_scalar("x", float(i), i)
        t0 = time.monotonic()
        with pytest.raises(WriteError) as info:
            w.flush()
        assert isinstance(info.value.__cause__, remote.UploadError)
        assert isinstance(info.value.__cause__.__cause__, ConnectionError)
        with pytest.raises(WriteError):
            w.flush()
        assert time.monotonic() - t0 < 10
        assert len(_objects(url)) == 1
        w.add_scalar("x", 6.0, 6)  # the writer stays usable
        w.flush()  # third attempt: uploads steps 1..6 as one object
    finally:
        w.close()
    assert FlakyMemoryFS.failures == 0
    per_object = _events(url)
    assert [[s for s, _ in _scalars([evs], "x")] for evs in per_object] == [[0], [1, 2, 3, 4, 5, 6]]
    assert _python_loader(url)["x"] == [(i, float(i)) for i in range(7)]


def test_a_close_whose_uploads_keep_failing_is_retried_by_the_next_close():
    """Two failed uploads in close() (the writer thread's flush, then the file's own close): the
    file and its bytes were dropped, and a second close() returned as if all was written."""
    FlakyMemoryFS.uploads = []
    url = f"flaky://{_unique('close2')}/run"
    w = anyboard.SummaryWriter(url, flush_secs=3600)
    for i in range(50):
        w.add_scalar("x", float(i), i)
    w.flush()
    for i in range(50, 100):
        w.add_scalar("x", float(i), i)
    FlakyMemoryFS.failures = 2
    with pytest.raises(WriteError):
        w.close()
    assert FlakyMemoryFS.failures == 0
    w.close()  # retries the kept bytes
    w.close()  # then nothing left to do
    w.add_scalar("x", 1000.0, 1000)  # and the writer reopens as usual
    w.close()
    steps = [s for s, _ in _scalars(_events(url), "x")]
    assert sorted(steps) == [*range(100), 1000]


def test_an_upload_that_fails_for_good_at_exit_is_reported(tmp_path):
    code = (
        "import sys\n"
        "from fsspec.implementations.memory import MemoryFileSystem\n"
        "import anyboard\n"
        "w = anyboard.SummaryWriter('memory://exitfail/run', flush_secs=3600)\n"
        "w.add_scalar('x', 0.0, 0)\n"
        "w.flush()\n"
        "w.add_scalar('x', 1.0, 1)\n"
        "def fail(self, *a, **k):\n"
        "    raise ConnectionError('injected')\n"
        "MemoryFileSystem.pipe_file = fail\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "RuntimeWarning: anyboard: events could not be written at exit" in proc.stderr
    assert "injected" in proc.stderr


def test_storage_helpers_local_and_memory(tmp_path):
    for base in (str(tmp_path / "h"), f"memory://{_unique('helpers')}"):
        target = remote.join(base, "plugins", "projector", "config.pbtxt")
        assert not remote.exists(target)
        remote.write_bytes(target, b"hello")
        assert remote.exists(target)
        assert remote.read_bytes(target) == b"hello"
        remote.write_bytes(target, b"again")
        assert remote.read_bytes(target) == b"again"
        remote.makedirs(remote.join(base, "d"))
        remote.write_bytes(remote.join(base, "d", "f"), b"1")
        assert remote.listdir(remote.join(base, "plugins", "projector")) == ["config.pbtxt"]
        with pytest.raises(FileNotFoundError):
            remote.read_bytes(remote.join(base, "missing"))
    with pytest.raises(TypeError, match="bytes"):
        remote.write_bytes(str(tmp_path / "x"), "text")  # type: ignore[arg-type]
    assert [n for n in os.listdir(tmp_path / "h" / "plugins" / "projector")] == ["config.pbtxt"]  # no temp left


def test_unknown_protocol_is_a_clear_error():
    with pytest.raises(ValueError, match="nosuchproto"):
        anyboard.SummaryWriter("nosuchproto://b/run")


# -- a real S3 API on 127.0.0.1 (moto) -------------------------------------------
class S3Server:
    """moto's S3 API on 127.0.0.1 behind a WSGI wrapper that counts uploaded bytes."""

    def __init__(self, port: int | None = None) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.put_bytes = 0
        self.puts = 0
        app = DomainDispatcherApplication(create_backend_app)

        def counting(environ, start_response):
            if environ["REQUEST_METHOD"] in ("PUT", "POST"):
                self.puts += 1
                self.put_bytes += int(environ.get("CONTENT_LENGTH") or 0)
            return app(environ, start_response)

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server = make_server("127.0.0.1", self.port, counting, threaded=True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def options(self) -> dict:
        # One attempt, short timeouts: a dead endpoint fails fast instead of retrying for a minute.
        return {
            "client_kwargs": {"endpoint_url": self.endpoint, "region_name": "us-east-1"},
            "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 2, "read_timeout": 5},
        }


@pytest.fixture
def s3(monkeypatch):
    for k, v in KEYS.items():
        monkeypatch.setenv(k, v)
    server = S3Server()
    monkeypatch.setenv("S3_ENDPOINT", server.endpoint)  # TensorBoard's S3 reader (boto3) ...
    from tensorboard.compat.tensorflow_stub.io import gfile

    # ... reads $S3_ENDPOINT once, when gfile is first imported (maybe by an earlier test).
    monkeypatch.setattr(gfile.get_filesystem("s3://x"), "_s3_endpoint", server.endpoint)
    try:
        yield server
    finally:
        server.stop()


def _make_bucket(server: S3Server) -> str:
    import boto3

    bucket = _unique("bkt")
    boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    return bucket


def test_s3_flushes_upload_each_byte_once_and_tensorboard_reads_it(s3):
    bucket = _make_bucket(s3)
    url = f"s3://{bucket}/exp/run"
    opts = s3.options()
    flushes, per_flush = 10, 50
    before = s3.put_bytes
    with anyboard.SummaryWriter(url, storage_options=opts, flush_secs=3600) as w:
        for k in range(flushes):
            for i in range(per_flush):
                step = k * per_flush + i
                w.add_scalar("loss", step * 0.5, step)
            w.add_scalars("pair", {"a": float(k), "b": -float(k)}, k)
            w.flush()
    uploaded = s3.put_bytes - before
    objects = _objects(url, opts)
    assert len(objects) == flushes
    stored = sum(len(remote.read_bytes(o, opts)) for o in objects)
    # Traffic is proportional to the data: what is stored plus request overhead, not data x flushes / 2.
    assert stored <= uploaded < stored * 1.2 + 200 * s3.puts
    assert uploaded < stored * flushes / 4
    per_object = _events(url, opts)
    assert _scalars(per_object, "loss") == [(s, s * 0.5) for s in range(flushes * per_flush)]
    # TensorBoard's own Python loader, reading s3:// through boto3 and $S3_ENDPOINT.
    loaded = _python_loader(url)
    assert loaded["loss"] == [(s, s * 0.5) for s in range(flushes * per_flush)]
    assert _python_loader(f"{url}/pair_a")["pair"] == [(k, float(k)) for k in range(flushes)]


def test_s3_server_down_raises_then_retry_saves_everything(s3):
    bucket = _make_bucket(s3)
    url = f"s3://{bucket}/run"
    opts = s3.options()
    w = anyboard.SummaryWriter(url, storage_options=opts, flush_secs=3600)
    restarted = None
    try:
        w.add_scalar("x", 0.0, 0)
        w.flush()
        s3.stop()
        for i in range(1, 11):
            w.add_scalar("x", float(i), i)
        t0 = time.monotonic()
        with pytest.raises(WriteError):
            w.flush()
        assert time.monotonic() - t0 < 30  # an error, not a hang
        restarted = S3Server(port=s3.port)  # moto keeps its buckets in this process
        w.add_scalar("x", 11.0, 11)
        w.flush()
        w.close()
        per_object = _events(url, opts)
    finally:
        w.close()
        if restarted is not None:
            restarted.stop()
    assert [[s for s, _ in _scalars([evs], "x")] for evs in per_object] == [[0], list(range(1, 12))]


_FORK_WRITER: anyboard.SummaryWriter | None = None


def _fork_child_logs() -> None:
    w = _FORK_WRITER
    for step in range(100, 105):
        w.add_scalar("x", float(step), step)
    w.close()  # uploads the child's own object through a fresh S3 client


def test_s3_writer_crossing_fork(s3):
    import multiprocessing as mp

    global _FORK_WRITER
    bucket = _make_bucket(s3)
    url = f"s3://{bucket}/run"
    opts = s3.options()
    _FORK_WRITER = w = anyboard.SummaryWriter(url, storage_options=opts, flush_secs=3600)
    try:
        w.add_scalar("x", 0.0, 0)
        w.flush()
        w.add_scalar("x", 1.0, 1)  # pending at fork: the parent's, uploaded once
        child = mp.get_context("fork").Process(target=_fork_child_logs)
        child.start()
        child.join(60)
        if child.is_alive():
            child.kill()
            child.join(10)
        assert child.exitcode == 0
        w.add_scalar("x", 2.0, 2)
        w.close()
    finally:
        _FORK_WRITER = None
        w.close()
    objects = _objects(url, opts)
    steps = []
    for obj in objects:
        with remote.open_file(obj, "rb", opts) as f:
            steps.append([e.step for e in anyboard.iter_events(obj, fileobj=f) if e.summary.value])
    assert len(objects) == 3
    assert sorted(steps) == [[0], [1, 2], [100, 101, 102, 103, 104]]
    pids = {o.rsplit(".", 2)[-2] for o in objects}
    assert len(pids) == 2  # the child's object carries its own pid: no name clash with the parent's


def test_s3_keys_with_a_version_marker_stay_distinct_objects(s3):
    """s3fs cuts every key at ``?versionId=``: add_scalars keys holding it had all flushes of
    ``loss_a?versionId=1`` overwrite one object ``loss_a`` (no ``tfevents`` in its name)."""
    bucket = _make_bucket(s3)
    url = f"s3://{bucket}/exp/run"
    opts = s3.options()
    with anyboard.SummaryWriter(url, storage_options=opts, flush_secs=3600) as w:
        for step in range(3):
            w.add_scalars("loss", {"a?versionId=1": float(step), "a": 10.0 + step}, step)
            w.flush()
    subruns = sorted(n for n in remote.listdir(url, opts) if "tfevents" not in n)
    assert len(subruns) == 2, subruns
    for name, base in zip(subruns, (10.0, 0.0), strict=True):  # "loss_a" sorts before "loss_a%3f..."
        per_object = _events(f"{url}/{name}", opts)
        assert _scalars(per_object, "loss") == [(s, base + s) for s in range(3)], name
