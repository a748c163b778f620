"""Read event files back through TensorBoard's own readers (test helpers).

- :func:`python_accumulator`: TensorBoard's Python loader
  (``plugin_event_accumulator``, what ``--load_fast=false`` uses), keeping
  every value.
- :class:`TensorBoardServer`: a real ``tensorboard`` process on 127.0.0.1 and a
  free port (Rust data server with ``load_fast=True``), queried over HTTP,
  stopped by :meth:`TensorBoardServer.stop` / the context manager.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from typing import Any

import numpy as np
import requests

SAMPLES = (
    "scalars=100000,images=1000,audio=1000,histograms=10000,text=1000,"
    "pr_curves=1000,mesh=1000,tensors=1000,hparams=1000,custom_scalars=1000"
)


def python_accumulator(run_dir: str | os.PathLike[str]) -> Any:
    """Load one run with TensorBoard's Python loader, keeping every value."""
    from tensorboard.backend.event_processing import plugin_event_accumulator as pea

    acc = pea.EventAccumulator(os.fspath(run_dir), size_guidance={pea.TENSORS: 0, pea.GRAPH: 0, pea.RUN_METADATA: 0})
    acc.Reload()
    return acc


def python_tensors(run_dir: str | os.PathLike[str], tag: str) -> list[tuple[float, int, np.ndarray]]:
    """``(wall_time, step, array)`` for every value of ``tag`` in the Python loader."""
    from tensorboard.util import tensor_util

    acc = python_accumulator(run_dir)
    return [(e.wall_time, e.step, tensor_util.make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)]


def python_scalars(run_dir: str | os.PathLike[str], tag: str) -> list[tuple[float, int, float]]:
    """``(wall_time, step, value)`` for a scalar tag in the Python loader."""
    return [(w, s, float(np.asarray(a).reshape(()))) for w, s, a in python_tensors(run_dir, tag)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tensorboard_command() -> list[str]:
    exe = shutil.which("tensorboard", path=os.path.dirname(sys.executable)) or shutil.which("tensorboard")
    return [exe] if exe else [sys.executable, "-m", "tensorboard.main"]


class _PortTaken(RuntimeError):
    """tensorboard exited because its port was taken between choosing and binding it."""


class TensorBoardServer:
    """A real ``tensorboard`` bound to 127.0.0.1 for one log directory.

    ``load_fast=True`` runs the Rust data server (``--load_fast=true``),
    ``False`` the Python loader. Data is loaded once at start
    (``--reload_interval 0``); :meth:`wait_for` polls until expected tags
    appear.
    """

    def __init__(
        self, logdir: str | os.PathLike[str], *, load_fast: bool = True, extra: list[str] | None = None
    ) -> None:
        # The port is free when chosen, but another process, or this tensorboard's own data
        # server (it binds an ephemeral port first), may take it before tensorboard binds it:
        # then start again on another port.
        for attempt in range(3):
            try:
                self._start(logdir, load_fast, extra)
                return
            except _PortTaken:
                if attempt == 2:
                    raise

    def _start(self, logdir: str | os.PathLike[str], load_fast: bool, extra: list[str] | None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        args = [
            *tensorboard_command(),
            "--logdir",
            os.fspath(logdir),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            f"--load_fast={'true' if load_fast else 'false'}",
            "--reload_interval",
            "0",
            f"--samples_per_plugin={SAMPLES}",
            *(extra or []),
        ]
        if not load_fast:
            args += ["--reload_task", "blocking"]
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        self.proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, start_new_session=True
        )
        deadline = time.monotonic() + 90
        while True:
            if self.proc.poll() is not None:
                # communicate() reads what is left and closes the pipe (no unclosed-file warning
                # when another attempt replaces this process)
                message = self.proc.communicate()[1].decode()[-2000:]
                if "could not bind to port" in message:
                    raise _PortTaken(message)
                raise RuntimeError(f"tensorboard exited: {message}")
            try:
                if requests.get(self.base + "/data/runs", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("tensorboard did not start within 90 s")
            time.sleep(0.2)

    def get(self, path: str, **params: Any) -> Any:
        """GET ``path`` with query ``params``; JSON-decoded, or bytes if not JSON."""
        url = self.base + path + ("?" + urllib.parse.urlencode(params, doseq=True) if params else "")
        r = requests.get(url, timeout=30)
        r.raise_for_status()
        try:
            return r.json()
        except ValueError:
            return r.content

    def get_raw(self, path_and_query: str) -> requests.Response:
        r = requests.get(self.base + path_and_query, timeout=30)
        r.raise_for_status()
        return r

    def post(self, path: str, body: Any) -> Any:
        r = requests.post(
            self.base + path, data=json.dumps(body), headers={"Content-Type": "application/json"}, timeout=30
        )
        r.raise_for_status()
        return r.json()

    def wait_for(self, check: Any, timeout: float = 60) -> Any:
        """Poll ``check()`` until it returns a truthy value (the data is loaded)."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                last = check()
                if last:
                    return last
            except (requests.RequestException, KeyError, IndexError):
                pass
            time.sleep(0.25)
        raise AssertionError(f"tensorboard never served the expected data; last answer: {last!r}")

    def scalars(self, run: str, tag: str) -> list[list[float]]:
        """``[[wall_time, step, value], ...]`` from the scalars plugin."""
        return self.get("/data/plugin/scalars/scalars", run=run, tag=tag)  # type: ignore[no-any-return]

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if self.proc.stderr:
            self.proc.stderr.close()

    def __enter__(self) -> TensorBoardServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def values_by_tag(run_dir: str | os.PathLike[str]) -> dict[str, list[tuple[int, Any]]]:
    """``{tag: [(step, Summary.Value), ...]}`` read back by anyboard's own reader."""
    import anyboard

    out: dict[str, list[tuple[int, Any]]] = {}
    for e in anyboard.iter_run_events(run_dir):
        if e.HasField("summary"):
            for v in e.summary.value:
                out.setdefault(v.tag, []).append((e.step, v))
    return out


def tensor_value(value: Any) -> np.ndarray:
    """A ``Summary.Value``'s tensor decoded by TensorBoard's own ``make_ndarray``."""
    from tensorboard.compat.proto import tensor_pb2
    from tensorboard.util import tensor_util

    return tensor_util.make_ndarray(tensor_pb2.TensorProto.FromString(value.tensor.SerializeToString()))


def image_blob(value: Any) -> tuple[int, int, bytes]:
    """``(width, height, encoded bytes)`` of an image ``Summary.Value`` in either summary format.

    ``"compat"``: ``value.image`` (``Summary.Image``); ``"tensor"``: the v2
    ``[b"<width>", b"<height>", <bytes>]`` string tensor.
    """
    if value.HasField("image"):
        return value.image.width, value.image.height, value.image.encoded_image_string
    sv = value.tensor.string_val
    return int(sv[0]), int(sv[1]), sv[2]


def audio_blob(value: Any) -> bytes:
    """The WAV bytes of an audio ``Summary.Value`` in either summary format."""
    if value.HasField("audio"):
        return value.audio.encoded_audio_string  # type: ignore[no-any-return]
    return value.tensor.string_val[0]  # type: ignore[no-any-return]


def histogram_rows(value: Any) -> np.ndarray:
    """The ``[k, 3]`` ``[left, right, count]`` rows of a histogram ``Summary.Value`` in either format.

    ``"tensor"``: the v2 tensor as written. ``"compat"``: the ``HistogramProto``'s
    buckets in the peers' layout (``bucket_limit[0]`` the left edge of the first
    row, with a zero ``bucket[0]``), turned back into rows: left edges
    ``bucket_limit[:-1]``, right edges ``bucket_limit[1:]``, counts ``bucket[1:]``.
    """
    if value.HasField("histo"):
        limits = np.asarray(value.histo.bucket_limit, dtype=np.float64)
        counts = np.asarray(value.histo.bucket, dtype=np.float64)
        if limits.size == 0:
            return np.zeros((0, 3))
        assert counts[0] == 0, "compat histograms start with an empty bucket"
        return np.stack([limits[:-1], limits[1:], counts[1:]], axis=1)
    return tensor_value(value)
