#!/usr/bin/env bash
# Fresh virtual environment in .venv with saliency-kd and its test extras.
# On a machine without an NVIDIA GPU it installs the CPU build of PyTorch first, so that
# the package's torch requirement is already met and pip never pulls a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
    .venv/bin/python -m pip install -q "torch>=2.4,<2.15"
  else
    # The CPU build; this machine keeps the 2.13.0 wheel on disk.
    .venv/bin/python -m pip install -q torch==2.13.0
  fi
fi
.venv/bin/python -m pip install -q -e ".[test]" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import saliency_kd, torch; print('saliency-kd', saliency_kd.__version__, 'torch', torch.__version__)"
