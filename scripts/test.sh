#!/usr/bin/env bash
# The README's test command: builds the test environments and runs the whole suite.
#
#   .venv        main environment: NumPy 2.x, newest protobuf, torch 2.13.0 (CPU), tensorboard, ...
#   .venv-mx     MXNet environment: numpy 1.23.5, mxnet 1.9.1, torch 2.13.0 (runs the mxnet-marked
#                tests and the core suite again under NumPy 1.x)
#   .venv-pbmin  lowest supported protobuf (4.21) running the core tests
#   .venv-protoc the pinned proto generator (grpcio-tools 1.51.3) for the generated-code drift test
#   .venv-py310, .venv-py313  the core suite on the oldest and newest supported Pythons (3.10, 3.13;
#                pyenv's, or python3.10/python3.13 on PATH; PYTHON310/PYTHON313 override)
#   .venv-nocc   the core suite installed with no C compiler: the NumPy/Python fallbacks
#
# Lint first (ruff check, ruff format --check, mypy strict on src/anyboard; the main environment's
# pinned `lint` group), so a style or type error fails in a minute, not after the suites.
# Environments are reused when they exist (delete them to rebuild). Extra arguments go to pytest
# in the main environment, e.g. `bash scripts/test.sh -k scalar`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1
# The compiled histogram binning must be built here (the machines have a C compiler): without
# this its tests would skip and the NumPy fallback would be the only path tested.
export ANYBOARD_REQUIRE_NATIVE=${ANYBOARD_REQUIRE_NATIVE:-1}

step() { printf '\n==> %s\n' "$*"; }

# python_for 3.10: a working CPython 3.10 (PYTHON310, python3.10 on PATH, then pyenv's newest 3.10.x).
python_for() {
    local override="PYTHON${1/./}" candidate
    for candidate in "${!override:-}" "$(command -v "python$1" 2>/dev/null)" \
        $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}/versions/$1".*/bin/"python$1" 2>/dev/null | sort -V | tail -n 1); do
        if [ -n "$candidate" ] && "$candidate" -c 'import sys' >/dev/null 2>&1; then
            echo "$candidate"
            return 0
        fi
    done
    echo "no Python $1 found (set PYTHON${1/./} to one): the core suite must run on it" >&2
    return 1
}

step "main environment (.venv)"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
# The CPU build of torch first, where the machine has it: `torch==2.13.0` in the test extra is
# then already satisfied, instead of newer pips choosing the registry's build with GBs of CUDA.
.venv/bin/python -m pip install -q 'torch==2.13.0+cpu' 2>/dev/null || echo "(no torch 2.13.0+cpu here: the registry's torch 2.13.0 is used)"
# scripts/constraints.txt holds this machine's exact torch (never the package metadata's business).
.venv/bin/python -m pip install -q -c scripts/constraints.txt -e . --group test --group lint

step "lint: ruff check, ruff format --check, mypy (main environment)"
LINT_PATHS=(src tests benchmarks examples scripts)
.venv/bin/python -m ruff check "${LINT_PATHS[@]}"
.venv/bin/python -m ruff format --check "${LINT_PATHS[@]}"
.venv/bin/python -m mypy  # files and strictness: [tool.mypy] in pyproject.toml

step "proto generator environment (.venv-protoc)"
[ -x .venv-protoc/bin/python ] || "$PY" -m venv .venv-protoc
.venv-protoc/bin/python -m pip install -q --upgrade pip
.venv-protoc/bin/python -m pip install -q --group protoc
export ANYBOARD_PROTOC_PYTHON="$PWD/.venv-protoc/bin/python"

step "MXNet environment (.venv-mx)"
bash scripts/mxnet_env.sh .venv-mx

step "lowest-protobuf environment (.venv-pbmin)"
echo "(built and run below)"

step "tests: main environment (NumPy 2.x)"
.venv/bin/python -m pytest -m "not mxnet" "$@"

step "tests: MXNet environment (NumPy 1.23.5, MXNet 1.9.1): MXNet tests, then the core suite under NumPy 1.x"
.venv-mx/bin/python -m pytest -p no:cacheprovider -m mxnet tests/test_adapters_mxnet.py tests/test_graph_mxnet.py tests/test_demo.py
.venv-mx/bin/python -m pytest -p no:cacheprovider -m "not mxnet and not slow" \
    tests/test_records.py tests/test_reader.py tests/test_writer_core.py tests/test_readback_core.py \
    tests/test_histogram_binning.py tests/test_histogram_fused.py tests/test_bad_input.py \
    tests/test_adapters.py tests/test_adapters_torch.py \
    tests/test_images.py tests/test_video.py tests/test_audio.py tests/test_pr_curve.py tests/test_mesh.py \
    tests/test_hparams.py tests/test_embedding.py

step "tests: lowest protobuf"
bash scripts/protobuf_floor.sh .venv-pbmin

for version in 3.10 3.13; do
    step "tests: core suite on Python $version (.venv-py${version/./})"
    interpreter=$(python_for "$version")  # a plain assignment, so set -e stops here if none is found
    bash scripts/core_suite.sh ".venv-py${version/./}" "$interpreter"
done

step "tests: core suite with no C compiler (.venv-nocc: the fallbacks)"
bash scripts/core_suite.sh .venv-nocc "$PY" --no-compiler
