#!/usr/bin/env bash
# Run anyboard's core tests (no TensorBoard, torch or other extras) on another Python, or
# installed without a C compiler.
#
# Usage: scripts/core_suite.sh VENV_DIR PYTHON [--no-compiler] [pytest args...]
#   bash scripts/core_suite.sh .venv-py310 /root/.pyenv/versions/3.10.13/bin/python
#   bash scripts/core_suite.sh .venv-nocc python3 --no-compiler
#
# anyboard is installed from this checkout as a user would get it (a built wheel, not editable).
# --no-compiler builds it with CC=false: the optional extension fails to compile, the install
# must still succeed, `anyboard.native_available()` must be False, and the suite runs on the
# NumPy/Python fallbacks. The venv is created if missing and reused otherwise.
set -euo pipefail
if [[ $# -lt 2 ]]; then
    echo "usage: $0 VENV_DIR PYTHON [--no-compiler] [pytest args...]" >&2
    exit 2
fi
VENV=$(realpath -m "$1")
PYTHON=$2
shift 2
NO_COMPILER=0
if [[ "${1:-}" == "--no-compiler" ]]; then
    NO_COMPILER=1
    shift
fi
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CORE_TESTS=(tests/test_reader.py tests/test_writer_core.py tests/test_background.py
            tests/test_concurrency.py tests/test_exit_and_processes.py)

[[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
PY="$VENV/bin/python"
"$PY" -m pip install -q --upgrade pip
"$PY" -m pip install -q "numpy>=1.23" "protobuf>=4.21,<8" "crc32c>=2.3" "pillow>=9.0" "pytest>=7.4" "hypothesis>=6.80"
# Build from a clean copy of the checkout: no build/ directory or in-place extension from
# another environment may stand in for this build.
SRC=$(mktemp -d)
WORK=$(mktemp -d)
trap 'rm -rf "$SRC" "$WORK"' EXIT
(cd "$ROOT" && tar cf - --exclude=./build --exclude='./.venv*' --exclude='*.so' --exclude=./.git \
    --exclude='*.egg-info' --exclude=__pycache__ .) | tar xf - -C "$SRC"
if [[ $NO_COMPILER == 1 ]]; then
    CC=false CXX=false LDSHARED=false "$PY" -m pip install -q --no-deps --force-reinstall --no-cache-dir "$SRC"
    export ANYBOARD_REQUIRE_NATIVE=  # the fallbacks are what this run tests
else
    "$PY" -m pip install -q --no-deps --force-reinstall --no-cache-dir "$SRC"
fi

"$PY" - "$NO_COMPILER" <<'EOF_PY'
import sys, warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import anyboard
expect_native = sys.argv[1] == "0"
if anyboard.native_available() != expect_native:
    sys.exit(f"anyboard.native_available() is {anyboard.native_available()}, expected {expect_native}")
reported = [w for w in caught if "compiled helpers" in str(w.message)]
if not expect_native and len(reported) != 1:
    sys.exit(f"a missing extension must be reported once at import, got {len(reported)} warnings")
print(f"Python {sys.version.split()[0]}: anyboard {anyboard.__version__}, native={anyboard.native_available()}")
EOF_PY

# From a temporary copy of the tests, so the installed package (not src/) is tested.
cp -r "$ROOT/tests" "$WORK/tests"
cp "$ROOT/pyproject.toml" "$WORK/"
cd "$WORK"
ANYBOARD_QUIET=1 "$PY" -m pytest -q -p no:cacheprovider "${CORE_TESTS[@]}" "$@"
