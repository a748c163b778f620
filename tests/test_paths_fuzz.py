"""Property tests: user-given names never reach outside the log directory.

Tags, comments, filename suffixes and ``add_scalars`` keys (and, once those
methods exist, hparams run names and embedding tags) full of ``/``, ``..``,
absolute paths, NUL, newlines, tabs and lone surrogates either raise
``ValueError``/``TypeError`` or write inside the log directory only: the tree
around it is snapshotted before and after. Random trees of symlinks (inside,
outside, relative) check that what ``check_inside`` allows lands inside.
"""

from __future__ import annotations

import os
import stat
import tempfile
import urllib.parse

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from anyboard import SummaryWriter
from anyboard._paths import MAX_COMPONENT_BYTES, safe_component

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

_NASTY = [
    "/",
    "..",
    ".",
    "../",
    "/..",
    "/etc/passwd",
    "\\",
    "\x00",
    "\n",
    "\t",
    "\r",
    "\ud800",
    "\udfff",
    "%",
    "%2F",
    "~",
    " ",
]
_names = st.one_of(
    st.lists(st.sampled_from(_NASTY) | st.text(max_size=4), max_size=6).map("".join),
    st.text(max_size=30),
    st.sampled_from(_NASTY),
)


def _tree(root: str) -> dict[str, tuple[int, int]]:
    """Every path under ``root`` with its (size, mtime_ns) (directories too)."""
    out = {}
    for base, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(base, name)
            st_ = os.lstat(path)  # the entry itself: a link is judged by itself, not by what it points to now
            out[path] = (st_.st_size if not stat.S_ISDIR(st_.st_mode) else -1, st_.st_mtime_ns)
    return out


def _inside(path: str, root: str) -> bool:
    return os.path.commonpath([os.path.realpath(path), os.path.realpath(root)]) == os.path.realpath(root)


# -- safe_component itself ------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(name=st.text(max_size=60) | _names)
@example(name="..")
@example(name=".")
@example(name="\ud800")
@example(name="a/../../b")
def test_safe_component_is_one_inert_reversible_component(name):
    try:
        c = safe_component(name)
    except ValueError as exc:
        assert name == "" or len(name.encode("utf-8", "surrogatepass")) > MAX_COMPONENT_BYTES // 4
        assert repr(name) in str(exc)
        return
    assert c not in ("", ".", "..")
    assert not any(ch in c for ch in "/\\\x00") and all(ord(ch) >= 0x20 and ord(ch) != 0x7F for ch in c)
    c.encode("utf-8")  # no lone surrogates left
    assert len(c.encode("utf-8")) <= MAX_COMPONENT_BYTES
    assert urllib.parse.unquote(c, errors="surrogatepass") == name
    assert os.path.normpath(os.path.join("/base", c)) == "/base/" + c


@given(a=_names, b=_names)
@settings(max_examples=200, deadline=None)
def test_safe_component_is_injective(a, b):
    try:
        ca, cb = safe_component(a), safe_component(b)
    except ValueError:
        return
    assert (ca == cb) == (a == b)


_WINDOWS_NASTY = [
    "C:",
    "c:\\",
    ":",
    "x:y",
    "NUL",
    "nul.txt",
    "Con",
    "COM1.log",
    "lpt9",
    "aux .x",
    "a.",
    "a ",
    "<>",
    '"',
    "|?*",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(max_size=40) | _names | st.lists(st.sampled_from(_WINDOWS_NASTY + _NASTY), max_size=4).map("".join))
@example(name="C:")
@example(name="C:evil")
@example(name="NUL")
@example(name="com1.txt")
@example(name="run.")
def test_safe_component_under_windows_rules_names_one_plain_file_inside(monkeypatch, name):
    # The Windows rules, checked here with ntpath on any system: no drive (C:x is a path on
    # drive C, outside the log directory), no NTFS stream (x:y), no device name, nothing
    # Windows would strip or refuse; still reversible. (The fixture only sets a flag, the same
    # for every example.)
    import ntpath

    from anyboard import _paths

    monkeypatch.setattr(_paths, "_WINDOWS", True)
    try:
        c = safe_component(name)
    except ValueError:
        assert name == "" or len(name.encode("utf-8", "surrogatepass")) > MAX_COMPONENT_BYTES // 4
        return
    base = "C:\\logs"
    joined = ntpath.join(base, c)
    assert ntpath.dirname(joined) == base and ntpath.basename(joined) == c
    assert ntpath.splitdrive(c)[0] == "" and not any(ch in c for ch in ':<>"|?*/\\')
    assert not c.endswith((".", " "))
    assert c.split(".", 1)[0].rstrip(" ").upper() not in _paths._DEVICES
    assert urllib.parse.unquote(c, errors="surrogatepass") == name


def test_windows_rules_apply_only_on_windows():
    # Elsewhere a tag keeps its colons and trailing dots (the peers' folder names); on Windows
    # they are escaped.
    from anyboard import _paths

    on_windows = os.name == "nt"
    assert _paths._WINDOWS is on_windows
    if on_windows:
        assert safe_component("C:x.") == "C%3ax%2e" and safe_component("NUL") == "%4eUL"
    else:
        assert safe_component("C:x.") == "C:x." and safe_component("NUL") == "NUL"


def test_safe_component_rejects_non_str_and_too_long():
    with pytest.raises(TypeError):
        safe_component(b"abc")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="too long"):
        safe_component("x" * (MAX_COMPONENT_BYTES + 1))
    assert safe_component("x" * MAX_COMPONENT_BYTES) == "x" * MAX_COMPONENT_BYTES
    assert safe_component("", allow_empty=True) == ""
    with pytest.raises(ValueError):
        safe_component("")


# -- the writer: nothing outside the log directory ------------------------------------


def _encodable(name: str) -> str:
    return name.encode("utf-8", "replace").decode("utf-8")


def _exercise(w: SummaryWriter, tag: str, key: str) -> None:
    """Every name-taking call; bad names may raise ValueError/TypeError only."""
    calls = [
        lambda: w.add_scalar(tag, 1.0, 1),
        lambda: w.add_scalars(tag, {key: 2.0}, 1),
        lambda: w.add_scalars("main", {key: 3.0, "ok": 4.0}, 2),
        lambda: w.add_text(tag, "hello", 1),
    ]
    if hasattr(w, "add_hparams"):
        calls.append(lambda: w.add_hparams({"lr": 0.1}, {"m": 1.0}, run_name=key))
        # (lone surrogates in hparam/metric names: see test_bad_input.py)
        calls.append(lambda: w.add_hparams({_encodable(key): 0.1}, {_encodable(tag): 1.0}))
    if hasattr(w, "add_embedding"):
        import numpy as np

        calls.append(lambda: w.add_embedding(np.zeros((2, 3)), metadata=["a", "b"], tag=tag, global_step=1))
    for call in calls:
        try:
            call()
        except (ValueError, TypeError):
            pass


@SETTINGS
@given(tag=_names, key=_names, suffix=_names)
@example(tag="../../escape", key="../../../escape", suffix="/../../escape")
@example(tag="/abs/path", key="/abs/path", suffix="\x00")
@example(tag="..", key="..", suffix="..")
def test_writer_names_stay_inside_logdir(tmp_path, tag, key, suffix):
    sandbox = tempfile.mkdtemp(dir=str(tmp_path))
    outside = os.path.join(sandbox, "outside")
    os.makedirs(os.path.join(outside, "keep"))
    with open(os.path.join(outside, "keep", "file"), "w") as f:
        f.write("x")
    logdir = os.path.join(sandbox, "a", "logs")
    before = _tree(sandbox)
    try:
        w = SummaryWriter(logdir, filename_suffix=suffix, flush_secs=1)
    except ValueError:
        after = _tree(sandbox)
        assert after == before  # a rejected suffix creates nothing
        return
    try:
        _exercise(w, tag, key)
    finally:
        w.close()
    after = _tree(sandbox)
    for path, entry in before.items():
        assert after.get(path) == entry or path in (os.path.join(sandbox, "a"),), f"{path} changed"
    new = set(after) - set(before)
    assert new, "nothing was written at all"
    for path in new:
        assert path == os.path.join(sandbox, "a") or _inside(path, logdir), f"{path} is outside {logdir}"
    # every event file's name ends with the escaped suffix; no path component is "." or ".."
    for path in new:
        if "tfevents" in os.path.basename(path):
            assert os.path.basename(path).endswith(safe_component(suffix, allow_empty=True) if suffix else "")
        if path not in (os.path.join(sandbox, "a"), logdir):
            rel = os.path.relpath(path, logdir)
            assert not {".", ".."} & set(rel.split(os.sep)), rel


@SETTINGS
@given(comment=_names)
@example(comment="/../../../escape")
@example(comment="\x00\n\t")
def test_comment_in_default_logdir_stays_under_runs(tmp_path, monkeypatch, comment):
    sandbox = tempfile.mkdtemp(dir=str(tmp_path))
    monkeypatch.chdir(sandbox)
    try:
        w = SummaryWriter(comment=comment, flush_secs=1)
    except ValueError as exc:
        assert repr(comment)[1:-1][:20] in str(exc) or "too long" in str(exc)
        assert os.listdir(sandbox) == []
        return
    try:
        w.add_scalar("x", 1.0)
    finally:
        w.close()
    assert os.listdir(sandbox) == ["runs"]
    (run,) = os.listdir(os.path.join(sandbox, "runs"))
    assert _inside(w.get_logdir(), os.path.join(sandbox, "runs"))
    assert os.path.dirname(os.path.abspath(w.get_logdir())) == os.path.join(os.path.realpath(sandbox), "runs")
    assert any("tfevents" in n for n in os.listdir(os.path.join(sandbox, "runs", run)))


def test_existing_files_are_never_overwritten(tmp_path):
    """Sub-runs named like existing files or directories do not clobber them."""
    logdir = tmp_path / "logs"
    logdir.mkdir()
    precious = logdir / "events.out.tfevents.precious"
    precious.write_text("keep")
    (tmp_path / "escape").write_text("keep")
    with SummaryWriter(str(logdir)) as w:
        w.add_scalars("main", {"..": 1.0, "../": 2.0, "/": 3.0, "/../../escape": 4.0}, 0)
    assert precious.read_text() == "keep" and (tmp_path / "escape").read_text() == "keep"
    runs = sorted(p.name for p in logdir.iterdir() if p.is_dir())
    assert runs == ["main_%2f", "main_%2f..%2f..%2fescape", "main_..", "main_..%2f"]


# -- check_inside over random symlink trees -------------------------------------------

_PARTS = st.sampled_from(["a", "b", "c"])
_LINK_TARGETS = st.sampled_from(["in:a", "in:b", "in:a/c", "in:.", "out:.", "out:x", "rel:..", "rel:../..", "rel:b"])


@SETTINGS
@given(
    dirs=st.lists(st.lists(_PARTS, min_size=1, max_size=2), max_size=4),
    links=st.lists(st.tuples(st.lists(_PARTS, min_size=1, max_size=2), _LINK_TARGETS), max_size=4),
    target=st.lists(_PARTS, min_size=1, max_size=4),
)
# a link placed outside through another link, pointing back in: creating logs/a changes what
# outside/a resolves to, not outside/a itself
@example(dirs=[], links=[(["b"], "out:."), (["b", "a"], "in:a")], target=["a"])
def test_a_write_that_check_inside_allows_lands_inside_and_one_that_would_leave_is_refused(dirs, links, target):
    """Random folders and symlinks (inside, outside, relative) under a log directory, then a path below it.

    If ``check_inside`` allows the path, creating its folders and writing a file there touches nothing
    outside the log directory; if it refuses, the file's real location (resolved by the OS) would have
    been outside.
    """
    from anyboard._paths import UnsafePathError, check_inside

    with tempfile.TemporaryDirectory() as tmp:
        logdir, outside = os.path.join(tmp, "logs"), os.path.join(tmp, "outside")
        os.makedirs(os.path.join(outside, "x"))
        os.makedirs(logdir)
        for parts in dirs:
            os.makedirs(os.path.join(logdir, *parts), exist_ok=True)
        for parts, spec in links:
            where = os.path.join(logdir, *parts)
            if os.path.lexists(where) or not os.path.isdir(os.path.dirname(where)):
                continue
            kind, rel = spec.split(":")
            dest = {"in": os.path.join(logdir, rel), "out": os.path.join(outside, rel), "rel": rel}[kind]
            os.symlink(dest, where, target_is_directory=True)
        before = _tree(outside)
        path = os.path.join(logdir, *target, "file.txt")
        try:
            check_inside(logdir, path)
        except UnsafePathError:
            resolved = os.path.realpath(path)  # where the OS would have put it
            assert not _inside(resolved, logdir) or any(
                not _inside(os.path.realpath(os.path.join(logdir, *target[: i + 1])), logdir)
                for i in range(len(target))
            )
            return
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write("data")
        except OSError:  # a dangling link or a file where a folder must go: the OS refuses, nothing written
            pass
        else:
            assert _inside(path, logdir)
        assert _tree(outside) == before
