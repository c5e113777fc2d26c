#!/usr/bin/env bash
# make gpu-check on a bare machine (python3 and this repository, no venv): creates the venv, installs
# the project, runs the check with its figures in "$OUT/gpu_check.json" (rewritten after every phase,
# so a killed command still leaves the phases done). Meant for one 10-minute command on a lent GPU
# machine: the check gets what is left of GPU_CHECK_TOTAL_SECONDS (default 540) after set-up, at most
# 480 s. Each stage prints its start time. Extra arguments go to the check.
# Packages python3 already has are used (--system-site-packages). Missing ones come from pip (PyPI or
# whatever index or wheel folder pip is configured with there), short network timeouts so that a
# machine without network fails fast and goes on with the package from lib/ on PYTHONPATH.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/.scratch/gpu-check}
VENV=${VENV:-.venv}
TOTAL=${GPU_CHECK_TOTAL_SECONDS:-540}
mkdir -p "$OUT"
stage() { printf '[gpu_check.sh %4d s] %s\n' "$SECONDS" "$*"; }

stage "venv $VENV for $(python3 --version 2>&1)"
if [ -x "$VENV/bin/python" ] || python3 -m venv --system-site-packages "$VENV"; then
    PY="$VENV/bin/python"
else
    stage "python3 -m venv failed (no ensurepip?): installing for python3 itself"
    PY=python3
    export PIP_BREAK_SYSTEM_PACKAGES=1 PIP_USER=1
fi
pip_install() { "$PY" -m pip install --disable-pip-version-check --quiet --timeout 20 --retries 1 "$@"; }
has() { "$PY" -c "import $1" 2>/dev/null; }

# pyproject.toml asks for torch >= 2.9: an older one installed for python3 is replaced in the venv.
if ! "$PY" -c "import torch, torchvision; assert tuple(map(int, torch.__version__.split('.')[:2])) >= (2, 9)" \
        2>/dev/null; then
    stage "torch: pip install torch==2.14.1 torchvision==0.29.1"
    pip_install torch==2.14.1 torchvision==0.29.1 || stage "torch install failed"
fi
if has "torch, torchvision, numpy, PIL, tqdm, yaml"; then
    # What the check imports is there: install without fetching anything.
    stage "the project: pip install --no-deps --no-build-isolation -e ."
    pip_install --no-deps --no-build-isolation -e . || stage "not installed"
else
    stage "the project: pip install -e ."
    pip_install -e . || stage "not installed"
fi
if ! has imbalance_baselines; then
    stage "the package from lib/ (PYTHONPATH)"
    export PYTHONPATH="$PWD/lib${PYTHONPATH:+:$PYTHONPATH}"
fi
"$PY" -c "import torch; print('torch', torch.__version__, 'CUDA', torch.cuda.is_available(),
    torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')" || exit 1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null

budget=$(( TOTAL - SECONDS ))
budget=$(( budget > 480 ? 480 : (budget < 60 ? 60 : budget) ))
stage "the check, --budget-seconds $budget"
"$PY" -m imbalance_baselines.cli.gpu_check --budget-seconds "$budget" --out "$OUT/gpu_check.json" "$@"
status=$?
stage "done (exit $status)"
exit $status
