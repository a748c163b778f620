"""anyboard's pytest plugin, as a user meets it: a temporary project run by pytest in a subprocess.

The plugin is found through the installed ``pytest11`` entry point (nothing is passed with ``-p``):
the ``--anyboard-update-goldens`` option and the ``tb_logdir`` fixture.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

_TEST_FILE = """
import os

import numpy as np

from anyboard import SummaryWriter
from anyboard.testing import assert_logdir_matches

GOLDEN = os.path.join(os.path.dirname(__file__), "golden", "train.txt")


def test_training_logs(tb_logdir):
    with open(os.path.join(os.path.dirname(__file__), "seen_logdirs.txt"), "a") as f:
        f.write(tb_logdir + "\\n")
    assert os.path.isdir(tb_logdir) and os.listdir(tb_logdir) == []
    loss = float(os.environ.get("LOSS", "0.25"))
    with SummaryWriter(tb_logdir) as w:
        for step in range(3):
            w.add_scalar("loss", loss if step == 1 else 1.0 / (step + 1), step)
        w.add_histogram("weights", np.linspace(-1, 1, 50), 2)
        w.add_text("notes", "three steps", 2)
    assert_logdir_matches(tb_logdir, GOLDEN)


def test_each_test_gets_a_fresh_directory(tb_logdir):
    assert os.listdir(tb_logdir) == []
"""


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "userproject"
    (root / "tests").mkdir(parents=True)
    (root / "pytest.ini").write_text("[pytest]\n")
    (root / "tests" / "test_logging.py").write_text(textwrap.dedent(_TEST_FILE))
    return root


def _pytest(root, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "PYTEST_ADDOPTS")}
    environ.pop("ANYBOARD_UPDATE_GOLDENS", None)
    environ.update(env)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
    cmd += ["--basetemp", str(root / "pytest-tmp"), *args]
    return subprocess.run(cmd, check=False, cwd=root, env=environ, capture_output=True, text=True, timeout=300)


def _seen(root) -> list[str]:
    path = root / "tests" / "seen_logdirs.txt"
    lines = path.read_text().splitlines() if path.exists() else []
    path.unlink(missing_ok=True)
    return lines


def test_golden_workflow_in_a_user_project(project):
    golden = project / "tests" / "golden" / "train.txt"

    # 1. No golden yet: the test fails, saying how to create it; its log directory is kept and named.
    first = _pytest(project)
    out = first.stdout + first.stderr
    assert first.returncode == 1, out
    assert "golden file" in out and "does not exist" in out and "--anyboard-update-goldens" in out
    assert "1 failed, 1 passed" in out
    [kept] = _seen(project)
    assert "anyboard tb_logdir" in out and f"log directory kept at {kept}" in out
    assert os.path.isdir(kept) and any("tfevents" in n for n in os.listdir(kept))
    assert not golden.exists()

    # 2. --anyboard-update-goldens writes it.
    update = _pytest(project, "--anyboard-update-goldens")
    assert update.returncode == 0, update.stdout + update.stderr
    text = golden.read_text(encoding="utf-8")
    assert '  step 1 tag "loss" scalars scalar 0.25' in text and 'tag "weights" histograms histogram num=50.0' in text
    assert '"three steps"' in text and "tfevents" not in text
    _seen(project)

    # 3. A second run passes and removes the passing tests' log directories.
    second = _pytest(project)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "2 passed" in second.stdout
    [passed] = _seen(project)
    assert not os.path.exists(passed)

    # 4. A changed value fails with a diff naming the run, tag and step, and the value.
    changed = _pytest(project, LOSS="0.5")
    out = changed.stdout + changed.stderr
    assert changed.returncode == 1, out
    assert 'differences in: run ".", tag "loss", step 1' in out
    assert '-  step 1 tag "loss" scalars scalar 0.25' in out and '+  step 1 tag "loss" scalars scalar 0.5' in out
    assert "src/anyboard/testing" not in out and "should_update(update)" not in out  # the kit's frames are hidden
    _seen(project)
    assert golden.read_text(encoding="utf-8") == text  # a failing comparison never rewrites the golden

    # 5. ANYBOARD_UPDATE_GOLDENS=1 accepts the new value.
    accept = _pytest(project, LOSS="0.5", ANYBOARD_UPDATE_GOLDENS="1")
    assert accept.returncode == 0, accept.stdout + accept.stderr
    assert "scalar 0.5" in golden.read_text(encoding="utf-8")
    assert _pytest(project, LOSS="0.5").returncode == 0


def test_help_lists_the_option(project):
    result = _pytest(project, "--help")
    assert result.returncode == 0
    assert "--anyboard-update-goldens" in result.stdout


def test_fixture_is_listed(project):
    result = _pytest(project, "--fixtures")
    assert result.returncode == 0
    assert "tb_logdir" in result.stdout and "A fresh, empty log directory" in result.stdout


def test_plugin_imports_no_framework():
    """The plugin is loaded into every pytest session: importing it pulls in no framework or TensorBoard."""
    code = (
        "import sys, anyboard.testing.plugin, anyboard.testing; "
        "heavy = [m for m in ('torch', 'tensorboard', 'tensorboardX', 'PIL', 'jax', 'mxnet', 'matplotlib') "
        "if m in sys.modules]; print(heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_writing_goldens_is_announced_for_the_variable_as_for_the_option(project):
    """ANYBOARD_UPDATE_GOLDENS=1 (leaked into CI, say) rewrites goldens like the option does: the
    report header says so for either, and the goldens written are listed at the end, under -q too."""
    golden = project / "tests" / "golden" / "train.txt"
    by_variable = _pytest(project, "-v", ANYBOARD_UPDATE_GOLDENS="1")
    out = by_variable.stdout
    assert by_variable.returncode == 0, out + by_variable.stderr
    assert "anyboard: golden files are being written (ANYBOARD_UPDATE_GOLDENS=1 in the environment)" in out
    assert "anyboard: 1 golden file(s) written: review the diff" in out and str(golden) in out.splitlines()
    quiet = _pytest(project, ANYBOARD_UPDATE_GOLDENS="yes")
    assert "anyboard: 1 golden file(s) written" in quiet.stdout and str(golden) in quiet.stdout.splitlines()
    by_option = _pytest(project, "-v", "--anyboard-update-goldens")
    assert "anyboard: golden files are being written (--anyboard-update-goldens)" in by_option.stdout
    comparing = _pytest(project, "-v")
    assert comparing.returncode == 0, comparing.stdout
    assert "golden files are being written" not in comparing.stdout and "written: review" not in comparing.stdout
