"""``import anyboard`` stays light: no framework, no TensorBoard, no plotting."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

FORBIDDEN = [
    "torch",
    "mxnet",
    "jax",
    "jaxlib",
    "tensorflow",
    "tensorboard",
    "tensorboardX",
    "matplotlib",
    "fsspec",
    "s3fs",
    "onnx",
]

CODE = textwrap.dedent(
    """
    import json, sys
    import anyboard
    w = anyboard.SummaryWriter(sys.argv[1])
    w.add_scalar("x", 1.0, 1)
    w.add_histogram("h", [1.0, 2.0], 1)
    w.add_text("t", "hi", 1)
    w.close()
    print(json.dumps(sorted(sys.modules)))
    """
)


def test_import_anyboard_imports_no_framework(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", CODE, str(tmp_path / "run")], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    modules = json.loads(proc.stdout)
    assert "anyboard" in modules and "anyboard.writer" in modules
    loaded = sorted(m for m in modules if m.split(".")[0] in FORBIDDEN)
    assert not loaded, f"import anyboard (and basic logging) pulled in {loaded}"


def test_import_anyboard_with_forbidden_modules_blocked(tmp_path):
    # Even if importing them were attempted lazily and swallowed, a blocker
    # makes any attempt visible.
    code = textwrap.dedent(
        f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {FORBIDDEN!r}:
                    raise ImportError("blocked: " + name)
                return None
        sys.meta_path.insert(0, Block())
        import anyboard
        with anyboard.SummaryWriter(sys.argv[1]) as w:
            w.add_scalar("x", 1.0, 1)
            w.add_scalars("m", {{"a": 1.0}}, 1)
            w.add_tensor("t", [1, 2, 3], 1)
        print("ok")
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "run")], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_crc32c_is_imported_on_the_first_record_not_with_anyboard(tmp_path):
    # crc32c's own __init__ costs 30-45 ms (importlib.metadata); anyboard defers it to the
    # first CRC, and the records written then are checked by the reader's CRC test.
    code = textwrap.dedent(
        """
        import sys
        import anyboard
        print("crc32c" in sys.modules)
        with anyboard.SummaryWriter(sys.argv[1]) as w:
            w.add_scalar("x", 1.0, 1)
        print("crc32c" in sys.modules)
        print(sum(1 for _ in anyboard.iter_run_events(sys.argv[1])))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "run")], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "True", "2"]  # the file_version event and the scalar


def test_read_and_testing_are_attributes_after_a_plain_import_and_load_on_first_use():
    # The README's "anyboard.read.find_runs(path)" after `import anyboard` alone (it raised
    # AttributeError unless something had imported anyboard.read before).
    code = textwrap.dedent(
        """
        import sys
        import anyboard
        assert "anyboard.read" not in sys.modules and "anyboard.testing" not in sys.modules
        assert callable(anyboard.read.find_runs) and callable(anyboard.read.iter_run_events)
        assert callable(anyboard.testing.dump)
        assert {"read", "testing"} <= set(dir(anyboard))
        assert "pandas" not in sys.modules
        print("ok")
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
