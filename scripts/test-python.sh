#!/usr/bin/env bash
# The Python package's tests: builds and installs `refusal` (pip install .) into .venv-py, made by
# `scripts/venv.sh py` (scripts/requirements/py*.txt: numpy, pytest, LLM Guard's code --
# llm-guard without its heavy dependencies: only scan_output and the scanners' rules are used --
# and ray, pyspark, pandas, pyarrow for the scale-out tests, markers `ray` and `spark`: a local
# Ray instance, a two-node Ray cluster and a two-executor Spark cluster, a few minutes; Spark's
# Java 17 is in packages/debian.txt), builds the `refusal` CLI the parity tests compare with,
# and runs tests/python. No torch: the comparisons with transformers and with LLM Guard's own
# NoRefusal use committed vectors. One marker alone, after this script has run once:
#   (cd tests/python && ../../.venv-py/bin/python -m pytest -m "not spark" .)
#
# The live comparisons with torch + transformers + LLM Guard (tests/python/test_reference.py) run
# too when REFUSAL_PY_REFERENCE=1: they need a Python with torch and transformers, given as
# REFUSAL_PY_REFERENCE_PYTHON (default: .venv-ref/bin/python, made or brought up to date by
# `scripts/venv.sh ref`: ~3 GB); a Python given that way gets pytest, nltk, structlog and
# llm-guard added.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

python=${PYTHON:-python3}
# Python.h for the extension (Debian: python3-dev) when the interpreter has no headers.
if ! "$python" -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
  sudo=""; if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-dev
fi

echo "== python: the refusal CLI (release preset) for the parity tests"
if [ -z "${REFUSAL_CLI:-}" ]; then
  cmake --preset release >/dev/null
  cmake --build --preset release --target refusal -j "$(nproc)"
  export REFUSAL_CLI="$PWD/build/release/refusal"
fi

echo "== python: pip install . into .venv-py"
PYTHON="$python" bash scripts/venv.sh py
CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) .venv-py/bin/pip install -q .

echo "== python: pytest tests/python"
# Run from tests/python so that the installed package, not python/refusal, is imported.
(cd tests/python && ../../.venv-py/bin/python -m pytest -q -p no:cacheprovider .)

if [ "${REFUSAL_PY_REFERENCE:-0}" = "1" ]; then
  if [ -n "${REFUSAL_PY_REFERENCE_PYTHON:-}" ]; then
    ref=$REFUSAL_PY_REFERENCE_PYTHON
    "$ref" -m pip install -q pytest==9.2.0 structlog==26.1.0 nltk==3.10.4
    "$ref" -m pip install -q --no-deps llm-guard==0.3.16
  else
    PYTHON="$python" bash scripts/venv.sh ref
    ref=.venv-ref/bin/python
  fi
  # The package as installed in .venv-py (same Python version), without .venv-py's numpy.
  site=$(.venv-py/bin/python -c 'import refusal, os; print(os.path.dirname(os.path.dirname(refusal.__file__)))')
  pkg=$(mktemp -d); trap 'rm -rf "$pkg"' EXIT
  cp -r "$site/refusal" "$pkg/"
  echo "== python: reference tests with $ref (torch, transformers, LLM Guard)"
  (cd tests/python && PYTHONPATH="$pkg" "$ref" -m pytest -q -p no:cacheprovider .)
fi
