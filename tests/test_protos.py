"""anyboard's own protos: no drift from ``proto/``, wire-compatible with
TensorBoard's, and loadable beside tensorboard, tensorboardX and torch.

The drift test regenerates the code with the pinned generator
(``grpcio-tools==1.51.3``, see ``scripts/gen_protos.py``). It runs the script
with the interpreter in ``ANYBOARD_PROTOC_PYTHON`` (a Python that has the
pinned grpcio-tools; CI provides one), or the current interpreter.
"""

from __future__ import annotations

import importlib
import os
import pathlib
import pkgutil
import subprocess
import sys
import textwrap

import pytest

import anyboard.proto

ROOT = pathlib.Path(__file__).resolve().parent.parent
GENERATED = ROOT / "src" / "anyboard" / "proto"

# TensorBoard modules holding the counterparts of anyboard's messages
# (anyboard.X <-> tensorboard.X, anyboard.hparams.X <-> tensorboard.hparams.X, ...).
TB_MODULES = [
    "tensorboard.compat.proto.event_pb2",
    "tensorboard.compat.proto.summary_pb2",
    "tensorboard.compat.proto.tensor_pb2",
    "tensorboard.compat.proto.tensor_shape_pb2",
    "tensorboard.compat.proto.types_pb2",
    "tensorboard.compat.proto.resource_handle_pb2",
    "tensorboard.compat.proto.graph_pb2",
    "tensorboard.compat.proto.node_def_pb2",
    "tensorboard.compat.proto.attr_value_pb2",
    "tensorboard.compat.proto.versions_pb2",
    "tensorboard.compat.proto.config_pb2",
    "tensorboard.compat.proto.step_stats_pb2",
    "tensorboard.plugins.hparams.api_pb2",
    "tensorboard.plugins.hparams.plugin_data_pb2",
    "tensorboard.plugins.custom_scalar.layout_pb2",
    "tensorboard.plugins.mesh.plugin_data_pb2",
    "tensorboard.plugins.projector.projector_config_pb2",
    "tensorboard.plugins.scalar.plugin_data_pb2",
    "tensorboard.plugins.histogram.plugin_data_pb2",
    "tensorboard.plugins.image.plugin_data_pb2",
    "tensorboard.plugins.audio.plugin_data_pb2",
    "tensorboard.plugins.text.plugin_data_pb2",
    "tensorboard.plugins.pr_curve.plugin_data_pb2",
]


def anyboard_modules():
    names = sorted(m.name for m in pkgutil.iter_modules(anyboard.proto.__path__) if m.name.endswith("_pb2"))
    return [importlib.import_module(f"anyboard.proto.{n}") for n in names]


# -- (1) generated code matches proto/ -------------------------------------------


def test_generated_code_has_not_drifted(tmp_path):
    python = os.environ.get("ANYBOARD_PROTOC_PYTHON") or sys.executable
    proc = subprocess.run(
        [python, str(ROOT / "scripts" / "gen_protos.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, (
        f"generator failed with {python} (set ANYBOARD_PROTOC_PYTHON to a Python with "
        f"grpcio-tools==1.51.3):\n{proc.stdout}\n{proc.stderr}"
    )
    fresh_dir = tmp_path / "anyboard" / "proto"
    fresh = {p.name: p.read_bytes() for p in fresh_dir.iterdir() if p.name.endswith(("_pb2.py", "_pb2.pyi"))}
    committed = {p.name: p.read_bytes() for p in GENERATED.iterdir() if p.name.endswith(("_pb2.py", "_pb2.pyi"))}
    assert sorted(fresh) == sorted(committed), "generated file set differs from src/anyboard/proto"
    sources = sorted(p.stem for p in (ROOT / "proto" / "anyboard" / "proto").glob("*.proto"))
    assert sorted(n[: -len("_pb2.py")] for n in committed if n.endswith(".py")) == sources
    stale = [name for name in sorted(fresh) if fresh[name] != committed[name]]
    assert not stale, f"regenerate with scripts/gen_protos.py: {stale} differ from proto/"


# -- (2) same field numbers, names and types as TensorBoard's protos ---------------


def _all_messages(container):
    for msg in container.message_types_by_name.values():
        yield msg
        yield from _nested(msg)


def _nested(msg):
    for sub in msg.nested_types:
        yield sub
        yield from _nested(sub)


def _all_enums(file_desc):
    yield from file_desc.enum_types_by_name.values()
    for msg in _all_messages(file_desc):
        yield from msg.enum_types


def _tb_name(full_name: str) -> str:
    return "tensorboard" + full_name[len("anyboard") :] if full_name.startswith("anyboard.") else full_name


def _repeated(field) -> bool:
    # protobuf >= 5.28 has is_repeated (7.x dropped .label); 4.21 only has .label
    flag = getattr(field, "is_repeated", None)
    return bool(flag) if flag is not None else field.label == field.LABEL_REPEATED


def _tb_pool():
    from google.protobuf import descriptor_pool

    for name in TB_MODULES:
        importlib.import_module(name)
    return descriptor_pool.Default()


def test_every_field_matches_tensorboards_descriptors():
    pool = _tb_pool()
    problems = []
    checked = 0
    for module in anyboard_modules():
        for msg in _all_messages(module.DESCRIPTOR):
            try:
                tb = pool.FindMessageTypeByName(_tb_name(msg.full_name))
            except KeyError:
                problems.append(f"{msg.full_name}: no {_tb_name(msg.full_name)} in TensorBoard")
                continue
            for f in msg.fields:
                theirs = tb.fields_by_number.get(f.number)
                where = f"{msg.full_name}.{f.name} (= {f.number})"
                if theirs is None:
                    problems.append(f"{where}: TensorBoard has no field {f.number}")
                    continue
                checked += 1
                if theirs.name != f.name:
                    problems.append(f"{where}: TensorBoard calls it {theirs.name}")
                if theirs.type != f.type:
                    problems.append(f"{where}: type {f.type} vs TensorBoard's {theirs.type}")
                if _repeated(theirs) != _repeated(f):
                    problems.append(f"{where}: repeated-ness differs")
                if getattr(f, "is_packed", None) != getattr(theirs, "is_packed", None):
                    problems.append(f"{where}: packed-ness differs")
                for kind in ("message_type", "enum_type"):
                    ours, tbs = getattr(f, kind), getattr(theirs, kind)
                    if (ours is None) != (tbs is None) or (ours and _tb_name(ours.full_name) != tbs.full_name):
                        problems.append(f"{where}: {kind} {ours and ours.full_name} vs {tbs and tbs.full_name}")
                ours_oneof = f.containing_oneof and f.containing_oneof.name
                tbs_oneof = theirs.containing_oneof and theirs.containing_oneof.name
                if ours_oneof != tbs_oneof:
                    problems.append(f"{where}: oneof {ours_oneof} vs TensorBoard's {tbs_oneof}")
        for enum in _all_enums(module.DESCRIPTOR):
            try:
                tb_enum = pool.FindEnumTypeByName(_tb_name(enum.full_name))
            except KeyError:
                problems.append(f"{enum.full_name}: no {_tb_name(enum.full_name)} in TensorBoard")
                continue
            for value in enum.values:
                theirs = tb_enum.values_by_number.get(value.number)
                if theirs is None or theirs.name != value.name:
                    problems.append(
                        f"{enum.full_name}.{value.name} = {value.number}: TensorBoard has {theirs and theirs.name}"
                    )
                checked += 1
    assert not problems, "\n".join(problems)
    assert checked > 250, checked  # the walk really covered the protos


def test_core_messages_round_trip_through_tensorboards_classes():
    from tensorboard.compat.proto import event_pb2 as tb_event

    from anyboard.proto.event_pb2 import Event, SessionLog, SourceMetadata
    from anyboard.proto.summary_pb2 import HistogramProto, Summary, SummaryMetadata
    from anyboard.proto.types_pb2 import DT_STRING

    md = SummaryMetadata(display_name="d", summary_description="desc")
    md.plugin_data.plugin_name = "p"
    md.plugin_data.content = b"\x08\x01"
    values = [
        Summary.Value(tag="s", simple_value=1.5, metadata=md),
        Summary.Value(
            tag="h",
            histo=HistogramProto(min=-1, max=2, num=3, sum=1, sum_squares=5, bucket_limit=[0, 2], bucket=[1, 2]),
        ),
        Summary.Value(tag="i", image=Summary.Image(height=2, width=3, colorspace=4, encoded_image_string=b"png")),
        Summary.Value(
            tag="a",
            audio=Summary.Audio(
                sample_rate=8000, num_channels=1, length_frames=4, encoded_audio_string=b"w", content_type="audio/wav"
            ),
        ),
    ]
    t = Summary.Value(tag="t")
    t.tensor.dtype = DT_STRING
    t.tensor.tensor_shape.dim.add().size = 1
    t.tensor.string_val.append(b"x")
    events = [
        Event(wall_time=1.5, step=-3, summary=Summary(value=[*values, t])),
        Event(wall_time=2.0, file_version="brain.Event:2", source_metadata=SourceMetadata(writer="anyboard")),
        Event(step=5, session_log=SessionLog(status=SessionLog.START, checkpoint_path="c", msg="m")),
    ]
    for event in events:
        data = event.SerializeToString()
        theirs = tb_event.Event.FromString(data)
        assert theirs.SerializeToString() == data
        assert Event.FromString(theirs.SerializeToString()) == event
    parsed = tb_event.Event.FromString(events[0].SerializeToString())
    assert [v.tag for v in parsed.summary.value] == ["s", "h", "i", "a", "t"]
    assert parsed.summary.value[1].histo.bucket_limit == [0, 2]
    assert parsed.summary.value[0].metadata.plugin_data.plugin_name == "p"


# -- (3) no descriptor-pool clashes ------------------------------------------------

COEXIST = textwrap.dedent(
    """
    import importlib, pkgutil, sys
    order = sys.argv[1]

    def load_anyboard():
        import anyboard, anyboard.proto
        for m in pkgutil.iter_modules(anyboard.proto.__path__):
            if m.name.endswith("_pb2"):
                importlib.import_module("anyboard.proto." + m.name)
        w = anyboard.SummaryWriter(sys.argv[2] + "/anyboard")
        w.add_scalar("x", 1.0, 1)
        w.close()

    def load_others():
        import tensorboardX, tensorboardX.proto
        for m in pkgutil.iter_modules(tensorboardX.proto.__path__):
            if m.name.endswith("_pb2"):
                importlib.import_module("tensorboardX.proto." + m.name)
        from torch.utils.tensorboard import SummaryWriter as TorchWriter
        from tensorboard.compat.proto import event_pb2, summary_pb2  # noqa: F401
        from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2  # noqa: F401
        from tensorboard.plugins.mesh import plugin_data_pb2 as m  # noqa: F401
        from tensorboard.plugins.projector import projector_config_pb2  # noqa: F401
        from tensorboard.plugins.custom_scalar import layout_pb2  # noqa: F401
        w = TorchWriter(sys.argv[2] + "/torch")
        w.add_scalar("x", 1.0, 1)
        w.close()
        w = tensorboardX.SummaryWriter(sys.argv[2] + "/tbx")
        w.add_scalar("x", 1.0, 1)
        w.close()

    if order == "anyboard-first":
        load_anyboard(); load_others()
    else:
        load_others(); load_anyboard()
    from google.protobuf.internal import api_implementation
    print("ok", api_implementation.Type())
    """
)


@pytest.mark.parametrize("order", ["anyboard-first", "others-first"])
def test_protos_load_beside_tensorboard_tensorboardx_and_torch(tmp_path, order):
    proc = subprocess.run(
        [sys.executable, "-c", COEXIST, order, str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout.startswith("ok"), proc.stdout
    assert "duplicate" not in proc.stderr.lower()
    for name in ("anyboard", "torch", "tbx"):
        assert any("tfevents" in f for f in os.listdir(tmp_path / name)), name


def test_protos_load_beside_tensorboard_with_pure_python_protobuf(tmp_path):
    env = dict(os.environ, PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION="python")
    code = textwrap.dedent(
        """
        import sys
        from tensorboard.compat.proto import event_pb2 as tb
        import anyboard
        from anyboard.proto import event_pb2, hparams_pb2, mesh_pb2, projector_config_pb2, run_metadata_pb2
        with anyboard.SummaryWriter(sys.argv[1]) as w:
            w.add_scalar("x", 1.0, 1)
        events = list(anyboard.iter_run_events(sys.argv[1]))
        assert tb.Event.FromString(events[-1].SerializeToString()).summary.value[0].simple_value == 1.0
        from google.protobuf.internal import api_implementation
        print(api_implementation.Type())
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout.strip() == "python"
