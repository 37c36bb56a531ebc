#!/usr/bin/env bash
# Makes, or brings up to date, the Python virtual env .venv-NAME/ in the repository root (git
# ignores .venv*/) from scripts/requirements/NAME.txt (exact == pins) and, when it exists,
# scripts/requirements/NAME-nodeps.txt (packages installed without their dependencies: llm-guard,
# of which only pure-Python modules are used). Every Python script of the repository that needs
# more than the standard library runs in one of these; each says which in its usage line.
#
#   bash scripts/venv.sh NAME        then  .venv-NAME/bin/python SCRIPT ...
#
# The venvs (docs/testing.md): ref (torch + transformers: the reference vectors), py (the Python
# package's tests), bench (the peer benchmark), scan and scan-nltk39 (LLM Guard's rules under
# nltk 3.10 and 3.9), api (FastAPI: the recorded LLM Guard API answers), deploy
# (kubernetes-validate: tests/deploy). PYTHON picks the interpreter a new venv is made with
# (default python3). A venv whose requirement files have not
# changed since it was made is left as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:-}
req=scripts/requirements/$name.txt
if [ $# -ne 1 ] || [ -z "$name" ] || [[ "$name" == *-nodeps ]] || [ ! -f "$req" ]; then
  known=$(cd scripts/requirements && ls -- *.txt | grep -v -- '-nodeps\.txt$' | sed 's/\.txt$//' |
          tr '\n' ' ')
  echo "usage: bash scripts/venv.sh NAME   (NAME, from scripts/requirements/: $known)" >&2
  exit 2
fi
nodeps=scripts/requirements/$name-nodeps.txt
venv=.venv-$name
stamp=$venv/requirements.sha256
files=("$req")
[ -f "$nodeps" ] && files+=("$nodeps")
want=$(cat "${files[@]}" | sha256sum | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  echo "$venv: up to date ($venv/bin/python)"
  exit 0
fi
[ -x "$venv/bin/python" ] || "${PYTHON:-python3}" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -r "$req"
if [ -f "$nodeps" ]; then "$venv/bin/python" -m pip install -q --no-deps -r "$nodeps"; fi
echo "$want" >"$stamp"
echo "ready: $venv/bin/python"
