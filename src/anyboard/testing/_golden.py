"""Golden files: compare a dump with a reviewed file, or (re)write the file on request."""

from __future__ import annotations

import difflib
import os
import re

UPDATE_ENV = "ANYBOARD_UPDATE_GOLDENS"
PYTEST_OPTION = "--anyboard-update-goldens"

# Set by the pytest plugin when ``--anyboard-update-goldens`` is given.
_pytest_update = False


def set_pytest_update(flag: bool) -> None:
    """Called by :mod:`anyboard.testing.plugin` at configure time."""
    global _pytest_update
    _pytest_update = bool(flag)


def should_update(update: bool | None) -> bool:
    """``update`` if given, else ``ANYBOARD_UPDATE_GOLDENS=1`` or pytest's ``--anyboard-update-goldens``."""
    if update is not None:
        return bool(update)
    return os.environ.get(UPDATE_ENV, "").strip().lower() in ("1", "true", "yes") or _pytest_update


_STEP_LINE = re.compile(r'^  step (-?\d+)(?: tag ("(?:[^"\\]|\\.)*"))?')
_RUN_LINE = re.compile(r'^run ("(?:[^"\\]|\\.)*")$')


def _labels(lines: list[str]) -> list[str]:
    """For each dump line: ``run R, tag T, step S`` of the value it belongs to ('' before any)."""
    run = ""
    current = ""
    out = []
    for line in lines:
        m = _RUN_LINE.match(line)
        if m:
            run = m.group(1)
            current = f"run {run}"
        else:
            s = _STEP_LINE.match(line)
            if s:
                current = f"run {run}, " + (f"tag {s.group(2)}, " if s.group(2) else "") + f"step {s.group(1)}"
        out.append(current)
    return out


def differences(expected: str, actual: str) -> list[str]:
    """The distinct ``run, tag, step`` labels of the lines that differ, in order of appearance."""
    old, new = expected.splitlines(), actual.splitlines()
    old_labels, new_labels = _labels(old), _labels(new)
    found: list[str] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        spans = old_labels[i1:i2] + new_labels[j1:j2]
        if not spans:  # pure insertion/deletion at a point: name the value around it
            spans = [old_labels[i1 - 1] if i1 > 0 else (new_labels[j1 - 1] if j1 > 0 else "")]
        for label in spans:
            label = label or f"line {i1 + 1} of the golden file"
            if label not in found:
                found.append(label)
    return found


def assert_text_matches(actual: str, golden_file: str | os.PathLike[str], *, update: bool | None = None) -> None:
    """Compare ``actual`` with the text in ``golden_file``; write it instead when updating.

    Raises ``AssertionError`` with the values that differ (run, tag, step) and a unified
    diff (golden ``-``, actual ``+``); a missing golden raises one saying how to create it.
    """
    __tracebackhide__ = True  # pytest: a mismatch is reported at the test's own line
    path = os.fspath(golden_file)
    if should_update(update):
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write(actual)
        return
    if not os.path.exists(path):
        raise AssertionError(
            f"golden file {path} does not exist. Create it by running pytest with {PYTEST_OPTION} "
            f"(or with {UPDATE_ENV}=1 in the environment, or update=True), then review and commit it."
        )
    with open(path, encoding="utf-8", newline="") as f:
        expected = f.read().replace("\r\n", "\n")
    if expected == actual:
        return
    diff = "\n".join(
        difflib.unified_diff(expected.splitlines(), actual.splitlines(), f"{path} (golden)", "actual", n=3, lineterm="")
    )
    where = differences(expected, actual)
    shown = "; ".join(where[:10]) + (f"; and {len(where) - 10} more" if len(where) > 10 else "")
    raise AssertionError(
        f"dump does not match golden file {path}\n"
        f"differences in: {shown}\n"
        f"(rerun with {PYTEST_OPTION} or {UPDATE_ENV}=1 to accept the new output)\n{diff}"
    )
