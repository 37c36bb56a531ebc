#!/usr/bin/env bash
# tests/deploy/deploy_test.py in .venv-deploy (kubernetes-validate, PyYAML: made or brought up
# to date by scripts/venv.sh deploy). Arguments go to the test.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/venv.sh deploy >/dev/null
exec .venv-deploy/bin/python tests/deploy/deploy_test.py "$@"
