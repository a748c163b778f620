"""``anyboard bench`` run as a user runs it (a subprocess), at a tiny hidden ``--scale``.

Only structure and consistency are checked (never speed: the machine is shared): every
writer ran every workload, the JSON rows agree with the printed table and with the
numbers of calls, the ratios are the paired medians, and user errors exit 2 with one line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from anyboard.bench import harness, report
from anyboard.bench.harness import Result, Run
from anyboard.bench.workloads import workloads

TINY = ["--quick", "--scale", "0.001"]


def _bench(*args: str, env: dict[str, str] | None = None, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "anyboard", "bench", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


def test_quick_bench_writes_json_and_table(tmp_path):
    out = tmp_path / "bench.json"
    logdir = tmp_path / "where"
    result = _bench(
        *TINY, "--workloads", "scalar_1e5,hist_1e4_np,text,burst_1e4_np", "--json", str(out), "--logdir", str(logdir)
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    names = ["scalar_1e5", "hist_1e4_np", "text", "burst_1e4_np_same", "burst_1e4_np_fresh"]
    impls = ["anyboard", "tensorboardX", "torch"]
    rows = {(r["workload"], r["impl"]): r for r in data["results"]}
    assert set(rows) == {(n, i) for n in names for i in impls}
    expected_calls = {w.name: w.calls for w in workloads(True, 0.001)}
    for (name, _impl), row in rows.items():
        assert row["calls"] == expected_calls[name]
        assert len(row["reps"]) == 1 and row["reps"][0]["verified_values"] == row["calls"] * row["values_per_call"]
        assert row["caller_us"] > 0 and row["events_per_s"] > 0 and row["bytes"] > 0
    for name in names:
        r = data["ratios"][name]
        best_peer = min(rows[(name, p)]["caller_us"] for p in ("tensorboardX", "torch"))
        assert r["caller_x"] == pytest.approx(best_peer / rows[(name, "anyboard")]["caller_us"])
        best_e2e = max(rows[(name, p)]["events_per_s"] for p in ("tensorboardX", "torch"))
        assert r["e2e_x"] == pytest.approx(rows[(name, "anyboard")]["events_per_s"] / best_e2e)
    # The table on stdout names every workload and writer; progress went to stderr.
    table = result.stdout
    for name in names:
        for impl in impls:
            assert any(line.split()[:2] == [name, impl] for line in table.splitlines()), (name, impl)
    assert "[1/5] scalar_1e5" in result.stderr and "[1/5]" not in table
    # Each run cleaned up after itself; the folder the user gave is left (empty).
    assert logdir.is_dir() and list(logdir.iterdir()) == []
    assert data["machine"]["logdir"] == str(logdir)


def test_missing_peer_is_skipped_with_a_note(tmp_path):
    """A peer that cannot be imported is skipped with one line; anyboard still runs."""
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "tensorboardX.py").write_text("raise ImportError('tensorboardX hidden by the test')\n")
    out = tmp_path / "b.json"
    env = {"PYTHONPATH": os.pathsep.join([str(blocker), os.environ.get("PYTHONPATH", "")])}
    result = _bench(*TINY, "--workloads", "scalar_1e5", "--json", str(out), env=env)
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if line.startswith("note: tensorboardX")]
    assert len(notes) == 1 and "not installed" in notes[0]
    assert {r["impl"] for r in json.loads(out.read_text())["results"]} == {"anyboard", "torch"}


def test_fsspec_url_logdir(tmp_path):
    """A memory:// URL: anyboard writes there through fsspec; peers that cannot are skipped with a note."""
    pytest.importorskip("fsspec")
    out = tmp_path / "b.json"
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    result = _bench(*TINY, "--workloads", "scalar_1e5", "--logdir", "memory://bench", "--json", str(out), cwd=str(cwd))
    assert result.returncode == 0, result.stderr
    # A peer that takes the URL for a relative local path ("memory:/bench/...") left nothing here.
    assert list(cwd.iterdir()) == []
    impls = {r["impl"] for r in json.loads(out.read_text())["results"]}
    assert "anyboard" in impls
    for peer in {"tensorboardX", "torch"} - impls:
        assert f"note: {peer} skipped: cannot write to memory://bench" in result.stderr
        # The table keeps the skipped writer's row, with why.
        assert any(line.split()[:3] == ["scalar_1e5", peer, "skipped:"] for line in result.stdout.splitlines())


def test_plot(tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "b.png"
    result = _bench(*TINY, "--workloads", "hist_1e4_np", "--plot", str(png))
    assert result.returncode == 0, result.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_is_a_one_line_usage_error(tmp_path):
    """matplotlib is optional: --plot without it exits 2 before any timing, saying what to install."""
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "matplotlib.py").write_text("raise ImportError('matplotlib hidden by the test')\n")
    env = {"PYTHONPATH": os.pathsep.join([str(blocker), os.environ.get("PYTHONPATH", "")])}
    result = _bench(*TINY, "--workloads", "scalar_1e5", "--plot", str(tmp_path / "b.png"), env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("anyboard bench: ") and "--plot needs matplotlib" in result.stderr
    assert "[1/1]" not in result.stderr and not (tmp_path / "b.png").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workloads", "nope"], "unknown workload 'nope'"),
        (["--impls", "anyboard,mxboard"], "unknown writer 'mxboard'"),
        (["--reps", "0"], "--reps must be at least 1"),
        (["--json", "/no/such/folder/x.json"], "folder /no/such/folder does not exist"),
        (["--storage-option", "novalue"], "KEY=VALUE"),
        (["--impls", "torch"], "anyboard must be one of --impls"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args, message):
    result = _bench(*TINY, *args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.startswith("anyboard bench: ")


def test_list_names_every_workload():
    result = _bench("--list")
    assert result.returncode == 0
    listed = [line.split()[0] for line in result.stdout.splitlines()]
    assert listed == [w.name for w in workloads()]
    assert {"burst_1e7_torch_fresh", "burst_1e6_np_same", "hist_1e6_np", "image_u8_np"} <= set(listed)


def test_burst_workloads_match_the_issue():
    """Issue #21: 20 calls, 1e4/1e6/1e7 values, numpy and torch, one array or fresh ones."""
    bursts = [w for w in workloads() if w.burst]
    assert len(bursts) == 12 and all(w.calls == 20 and w.method == "add_histogram" for w in bursts)
    same = next(w for w in bursts if w.name == "burst_1e4_np_same").make_args()
    fresh = next(w for w in bursts if w.name == "burst_1e4_np_fresh").make_args()
    assert same(0)[1] is same(19)[1] and same(0)[1].size == 10_000
    arrays = [fresh(i)[1] for i in range(20)]
    assert len({id(a) for a in arrays}) == 20 and not (arrays[0] == arrays[1]).all()
    torch = pytest.importorskip("torch")
    t = next(w for w in bursts if w.name == "burst_1e6_torch_fresh").make_args()
    assert isinstance(t(3)[1], torch.Tensor) and t(3)[1].numel() == 1_000_000
    assert next(w for w in bursts if w.name == "burst_1e7_np_same").make_args()(0)[1].size == 10_000_000


def _run(caller_us: float, events_per_s: float) -> Run:
    return Run(caller_us, caller_us, 1.0, events_per_s, 1.0, 1, None)


def test_paired_ratio_is_the_median_of_per_repetition_ratios():
    res = Result(
        runs={
            "anyboard": [_run(1.0, 100.0), _run(2.0, 50.0), _run(1.0, 10.0)],
            "tensorboardX": [_run(10.0, 10.0), _run(30.0, 5.0), _run(5.0, 1.0)],
            "torch": [_run(20.0, 20.0), _run(10.0, 25.0), _run(50.0, 2.0)],
        }
    )
    # caller: min peer / ours per rep = 10, 5, 5 -> 5; e2e: ours / max peer = 5, 2, 5 -> 5
    assert report.ratios(res) == {"caller_x": 5.0, "e2e_x": 5.0}
    assert report.ratios(Result(runs={"anyboard": [_run(1.0, 1.0)]})) == {"caller_x": None, "e2e_x": None}


def test_compare_peers_script_uses_the_shared_code(tmp_path):
    """benchmarks/compare_peers.py still runs (one tiny workload) and writes its three files."""
    script = os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks", "compare_peers.py")
    result = subprocess.run(
        [sys.executable, script, "--quick", "--only", "hist_1e4_np", "--reps", "1", "--out", str(tmp_path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "| hist_1e4_np | anyboard |" in (tmp_path / "latest.md").read_text()
    data = json.loads((tmp_path / "latest.json").read_text())
    assert set(data["results"]["hist_1e4_np"]["runs"]) == set(harness.IMPLS)


@pytest.mark.parametrize(
    ("option", "name", "message"),
    [
        ("--json", "adir", "--json {path}: it is a directory"),
        ("--plot", "adir.png", "--plot {path}: it is a directory"),
        ("--plot", "speedups.txt", "--plot {path}: matplotlib cannot write .txt files; end the name in one of "),
        ("--plot", "speedups", "--plot {path}: no file extension; end the name in one of "),
    ],
)
def test_output_targets_are_checked_before_any_timing(tmp_path, option, name, message):
    if option == "--plot":
        pytest.importorskip("matplotlib")
    (tmp_path / "adir").mkdir()
    (tmp_path / "adir.png").mkdir()
    path = str(tmp_path / name)
    result = _bench(*TINY, "--workloads", "scalar_1e5", "--impls", "anyboard", option, path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("anyboard bench: " + message.format(path=path)), result.stderr
    assert "[1/1]" not in result.stderr and result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "adir.png"]  # nothing written


@pytest.mark.skipif(
    not os.path.isdir("/sys/kernel"), reason="needs Linux's sysfs: a folder nobody can write, root included"
)
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--logdir", "/sys/kernel"], "--logdir /sys/kernel: cannot write there ("),
        (["--json", "/sys/kernel/bench.json"], "--json /sys/kernel/bench.json: cannot write there ("),
    ],
)
def test_an_unwritable_target_fails_before_any_timing(args, message):
    result = _bench(*TINY, "--workloads", "scalar_1e5", "--impls", "anyboard", *args)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("anyboard bench: " + message) and "[1/1]" not in result.stderr


def test_plot_reports_the_file_it_wrote(tmp_path):
    pytest.importorskip("matplotlib")
    svg = tmp_path / "b.svg"
    result = _bench(*TINY, "--workloads", "scalar_1e5", "--impls", "anyboard,torch", "--plot", str(svg))
    assert result.returncode == 0, result.stderr
    assert f"wrote {svg}" in result.stderr.splitlines() and b"<svg" in svg.read_bytes()


def test_json_is_strict_with_missing_figures_as_null(tmp_path, monkeypatch, capsys):
    """Without /proc (macOS, Windows) peak memory is unknown: null in the JSON, never NaN."""
    from anyboard.cli import main

    monkeypatch.setattr(harness, "_reset_peak_rss", lambda: False)
    out = tmp_path / "b.json"
    args = [*TINY, "--workloads", "scalar_1e5", "--impls", "anyboard", "--json", str(out)]
    assert main(["bench", *args]) == 0

    def refuse(token: str) -> None:
        raise ValueError(f"not strict JSON: {token}")

    data = json.loads(out.read_text(), parse_constant=refuse)
    [row] = data["results"]
    assert row["peak_mb"] is None and row["reps"][0]["peak_mb"] is None
    assert data["ratios"]["scalar_1e5"] == {"caller_x": None, "e2e_x": None}


def test_a_writer_named_twice_runs_once(tmp_path, capsys):
    from anyboard.cli import main

    out = tmp_path / "b.json"
    args = ["--scale", "0.001", "--workloads", "scalar_1e5", "--reps", "2", "--json", str(out)]
    assert main(["bench", *args, "--impls", "anyboard, anyboard,anyboard"]) == 0
    assert "writers anyboard, logdir" in capsys.readouterr().err
    [row] = json.loads(out.read_text())["results"]
    assert row["impl"] == "anyboard" and len(row["reps"]) == 2


@pytest.mark.skipif(harness._other_threads_ns() is None, reason="needs Linux /proc/self/task")
def test_each_timed_run_starts_once_the_other_threads_are_idle() -> None:
    """A library's thread left spinning by one writer's run (OpenBLAS's, ~0.1 s after a peer's
    ``values.dot(values)``) took the second core from the next writer's timed run."""
    import threading
    import time

    stop_at = time.perf_counter() + 0.3
    done = threading.Event()

    def spin() -> None:
        while time.perf_counter() < stop_at:
            pass
        done.set()

    thread = threading.Thread(target=spin)
    thread.start()
    try:
        time.sleep(0.05)
        harness.quiesce(limit_s=30.0)
        assert done.is_set()
    finally:
        thread.join()
    assert harness.quiesce(limit_s=30.0) < 30.0  # idle threads: it returns without reaching its limit
