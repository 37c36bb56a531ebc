#!/usr/bin/env bash
# Checks that the C/C++ sources are formatted as .clang-format says (clang-format --dry-run
# --Werror): prints every difference and exits non-zero if there is one. scripts/test.sh runs it
# before the builds. Fix a file with `clang-format -i FILE`.
#
#   bash scripts/check-format.sh            every tracked .h/.hpp/.c/.cc/.cpp file
#   bash scripts/check-format.sh FILE...    those files only
#
# Outside a git checkout (a copy of the tree), every such file under apps/ bench/ fuzz/ include/
# python/ src/ tests/ is checked. Generated tables (*.inc) are not C++ to format.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v clang-format >/dev/null; then
  echo "check-format: clang-format not found (bash scripts/setup.sh installs it)" >&2
  exit 1
fi
if [ $# -gt 0 ]; then
  files=("$@")  # as the caller named them; clang-format finds .clang-format above each file
elif cd "$root" && git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files -- '*.h' '*.hpp' '*.c' '*.cc' '*.cpp')
else
  mapfile -t files < <(find apps bench fuzz include python src tests -type f \
                         \( -name '*.h' -o -name '*.hpp' -o -name '*.c' -o -name '*.cc' \
                            -o -name '*.cpp' \) | sort)
fi
if [ ${#files[@]} -eq 0 ]; then echo "check-format: no C/C++ file found" >&2; exit 1; fi
if clang-format --dry-run --Werror "${files[@]}"; then
  echo "check-format: ${#files[@]} files formatted as .clang-format says ($(clang-format --version))"
else
  echo "check-format: the files above differ from .clang-format; fix with clang-format -i FILE" >&2
  exit 1
fi
