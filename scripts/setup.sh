#!/usr/bin/env bash
# Virtual environment in .venv with saliency-kd and its test extras (idempotent: a second call
# returns at once). Without an NVIDIA GPU it installs the CPU build of PyTorch first, so the
# package's torch requirement is already met and pip never pulls a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ -x .venv/bin/saliency-kd ] && [ .venv/.installed -nt pyproject.toml ] \
   && .venv/bin/python -c "import saliency_kd, torch" 2>/dev/null; then
  exit 0
fi
pip_q() {  # pip install, without this machine's noise about local index folders
  .venv/bin/python -m pip install -q "$@" 2>&1 | { grep -v "^WARNING: Location" || true; }
  return "${PIPESTATUS[0]}"
}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
pip_q --upgrade pip
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
    pip_q "torch>=2.4,<2.15"
  else
    pip_q torch==2.13.0  # the CPU build (this machine keeps the wheel on disk)
  fi
fi
pip_q -e ".[test]"
.venv/bin/python -c "import saliency_kd, torch; print('saliency-kd', saliency_kd.__version__, 'torch', torch.__version__)"
touch .venv/.installed
