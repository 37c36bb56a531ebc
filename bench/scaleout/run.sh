#!/usr/bin/env bash
# The scale-out benchmark (issue 16) in one command, from a fresh clone: builds the `refusal` CLI
# (release preset), makes .venv-py (scripts/venv.sh py: ray, pyspark, pandas, pyarrow) with the
# package installed (pip install .), then runs bench/scaleout/bench_scaleout.py: eval-set
# texts/s of the CLI, Ray Data (1 actor x 2 CPUs; 2 actors x 1 CPU) and Spark local[2].
# Run it on a quiet machine; the table it prints goes into docs/scale-out.md (## Benchmark).
#
#   bash bench/scaleout/run.sh                  # 4 x 1,706 texts, 3 rounds, every engine
#   bash bench/scaleout/run.sh --limit 50 --rounds 1 --repeat 1   # a quick check that it runs
#
# Arguments go to bench_scaleout.py (--model, --repeat, --rounds, --only, --limit, --json);
# the results are also written as JSON to build/scaleout/bench-scaleout.json unless --json is
# given. Spark needs Java 17 (packages/debian.txt; scripts/setup.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/setup.sh

echo "== bench/scaleout: the refusal CLI (release preset)"
cmake --preset release >/dev/null
cmake --build --preset release --target refusal -j "$(nproc)"

echo "== bench/scaleout: .venv-py and pip install ."
bash scripts/venv.sh py
CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) .venv-py/bin/pip install -q .

json=()
if [[ " $* " != *" --json "* && " $* " != *" --json="* ]]; then
  mkdir -p build/scaleout
  json=(--json build/scaleout/bench-scaleout.json)
fi
echo "== bench/scaleout: bench_scaleout.py $* ${json[*]}"
exec .venv-py/bin/python bench/scaleout/bench_scaleout.py --cli build/release/refusal \
  "${json[@]}" "$@"
