"""A first end-to-end check: scalars through all three readers."""

from __future__ import annotations

import pytest
from tbread import TensorBoardServer, python_scalars

import anyboard


def test_scalars_read_back_by_anyboard_python_loader_and_server(logdir):
    with anyboard.SummaryWriter(logdir) as w:
        for step in range(5):
            w.add_scalar("loss", 1.0 / (step + 1), step, walltime=1000.0 + step)
    events = [e for e in anyboard.iter_run_events(logdir) if e.HasField("summary")]
    assert [e.step for e in events] == list(range(5))
    assert [e.summary.value[0].simple_value for e in events] == pytest.approx(
        [1.0 / (s + 1) for s in range(5)], rel=1e-6
    )
    assert [(w, s) for w, s, _ in python_scalars(logdir, "loss")] == [(1000.0 + s, s) for s in range(5)]
    with TensorBoardServer(logdir) as tb:
        data = tb.wait_for(lambda: tb.scalars(".", "loss"))
        assert [(w, s) for w, s, _ in data] == [(1000.0 + s, s) for s in range(5)]
        assert [round(v, 6) for _, _, v in data] == [round(1.0 / (s + 1), 6) for s in range(5)]


def test_tensorboard_server_starts_again_when_its_port_is_taken_before_it_binds(logdir, monkeypatch):
    # The port tbread chooses can be taken before tensorboard binds it (CI saw its own data
    # server take it): the helper must start again on another port, not fail the test.
    import socket

    import tbread

    with anyboard.SummaryWriter(logdir) as w:
        w.add_scalar("loss", 1.0, 1)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    ports = [taken.getsockname()[1]]
    real = tbread.free_port
    monkeypatch.setattr(tbread, "free_port", lambda: ports.pop() if ports else real())
    try:
        with TensorBoardServer(logdir) as tb:
            assert tb.port != taken.getsockname()[1]
            assert tb.get("/data/runs") == ["."]  # the run it was started on, served
    finally:
        taken.close()
