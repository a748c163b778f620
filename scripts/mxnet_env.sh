#!/usr/bin/env bash
# Create (or reuse) a virtual environment for anyboard's MXNet tests.
#
# Usage (from the repository root):   bash scripts/mxnet_env.sh [VENV_DIR]
#
# VENV_DIR defaults to .venv-mx. MXNet 1.9.1 (the last release) imports only
# with numpy<1.24 (it uses np.bool, removed in 1.24), so the environment pins
# numpy==1.23.5 and test dependencies that still support it. torch is pinned
# (an unpinned requirement pulls several GB of CUDA wheels). Running it again
# reuses the venv and only installs what is missing. Then:
#
#   VENV_DIR/bin/python -m pytest -m mxnet tests/test_adapters_mxnet.py
#
# MXNet's wheel bundles libopenblas.so.0 and libgfortran.so.3 but loads
# libgomp.so.1 and libquadmath.so.0 from the system; a bare Debian/Ubuntu
# machine needs:  apt-get install -y libgomp1 libquadmath0
set -euo pipefail

VENV_DIR="${1:-.venv-mx}"
PYTHON="${PYTHON:-python3.11}"
if ! command -v "$PYTHON" >/dev/null 2>&1; then
    PYTHON=python3
fi
if [ ! -f pyproject.toml ] || ! grep -q '^name = "anyboard"' pyproject.toml; then
    echo "mxnet_env.sh: run this from the anyboard repository root" >&2
    exit 2
fi

# MXNet's wheel links against libgomp and libquadmath; install them where they are missing
# and this machine can (root with apt-get, as on the CI machines).
if ! ldconfig -p 2>/dev/null | grep -q 'libgomp.so.1' || ! ldconfig -p 2>/dev/null | grep -q 'libquadmath.so.0'; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && apt-get install -y -qq libgomp1 libquadmath0 >/dev/null
    fi
fi

if [ ! -x "$VENV_DIR/bin/python" ]; then
    "$PYTHON" -m venv "$VENV_DIR"
fi
PIP=("$VENV_DIR/bin/python" -m pip)

"${PIP[@]}" install -q --upgrade "pip>=23" "setuptools<81" wheel
"${PIP[@]}" install -q "torch==2.13.0+cpu" 2>/dev/null || echo "(no torch 2.13.0+cpu here: the registry's torch 2.13.0 is used)"
"${PIP[@]}" install -q \
    "numpy==1.23.5" \
    "mxnet==1.9.1" \
    "torch==2.13.0" \
    "pytest>=7.4" \
    "hypothesis>=6.80" \
    "requests>=2.28" \
    "pillow>=9.0" \
    "crc32c>=2.3" \
    "protobuf>=4.21,<8" \
    "tensorboard>=2.14" \
    "matplotlib>=3.5,<3.9" \
    "ml_dtypes"
# Editable anyboard without letting pip touch the pins above.
"${PIP[@]}" install -q --no-deps -e .

# Fail early, with the reason, if the pins did not hold or MXNet cannot load.
"$VENV_DIR/bin/python" - <<'PY'
import numpy, sys
if numpy.__version__ != "1.23.5":
    sys.exit(f"mxnet_env.sh: numpy {numpy.__version__} installed, expected 1.23.5")
try:
    import mxnet
except OSError as exc:  # a missing system library, e.g. libgomp.so.1
    sys.exit(f"mxnet_env.sh: mxnet cannot load a system library: {exc} (Debian: apt-get install -y libgomp1 libquadmath0)")
import anyboard, torch
print(f"mxnet {mxnet.__version__}, numpy {numpy.__version__}, torch {torch.__version__}, anyboard {anyboard.__version__}")
PY
echo "MXNet environment ready: $VENV_DIR"
