"""add_hparams: sessions on disk, in TensorBoard's Python loader, and in the HParams dashboard API."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from tbread import TensorBoardServer, python_accumulator, python_scalars

import anyboard
from anyboard.proto.hparams_pb2 import STATUS_SUCCESS, HParamsPluginData

START = "_hparams_/session_start_info"
END = "_hparams_/session_end_info"


def _run_values(run_dir):
    """``{tag: (step, Summary.Value)}`` of one run directory (last value per tag)."""
    return {v.tag: (e.step, v) for e in anyboard.iter_run_events(run_dir) for v in e.summary.value}


def _start_info(run_dir):
    return HParamsPluginData.FromString(_run_values(run_dir)[START][1].metadata.plugin_data.content).session_start_info


def _session_groups(tb, hparams, metrics):
    body = {
        "experimentName": "",
        "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
        "colParams": [{"hparam": h, "includeInResult": True} for h in hparams]
        + [{"metric": {"group": "", "tag": m}, "includeInResult": True} for m in metrics],
        "startIndex": 0,
        "sliceSize": 100,
    }
    return tb.post("/data/plugin/hparams/session_groups", body)


def test_two_sessions_with_different_keys_show_every_column(logdir):
    torch = pytest.importorskip("torch")  # tensors as values; the rest of the module needs no torch
    with anyboard.SummaryWriter(logdir) as w:
        w.add_hparams(
            {"lr": 0.1, "opt": "sgd", "nesterov": True}, {"acc": 0.75, "loss": 0.5}, run_name="s1", global_step=5
        )
        w.add_hparams(
            {"lr": np.float32(0.25), "batch": torch.tensor(64), "flag": np.bool_(False), "skipped": None},
            {"acc": torch.tensor(0.875)},
            run_name="s2",
        )
    runs = sorted(d for d in os.listdir(logdir) if os.path.isdir(os.path.join(logdir, d)))
    assert runs == ["s1", "s2"]
    # No experiment summary anywhere (TensorBoard would take the first one and hide other keys).
    for run in ("s1", "s2"):
        assert "_hparams_/experiment" not in _run_values(os.path.join(logdir, run))

    s1 = _start_info(os.path.join(logdir, "s1"))
    assert s1.hparams["lr"].number_value == 0.1
    assert s1.hparams["opt"].string_value == "sgd"
    assert s1.hparams["nesterov"].WhichOneof("kind") == "bool_value" and s1.hparams["nesterov"].bool_value is True
    s2 = _start_info(os.path.join(logdir, "s2"))
    assert s2.hparams["lr"].number_value == pytest.approx(0.25)
    assert s2.hparams["batch"].WhichOneof("kind") == "number_value" and s2.hparams["batch"].number_value == 64
    assert s2.hparams["flag"].WhichOneof("kind") == "bool_value" and s2.hparams["flag"].bool_value is False
    assert "skipped" not in s2.hparams
    values = _run_values(os.path.join(logdir, "s1"))
    assert values["acc"][0] == 5 and values["acc"][1].simple_value == 0.75
    end = HParamsPluginData.FromString(values[END][1].metadata.plugin_data.content).session_end_info
    assert end.status == STATUS_SUCCESS and end.end_time_secs > 0
    assert s1.start_time_secs > 0

    acc = python_accumulator(os.path.join(logdir, "s2"))
    assert set(acc.PluginTagToContent("hparams")) == {START, END}
    assert [(st, v) for _, st, v in python_scalars(os.path.join(logdir, "s2"), "acc")] == [(0, 0.875)]

    for load_fast in (True, False):
        with TensorBoardServer(logdir, load_fast=load_fast) as tb:
            exp = tb.wait_for(
                lambda: tb.post("/data/plugin/hparams/experiment", {"experimentName": ""}).get("metricInfos")
            )
            exp = tb.post("/data/plugin/hparams/experiment", {"experimentName": ""})
            infos = {h["name"]: h for h in exp["hparamInfos"]}
            assert set(infos) == {"lr", "opt", "nesterov", "batch", "flag"}, load_fast
            assert infos["lr"]["type"] == "DATA_TYPE_FLOAT64" and infos["lr"]["differs"]
            assert infos["opt"]["type"] == "DATA_TYPE_STRING"
            assert infos["flag"]["type"] == "DATA_TYPE_BOOL"
            assert {(m["name"]["group"], m["name"]["tag"]) for m in exp["metricInfos"]} == {("", "acc"), ("", "loss")}
            groups = _session_groups(tb, sorted(infos), ["acc", "loss"])
            assert groups["totalSize"] == 2
            by_name = {g["name"]: g for g in groups["sessionGroups"]}
            assert set(by_name) == {"s1", "s2"}
            metrics = {name: {m["name"]["tag"]: m["value"] for m in g["metricValues"]} for name, g in by_name.items()}
            assert metrics["s1"] == {"acc": 0.75, "loss": 0.5}
            assert metrics["s2"]["acc"] == 0.875
            assert by_name["s1"]["hparams"] == {"lr": 0.1, "opt": "sgd", "nesterov": True}
            assert by_name["s2"]["hparams"] == {"lr": 0.25, "batch": 64.0, "flag": False}
            assert by_name["s1"]["sessions"][0]["status"] == "STATUS_SUCCESS"


def test_default_run_names_into_run_and_safe_paths(logdir):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with anyboard.SummaryWriter(logdir) as w:
            w.add_hparams({"a": 1}, {"m": 1.0})
            w.add_hparams({"a": 2}, {"m": 2.0})  # same microsecond is still a new run
            w.add_hparams({"a": 3}, {"m": 3.0}, run_name="../../escape")
            w.add_hparams({"a": 4}, {"m": 4.0}, run_name="sweep/trial1")
            w.add_hparams({"a": 5}, {"m": 5.0}, into_run=True)
            assert not caught
            w.add_hparams({"a": 6}, {"m": 6.0}, into_run=True)
    assert len(caught) == 1 and "first" in str(caught[0].message)
    parent = os.path.dirname(os.path.abspath(logdir))
    assert sorted(os.listdir(parent)) == ["logs"]  # nothing escaped the logdir
    entries = sorted(os.listdir(logdir))
    assert "%2e%2e" in entries and os.path.isdir(os.path.join(logdir, "%2e%2e", "%2e%2e", "escape"))
    assert os.path.isdir(os.path.join(logdir, "sweep", "trial1"))
    timed = [e for e in entries if e[0].isdigit()]
    assert len(timed) == 2
    assert sorted(_start_info(os.path.join(logdir, r)).hparams["a"].number_value for r in timed) == [1.0, 2.0]
    main = [v for e in anyboard.iter_run_events(logdir) for v in e.summary.value]
    assert [v.tag for v in main].count(START) == 2
    assert [v.simple_value for v in main if v.tag == "m"] == [5.0, 6.0]
    with TensorBoardServer(logdir) as tb:
        tb.wait_for(lambda: tb.post("/data/plugin/hparams/experiment", {"experimentName": ""}).get("metricInfos"))
        groups = _session_groups(tb, ["a"], ["m"])
        hp = {g["name"]: g["hparams"]["a"] for g in groups["sessionGroups"]}
        assert hp["."] == 5.0  # the run's first hparams win; its last metric is shown
        assert hp["sweep/trial1"] == 4.0 and hp["%2e%2e/%2e%2e/escape"] == 3.0
        metric = {g["name"]: g["metricValues"][0]["value"] for g in groups["sessionGroups"]}
        assert metric["."] == 6.0


def test_bad_hparams_name_the_key(logdir):
    with anyboard.SummaryWriter(logdir) as w:
        with pytest.raises(TypeError, match="hparam_dict"):
            w.add_hparams([("a", 1)], {"m": 1.0})
        with pytest.raises(TypeError, match="metric_dict"):
            w.add_hparams({"a": 1}, 0.5)
        with pytest.raises(TypeError, match="'acc'"):
            w.add_hparams({"a": 1}, {"acc": "high"})
        with pytest.raises(ValueError, match="'acc'"):
            w.add_hparams({"a": 1}, {"acc": np.ones(3)})
        with pytest.raises(ValueError, match="into_run"):
            w.add_hparams({"a": 1}, {"m": 1.0}, run_name="x", into_run=True)
        with pytest.raises(ValueError, match="run_name"):
            w.add_hparams({"a": 1}, {"m": 1.0}, run_name="//")
    # Nothing was written by the failed calls.
    assert [d for d in os.listdir(logdir) if os.path.isdir(os.path.join(logdir, d))] == []


def test_domain_discrete_is_checked(logdir):
    with anyboard.SummaryWriter(logdir) as w:
        w.add_hparams(
            {"opt": "adam", "bs": 32},
            {"m": 1.0},
            hparam_domain_discrete={"opt": ["sgd", "adam"], "bs": [16, 32]},
            run_name="ok",
        )
        # a value outside its domain is logged, as torch logs it (only the domain's types are checked)
        w.add_hparams({"opt": "rmsprop"}, {"m": 1.0}, hparam_domain_discrete={"opt": ["sgd", "adam"]}, run_name="out")
        with pytest.raises(ValueError, match=r"'lr'.*not in hparam_dict"):
            w.add_hparams({"opt": "sgd"}, {"m": 1.0}, hparam_domain_discrete={"lr": [0.1]})
        with pytest.raises(TypeError, match=r"'opt'.*str"):
            w.add_hparams({"opt": "sgd"}, {"m": 1.0}, hparam_domain_discrete={"opt": ["sgd", 1]})
        with pytest.raises(TypeError, match=r"'opt'.*list"):
            w.add_hparams({"opt": "sgd"}, {"m": 1.0}, hparam_domain_discrete={"opt": "sgd"})
    assert _start_info(os.path.join(logdir, "ok")).hparams["opt"].string_value == "adam"
    assert _start_info(os.path.join(logdir, "out")).hparams["opt"].string_value == "rmsprop"


@pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt", reason="POSIX symlinks")
def test_a_refused_write_does_not_count_as_a_session_so_the_retry_does_not_warn(tmp_path):
    """A sub-run symlinked outside the log directory refuses the write; once the link is gone,
    the same run name gets its session with no "already has hyperparameters" warning, and a
    third call on it (a real second session) does warn."""
    from anyboard._paths import UnsafePathError

    logdir, outside = tmp_path / "logs", tmp_path / "outside"
    logdir.mkdir()
    outside.mkdir()
    (logdir / "trial").symlink_to(outside, target_is_directory=True)
    with anyboard.SummaryWriter(str(logdir)) as w:
        with pytest.raises(UnsafePathError):
            w.add_hparams({"lr": 0.1}, {"acc": 0.5}, run_name="trial")
        (logdir / "trial").unlink()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            w.add_hparams({"lr": 0.2}, {"acc": 0.75}, run_name="trial")
        with pytest.warns(UserWarning, match="already has hyperparameters"):
            w.add_hparams({"lr": 0.3}, {"acc": 0.25}, run_name="trial")
    assert os.listdir(outside) == []
    starts = [
        HParamsPluginData.FromString(v.metadata.plugin_data.content).session_start_info.hparams["lr"].number_value
        for e in anyboard.iter_run_events(str(logdir / "trial"))
        for v in e.summary.value
        if v.tag == START
    ]
    assert starts == [0.2, 0.3]
