#!/usr/bin/env bash
# Creates .venv-ref: the Python reference stack (PyPI transformers, tokenizers, torch) that the
# scripts/make_*.py vector generators use. Only they need it; the C++ tests read the committed
# vectors. torch from PyPI pulls ~3 GB of CUDA wheels, hence a venv of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv-ref
.venv-ref/bin/pip install -q --upgrade pip
.venv-ref/bin/pip install -q -r scripts/reference-requirements.txt
echo "ready: .venv-ref/bin/python scripts/make_model_vectors.py"
