#!/usr/bin/env bash
# ThreadSanitizer run of the tests that use threads (docs/security.md#threadsanitizer): builds
# the `tsan` preset and runs the engine (model_test), thread pool (base_test), batch job
# (io_test) and server tests (server_test: batcher, cache, concurrent clients, every route) with
# halt_on_error, so the first data race or lock-order inversion fails it. Not in scripts/test.sh:
# it takes longer than CI's time budget on 2 cores.
#
#   nice -n 19 bash scripts/tsan.sh                      # the whole run, log in build/tsan/
#   bash scripts/tsan.sh --gtest_filter='ThreadPool.*'   # a quick check (arguments go to gtest)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-$(nproc)}
tests=(base/base_test model/model_test io/io_test server/server_test)

cmake --preset tsan >/dev/null
cmake --build --preset tsan -j "$jobs" --target refusal "${tests[@]##*/}"

export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
export REFUSAL_BINARY="$PWD/build/tsan/refusal"
log=build/tsan/tsan-run.log
: >"$log"
status=0
for t in "${tests[@]}"; do
  echo "== $t (log: $log)" | tee -a "$log"
  start=$SECONDS
  # Tests read their data relative to the repository root, as under CTest.
  if build/tsan/tests/$t "$@" >>"$log" 2>&1; then
    result=passed
  else
    result="FAILED (exit $?)"
    status=1
  fi
  summary=$(grep -E '^\[  (PASSED|FAILED) +\]|tests? ran' "$log" | tail -2 | tr '\n' ' ')
  echo "   $result in $((SECONDS - start)) s: $summary" | tee -a "$log"
done
races=$(grep -c 'WARNING: ThreadSanitizer' "$log" || true)
echo "== ThreadSanitizer warnings: $races; $( ((status == 0)) && echo clean || echo NOT clean)" \
  | tee -a "$log"
exit $status
