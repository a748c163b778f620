"""anyboard's pytest plugin (registered through the ``pytest11`` entry point).

- ``--anyboard-update-goldens``: :func:`anyboard.testing.assert_logdir_matches` (re)writes
  golden files instead of comparing (same as ``ANYBOARD_UPDATE_GOLDENS=1``). Either one is
  announced in the report header, and the golden files written are listed at the end of the
  session (also under ``-q``).
- ``tb_logdir`` fixture: a fresh, empty log directory (a path string) for each test. It is
  removed after a test that passed; after a failure it is kept and its path is shown in the
  failure report (section "anyboard tb_logdir") and recorded as the test's ``tb_logdir``
  user property (JUnit XML).

pytest loads this module in every session where anyboard is installed, so it imports
nothing beyond pytest and the standard library at import time.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Generator
from typing import Any

import pytest

_OPTION = "--anyboard-update-goldens"
_LOGDIR_KEY = pytest.StashKey[str]()
_FAILED_KEY = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("anyboard", "anyboard (TensorBoard log testing)")
    group.addoption(
        _OPTION,
        action="store_true",
        default=False,
        dest="anyboard_update_goldens",
        help="anyboard.testing.assert_logdir_matches writes the golden files instead of comparing "
        "(review the diff before committing them)",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("anyboard_update_goldens", default=False):
        from anyboard.testing._golden import set_pytest_update

        set_pytest_update(True)


def pytest_unconfigure(config: pytest.Config) -> None:
    if config.getoption("anyboard_update_goldens", default=False):
        from anyboard.testing._golden import set_pytest_update

        set_pytest_update(False)


def pytest_report_header(config: pytest.Config) -> str | None:
    if config.getoption("anyboard_update_goldens", default=False):
        return "anyboard: golden files are being written (--anyboard-update-goldens)"
    from anyboard.testing._golden import UPDATE_ENV, env_update

    if env_update():
        return f"anyboard: golden files are being written ({UPDATE_ENV}={os.environ[UPDATE_ENV]} in the environment)"
    return None


def pytest_terminal_summary(terminalreporter: Any) -> None:
    golden = sys.modules.get("anyboard.testing._golden")
    written = list(getattr(golden, "written", []))
    if not written:
        return
    terminalreporter.write_sep("-", f"anyboard: {len(written)} golden file(s) written: review the diff")
    for path in dict.fromkeys(written):
        terminalreporter.write_line(path)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    path = item.stash.get(_LOGDIR_KEY, None)
    if path is not None and report.failed and report.when in ("setup", "call"):
        item.stash[_FAILED_KEY] = True
        report.sections.append(("anyboard tb_logdir", f"log directory kept at {path}\n"))


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:60] or "test"


@pytest.fixture
def tb_logdir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Generator[str, None, None]:
    """A fresh, empty log directory for this test (a path string).

    Removed after the test if it passed; kept after a failure, with its path in the report.
    """
    base = tmp_path_factory.mktemp(f"tb_logdir-{_safe_name(request.node.name)}", numbered=True)
    path = os.path.join(str(base), "logs")
    os.makedirs(path)
    request.node.stash[_LOGDIR_KEY] = path
    request.node.user_properties.append(("tb_logdir", path))
    yield path
    if not request.node.stash.get(_FAILED_KEY, False):
        shutil.rmtree(str(base), ignore_errors=True)
