#!/usr/bin/env bash
# A separate venv with Inseq 0.7.1 for bench/attribution_speed.py (its CUDA 11 wheels are skipped:
# the comparison runs on the CPU, and inseq's own dependency list would pull several GB).
set -euo pipefail
VENV=${1:-.bench-inseq-venv}
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
"$VENV/bin/python" -m pip install -q torch==2.13.0 2>&1 | grep -v "^WARNING: Location" || true
"$VENV/bin/python" -m pip install -q --no-deps inseq==0.7.1 2>&1 | grep -v "^WARNING: Location" || true
"$VENV/bin/python" -m pip install -q "transformers[sentencepiece,tokenizers]" "captum>=0.7" \
  "jaxtyping>=0.2.25" "typeguard<=2.13.3" treescope rich matplotlib tqdm protobuf numpy \
  2>&1 | grep -v "^WARNING: Location" || true
# Inseq 0.7.1 defines no inseq.__version__: ask the installed distribution's metadata instead.
"$VENV/bin/python" -c "import importlib.metadata as m, inseq, transformers; \
print('inseq', m.version('inseq'), 'transformers', transformers.__version__)"
