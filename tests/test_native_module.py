"""The compiled module (``_native.c``): public C API only, multi-phase init, no GIL needed.

Its kernels must not reach into CPython's object layouts (``__slots__`` offsets, member
descriptors, ``tp_dictoffset``), must be initialized in phases (PEP 489: a module object per
import, types per module) and must declare that they run without the GIL, which holds only
if no Python object is touched while the GIL is released.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest

import anyboard

try:
    from anyboard import _native as native
except ImportError:  # pragma: no cover - not built
    if os.environ.get("ANYBOARD_REQUIRE_NATIVE"):
        raise
    pytest.skip("anyboard._native is not compiled", allow_module_level=True)


def _source() -> str:
    # Beside the package in a checkout, or where the floor script says (wheels do not carry it).
    candidates = [Path(anyboard.__file__).parent / "_native.c"]
    if os.environ.get("ANYBOARD_SOURCE_DIR"):
        candidates.append(Path(os.environ["ANYBOARD_SOURCE_DIR"]) / "_native.c")
    path = next((p for p in candidates if p.exists()), None)
    if path is None:
        pytest.skip(f"the C source is in none of {candidates}")
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)  # comments may name what the code must not use
    return re.sub(r"//[^\n]*", " ", text)


def test_the_c_source_uses_no_cpython_internals():
    code = _source()
    forbidden = {
        "structmember.h": "member tables of __slots__",
        "PyMemberDescrObject": "a member descriptor's layout",
        "d_member": "a member descriptor's layout",
        "tp_dictoffset": "an object's __dict__ offset",
        "ob_type": "the object header's fields",
        "PyModule_Create": "single-phase init",
    }
    found = {name: why for name, why in forbidden.items() if name in code}
    assert not found, f"_native.c uses {found}"
    private = sorted(set(re.findall(r"\b_Py[A-Za-z_]\w*", code)))
    assert not private, f"private CPython API: {private}"
    offsets = re.findall(r"\(\s*char\s*\*\s*\)\s*\(?\s*\w+\s*\)?\s*\+\s*\w*off", code)
    assert not offsets, f"attribute access by offset: {offsets}"
    static_types = re.findall(r"static\s+PyTypeObject\s+\w+\s*=", code)
    assert not static_types, f"static types (shared by every interpreter): {static_types}"


def test_the_c_module_is_initialized_in_phases_and_declares_it_needs_no_gil():
    code = _source()
    init = re.search(r"PyMODINIT_FUNC\s+PyInit__native\s*\(void\)\s*\{(.*?)\n\}", code, re.S)
    assert init is not None and "PyModuleDef_Init(" in init.group(1)
    assert re.search(r"\{\s*Py_mod_exec\s*,", code)
    gil = re.search(r"#ifdef\s+Py_mod_gil\s*\n\s*\{\s*Py_mod_gil\s*,\s*Py_MOD_GIL_NOT_USED\s*\}", code)
    assert gil is not None, "Py_mod_gil (Py_MOD_GIL_NOT_USED) guarded by #ifdef Py_mod_gil"


def test_no_python_api_is_called_while_the_gil_is_released():
    # The condition for Py_MOD_GIL_NOT_USED to be honest on GIL builds too: the released
    # sections work on buffers the function holds views of, never on Python objects.
    code = _source()
    sections = re.findall(r"Py_BEGIN_ALLOW_THREADS(.*?)Py_END_ALLOW_THREADS", code, re.S)
    assert sections, "the kernels release the GIL somewhere"
    for body in sections:
        calls = re.findall(r"\bPy\w*\s*\(", body)
        assert not calls, f"Python API called without the GIL: {calls} in {body.strip()[:200]}"


def test_each_load_of_the_module_gets_its_own_module_object_and_types():
    # Multi-phase init: loading the extension again gives a new module with its own Layout type
    # (a single-phase module hands back a copy of the first one's dict: the same type object).
    spec = importlib.util.spec_from_file_location("anyboard._native", native.__file__)
    assert spec is not None and spec.loader is not None
    again = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(again)
    assert again is not native and again.Layout is not native.Layout
    assert again.Layout.__module__ == "anyboard._native"
    layout = again.Layout(np.array([0.0, 1.0, 2.0], np.float64), 16)
    counts = np.zeros(layout.nslot, np.int64)
    layout.count(np.array([-1.0, 0.5, 1.5, 1.5, 9.0, np.nan]), counts)
    assert counts.tolist() == [1, 1, 2, 1, 1]
    with pytest.raises(TypeError):
        type(native.Layout).__setattr__(native.Layout, "nslot", 3)  # an immutable type


def test_importing_anyboard_keeps_the_gil_off_on_free_threaded_python():
    if not sysconfig.get_config_var("Py_GIL_DISABLED"):
        pytest.skip("not a free-threaded CPython build (no 3.13t here)")
    code = "import sys, anyboard, anyboard._native; print(sys._is_gil_enabled())"
    out = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr
