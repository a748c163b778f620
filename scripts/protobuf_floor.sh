#!/usr/bin/env bash
# Run anyboard's core tests against the LOWEST supported dependencies:
# protobuf 4.21.x (the oldest runtime the generated code, from protoc 3.21.6,
# supports) and numpy 1.23.x, with no TensorBoard, torch or other extras.
#
# Usage: scripts/protobuf_floor.sh VENV_DIR [pytest args...]
#   PYTHON=python3.11 scripts/protobuf_floor.sh /tmp/venv-floor
#
# The venv is created if missing and reused otherwise. Exits with pytest's status.
set -euo pipefail

if [[ $# -lt 1 ]]; then
    echo "usage: $0 VENV_DIR [pytest args...]" >&2
    exit 2
fi
VENV=$(realpath -m "$1")  # absolute: the tests run from a temporary directory
shift
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}

PROTOBUF_FLOOR="protobuf==4.21.*"
NUMPY_FLOOR="numpy==1.23.*"
# Tests that need no TensorBoard (they read back through anyboard's own reader).
CORE_TESTS=(tests/test_records.py tests/test_reader.py tests/test_writer_core.py)

if [[ ! -x "$VENV/bin/python" ]]; then
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
"$PY" -m pip install --quiet --upgrade pip
"$PY" -m pip install --quiet "$PROTOBUF_FLOOR" "$NUMPY_FLOOR" "crc32c>=2.3" "pillow>=9.0" "pytest>=7.4"
# anyboard itself, built from this checkout; --no-deps keeps the floor versions above.
"$PY" -m pip install --quiet --no-deps --force-reinstall "$ROOT"

"$PY" - <<'EOF'
import google.protobuf, numpy
from google.protobuf.internal import api_implementation
print(f"protobuf {google.protobuf.__version__} ({api_implementation.Type()}), numpy {numpy.__version__}")
for name in ("tensorboard", "torch", "tensorboardX"):
    try:
        __import__(name)
    except ImportError:
        continue
    raise SystemExit(f"{name} is installed in the floor venv; these tests must not depend on it")
import os
try:  # the wheel built from this checkout carries the compiled binning helper
    import anyboard._native
except ImportError as exc:
    if os.environ.get("ANYBOARD_REQUIRE_NATIVE"):
        raise SystemExit(f"the installed wheel lacks anyboard._native: {exc}")
    print("note: anyboard._native not built; histograms use the NumPy path")
EOF

# Run from a temporary copy of the tests so the installed package (not src/) is tested.
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cp -r "$ROOT/tests" "$WORK/tests"
cp "$ROOT/pyproject.toml" "$WORK/"
cd "$WORK"
# The wheel does not carry the C source; the layering test reads it from the checkout.
ANYBOARD_SOURCE_DIR="$ROOT/src/anyboard" "$PY" -m pytest -q -p no:cacheprovider "${CORE_TESTS[@]}" "$@"
