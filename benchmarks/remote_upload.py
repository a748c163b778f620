"""Bytes uploaded per flush to S3: anyboard vs tensorboardX, against one local moto server.

Both writers log the same scalars (``--per-flush`` per flush, ``--flushes``
flushes) to ``s3://<bucket>/<tool>`` on a moto S3 API bound to 127.0.0.1. A
WSGI wrapper around moto counts the body bytes of every PUT/POST (the decoded
payload size when the client streams ``aws-chunked``), so both tools are
measured the same way, on the server side.

tensorboardX keeps the whole event file in memory and re-uploads it on every
flush (its ``S3RecordWriter``; it finds the endpoint in ``$S3_ENDPOINT``);
anyboard uploads only what is new, as a new object. tensorboardX's
``SummaryWriter.flush()`` does not wait for its queue, so its events are
written through its ``EventsWriter`` directly (the same ``S3RecordWriter``
path, minus the asynchronous queue) to make every flush carry its batch.

Run: ``python benchmarks/remote_upload.py [--flushes 100] [--per-flush 100]``.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import threading
import time
import uuid


class CountingS3:
    """moto's S3 API on 127.0.0.1:<free port>, counting uploaded body bytes."""

    def __init__(self) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.put_bytes = 0
        self.puts = 0
        self._lock = threading.Lock()
        app = DomainDispatcherApplication(create_backend_app)

        def counting(environ, start_response):
            if environ["REQUEST_METHOD"] in ("PUT", "POST"):
                size = environ.get("HTTP_X_AMZ_DECODED_CONTENT_LENGTH") or environ.get("CONTENT_LENGTH") or 0
                with self._lock:
                    self.puts += 1
                    self.put_bytes += int(size)
            return app(environ, start_response)

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server = make_server("127.0.0.1", self.port, counting, threaded=True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def snapshot(self) -> tuple[int, int]:
        with self._lock:
            return self.puts, self.put_bytes

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)


def _bucket(server: CountingS3) -> str:
    import boto3

    name = f"bench-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    return name


def run_anyboard(server: CountingS3, bucket: str, flushes: int, per_flush: int) -> list[int]:
    import anyboard

    opts = {"client_kwargs": {"endpoint_url": server.endpoint, "region_name": "us-east-1"}}
    per = []
    with anyboard.SummaryWriter(f"s3://{bucket}/anyboard", storage_options=opts, flush_secs=3600) as w:
        for k in range(flushes):
            for i in range(per_flush):
                w.add_scalar("loss", 1.0 / (1 + k * per_flush + i), k * per_flush + i)
            _, before = server.snapshot()
            w.flush()
            per.append(server.snapshot()[1] - before)
    return per


def run_tensorboardx(server: CountingS3, bucket: str, flushes: int, per_flush: int) -> list[int]:
    from tensorboardX import SummaryWriter
    from tensorboardX.proto.event_pb2 import Event
    from tensorboardX.summary import scalar

    per = []
    w = SummaryWriter(f"s3://{bucket}/tensorboardx", flush_secs=3600)
    ev_writer = w.file_writer.event_writer._ev_writer
    try:
        for k in range(flushes):
            for i in range(per_flush):
                step = k * per_flush + i
                ev_writer.write_event(Event(wall_time=time.time(), step=step, summary=scalar("loss", 1.0 / (1 + step))))
            _, before = server.snapshot()
            ev_writer.flush()
            per.append(server.snapshot()[1] - before)
    finally:
        w.close()
    return per


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flushes", type=int, default=100)
    parser.add_argument("--per-flush", type=int, default=100)
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    server = CountingS3()
    os.environ["S3_ENDPOINT"] = server.endpoint  # tensorboardX's S3RecordWriter
    try:
        results = {}
        for name, fn in (("anyboard", run_anyboard), ("tensorboardX", run_tensorboardx)):
            bucket = _bucket(server)
            t0 = time.perf_counter()
            per = fn(server, bucket, args.flushes, args.per_flush)
            results[name] = (per, time.perf_counter() - t0)
    finally:
        server.stop()
    n = args.flushes
    print(f"{n} flushes x {args.per_flush} scalars, bytes uploaded (PUT bodies, counted by the server)")
    marks = sorted({1, 2, 10, n // 2, n} - {0})
    print(f"{'writer':<14}" + "".join(f"{'flush ' + str(m):>14}" for m in marks) + f"{'total':>14}{'seconds':>10}")
    for name, (per, secs) in results.items():
        print(f"{name:<14}" + "".join(f"{per[m - 1]:>14,}" for m in marks) + f"{sum(per):>14,}{secs:>10.2f}")
    a, x = sum(results["anyboard"][0]), sum(results["tensorboardX"][0])
    print(f"tensorboardX uploads {x / a:.1f}x the bytes of anyboard")


if __name__ == "__main__":
    main()
