"""Golden files: compare a dump with a reviewed file, or (re)write the file on request.

A mismatch names the values that differ (``run R, tag T, step S``) and shows a unified diff.
The work stays bounded on long logs: the lines both texts share at their start and end are
set aside first (linear); what is left is diffed with :mod:`difflib` when it is small
(:data:`DIFFLIB_LINES` lines), and otherwise compared value by value (lines grouped by their
``run, tag, step`` label, linear). The diff shown is cut after :data:`SHOWN_DIFF_LINES` lines.
"""

from __future__ import annotations

import difflib
import os
import re

UPDATE_ENV = "ANYBOARD_UPDATE_GOLDENS"
PYTEST_OPTION = "--anyboard-update-goldens"
DIFFLIB_LINES = 2000  # differing region (both sides) above which the linear comparison is used
SHOWN_DIFF_LINES = 200  # diff lines shown in the AssertionError
SHOWN_LABELS = 10  # values named on the "differences in:" line

# Set by the pytest plugin when ``--anyboard-update-goldens`` is given.
_pytest_update = False
# The golden files written in this process under ``--anyboard-update-goldens`` or
# ``ANYBOARD_UPDATE_GOLDENS`` (not ``update=True``), in order: the pytest plugin lists them at the end.
written: list[str] = []


def set_pytest_update(flag: bool) -> None:
    """Called by :mod:`anyboard.testing.plugin` at configure time."""
    global _pytest_update
    _pytest_update = bool(flag)


def env_update() -> bool:
    """Whether ``ANYBOARD_UPDATE_GOLDENS`` asks for goldens to be written (``1``, ``true`` or ``yes``)."""
    return os.environ.get(UPDATE_ENV, "").strip().lower() in ("1", "true", "yes")


def should_update(update: bool | None) -> bool:
    """``update`` if given, else ``ANYBOARD_UPDATE_GOLDENS=1`` or pytest's ``--anyboard-update-goldens``.

    Raises ``TypeError`` unless ``update`` is True, False or None (a string such as ``"0"``
    from an environment variable would otherwise count as true and overwrite the golden).
    """
    if update is not None and not isinstance(update, bool):
        raise TypeError(f"update must be True, False or None, got {update!r} ({type(update).__name__})")
    if update is not None:
        return update
    return env_update() or _pytest_update


_STEP_LINE = re.compile(r'^  step (-?\d+)(?: tag ("(?:[^"\\]|\\.)*"))?')
_RUN_LINE = re.compile(r'^run ("(?:[^"\\]|\\.)*")$')


def _labels(lines: list[str]) -> list[str]:
    """For each dump line: ``run R, tag T, step S`` of the value it belongs to ('' before any,
    and for an empty line: a dump has none)."""
    run = ""
    current = ""
    out = []
    for line in lines:
        if not line:
            out.append("")
            continue
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


def _common_ends(old: list[str], new: list[str]) -> tuple[int, int]:
    """Numbers of lines the two lists share at their start and (not overlapping it) at their end."""
    limit = min(len(old), len(new))
    head = 0
    while head < limit and old[head] == new[head]:
        head += 1
    tail = 0
    while tail < limit - head and old[-1 - tail] == new[-1 - tail]:
        tail += 1
    return head, tail


class _Comparison:
    """The differences between two texts: ``labels`` (values that differ) and ``diff`` (lines)."""

    def __init__(self, expected: str, actual: str, old_name: str = "golden", new_name: str = "actual") -> None:
        old, new = expected.splitlines(), actual.splitlines()
        self.old_labels, self.new_labels = _labels(old), _labels(new)
        head, tail = _common_ends(old, new)
        self.linear = (len(old) - head - tail) + (len(new) - head - tail) > DIFFLIB_LINES
        self.labels: dict[str, None] = {}  # an ordered set
        if self.linear:
            self.diff = self._by_value(old, new, head)
        else:
            self.diff = self._difflib(old, new, head, tail, old_name, new_name)

    def _add(self, label: str, line: int) -> None:
        self.labels.setdefault(label or f"line {line + 1} of the golden file", None)

    def _difflib(self, old: list[str], new: list[str], head: int, tail: int, a: str, b: str) -> list[str]:
        """A unified diff of the differing middle (3 lines of context), its line numbers those of the whole texts."""
        lo = max(0, head - 3)
        old_mid, new_mid = old[lo : len(old) - max(0, tail - 3)], new[lo : len(new) - max(0, tail - 3)]
        matcher = difflib.SequenceMatcher(a=old_mid, b=new_mid, autojunk=False)
        for op, i1, i2, j1, j2 in matcher.get_opcodes():
            if op == "equal":
                continue
            spans = self.old_labels[lo + i1 : lo + i2] + self.new_labels[lo + j1 : lo + j2]
            if not spans:  # pure insertion/deletion at a point: name the value around it
                i, j = lo + i1, lo + j1
                spans = [self.old_labels[i - 1] if i > 0 else (self.new_labels[j - 1] if j > 0 else "")]
            for label in spans:
                self._add(label, lo + i1)
        lines = list(difflib.unified_diff(old_mid, new_mid, f"{a} (golden)", b, n=3, lineterm=""))
        return [_shift_hunk(line, lo) for line in lines]

    def _by_value(self, old: list[str], new: list[str], head: int) -> list[str]:
        """Linear: the lines of each value (grouped by label; by line number outside any run) compared as a whole."""

        def sections(lines: list[str], labels: list[str]) -> dict[str, list[int]]:
            out: dict[str, list[int]] = {}
            for i in range(head, len(lines)):
                out.setdefault(labels[i] or f"\0{i}", []).append(i)
            return out

        before, after = sections(old, self.old_labels), sections(new, self.new_labels)
        diff = ["(the texts differ in many lines: compared value by value, not line by line)"]
        for key in dict.fromkeys([*before, *after]):
            a = [old[i] for i in before.get(key, [])]
            b = [new[i] for i in after.get(key, [])]
            if a == b:
                continue
            first = (before.get(key) or after.get(key) or [0])[0]
            self._add("" if key.startswith("\0") else key, first)
            diff.append(f"@@ {key if not key.startswith(chr(0)) else f'line {first + 1}'} @@")
            diff.extend(["-" + line for line in a] + ["+" + line for line in b])
        return diff


def _shift_hunk(line: str, offset: int) -> str:
    """A unified diff's ``@@ -a,b +c,d @@`` line with ``offset`` added to both starts."""
    m = re.fullmatch(r"@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@", line)
    if not m or not offset:
        return line
    return f"@@ -{int(m.group(1)) + offset}{m.group(2) or ''} +{int(m.group(3)) + offset}{m.group(4) or ''} @@"


def differences(expected: str, actual: str) -> list[str]:
    """The distinct ``run, tag, step`` labels of the lines that differ, in order of appearance."""
    return list(_Comparison(expected, actual).labels)


def _same_but_final_newline(expected: str, actual: str) -> bool:
    """Equal, or equal but for one newline at the end (missing in one, or one extra)."""
    return expected == actual or expected + "\n" == actual or expected == actual + "\n"


def assert_text_matches(actual: str, golden_file: str | os.PathLike[str], *, update: bool | None = None) -> None:
    """Compare ``actual`` with the text in ``golden_file``; write it instead when updating.

    The texts match when they are equal but for ``\\r\\n`` line ends and one newline at the
    end (missing or one extra: an editor's doing). Raises ``AssertionError`` with the values
    that differ (run, tag, step) and a unified diff (golden ``-``, actual ``+``; cut after
    :data:`SHOWN_DIFF_LINES` lines); a missing golden raises one saying how to create it.
    ``TypeError`` if ``update`` is not True, False or None.
    """
    __tracebackhide__ = True  # pytest: a mismatch is reported at the test's own line
    path = os.fspath(golden_file)
    if should_update(update):
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write(actual)
        if update is None:  # written on the flag's or the variable's say, not the caller's
            written.append(path)
        return
    if not os.path.exists(path):
        raise AssertionError(
            f"golden file {path} does not exist. Create it by running pytest with {PYTEST_OPTION} "
            f"(or with {UPDATE_ENV}=1 in the environment, or update=True), then review and commit it."
        )
    with open(path, encoding="utf-8", newline="") as f:
        expected = f.read().replace("\r\n", "\n")
    if _same_but_final_newline(expected, actual):
        return
    found = _Comparison(expected, actual, path)
    where = list(found.labels)
    shown = "; ".join(where[:SHOWN_LABELS])
    if len(where) > SHOWN_LABELS:
        shown += f"; and {len(where) - SHOWN_LABELS} more"
    diff = found.diff[:SHOWN_DIFF_LINES]
    if len(found.diff) > SHOWN_DIFF_LINES:
        diff.append(f"... {len(found.diff) - SHOWN_DIFF_LINES} more lines")
    text = "\n".join(diff)
    raise AssertionError(
        f"dump does not match golden file {path}\n"
        f"differences in: {shown}\n"
        f"(rerun with {PYTEST_OPTION} or {UPDATE_ENV}=1 to accept the new output)\n{text}"
    )
