#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs, checks the C/C++ formatting
# (scripts/check-format.sh), then builds and tests the release build and the ASan + UBSan build,
# the Python package's tests (pip install . into .venv-py, pytest), and a 30 s libFuzzer pass on
# each parser of untrusted bytes (fuzz/, two at a time). This is what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

echo "== format: clang-format --dry-run --Werror (scripts/check-format.sh)"
bash scripts/check-format.sh

jobs=$(nproc)
for preset in release asan; do
  echo "== $preset: build"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  echo "== $preset: test"
  ctest --preset "$preset" -j "$jobs"
done

echo "== python: pip install . and pytest (scripts/test-python.sh)"
REFUSAL_CLI="$PWD/build/release/refusal" bash scripts/test-python.sh

echo "== fuzz: 30 s on each libFuzzer target, $jobs at a time (clang, ASan + UBSan)"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target fuzz_all -j "$jobs"
ctest --test-dir build/fuzz -L fuzz -j "$jobs" --output-on-failure
