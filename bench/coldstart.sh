#!/usr/bin/env bash
# Cold start (issue 18): wall time from process start to the first verdict of
#   refusal classify -m MODEL --dtype D "I'm sorry, but I can't help with that."
# and from `refusal serve` start to its first ready answer (GET /readyz) and first verdict
# (POST /v1/classify), per model, dtype (fp32, int8), without and with stored packed weights
# (`refusal pack`, written into a symlinked copy of the model folder so the model itself is left
# as it is). Median of --runs fresh processes each (the page cache is warm after the first: this
# is the start a user sees when the files are already cached, not a first read from disk).
#
#   bash bench/coldstart.sh [--bin build/release/refusal] [--threads 2] [--runs 5] \
#       [--out build/coldstart.md] [MODEL_DIR ...]
#
# Default models: the bundled data/models/default and, when it exists, build/bench-model (the
# distilroberta-sized random model of scripts/make_bench_model.py). Needs curl and python3.
# Prints a Markdown table and writes it to --out. About 2 minutes with both models.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/release/refusal
threads=2
runs=5
out=build/coldstart.md
models=()
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) echo "coldstart.sh: unknown option $1" >&2; exit 2 ;;
    *) models+=("$1"); shift ;;
  esac
done
if [ ${#models[@]} -eq 0 ]; then
  models=(data/models/default)
  [ -f build/bench-model/config.json ] && models+=(build/bench-model)
fi
[ -x "$bin" ] || { echo "coldstart.sh: $bin is not built (cmake --build --preset release)" >&2; exit 2; }
command -v curl >/dev/null || { echo "coldstart.sh: needs curl" >&2; exit 2; }
bin=$(realpath "$bin")
text="I'm sorry, but I can't help with that."
work=$(mktemp -d /tmp/refusal-coldstart.XXXXXX)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
median() { python3 -c 'import statistics,sys; print("%.3f" % statistics.median(map(float, sys.argv[1:])))' "$@"; }

# Seconds from start to exit of one `refusal classify` on one text.
classify_once() {  # MODEL DTYPE
  local t0 t1
  t0=$(now)
  "$bin" classify -m "$1" --dtype "$2" --threads "$threads" "$text" >/dev/null
  t1=$(now)
  python3 -c "print($t1 - $t0)"
}

# "READY FIRST": seconds from `refusal serve` start to /readyz answering 200, and to the first
# /v1/classify answer.
serve_once() {  # MODEL DTYPE
  local port t0 t_ready t_first tries=0
  while :; do
    # A random port, tried again (up to 5 times) when something else holds it.
    port=$((20000 + RANDOM % 20000))
    t0=$(now)
    "$bin" serve -m "$1" --dtype "$2" --threads "$threads" --port "$port" >"$work/serve.log" 2>&1 &
    server_pid=$!
    until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
      if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
      sleep 0.005
    done
    kill -0 "$server_pid" 2>/dev/null && break
    tries=$((tries + 1))
    if [ "$tries" -ge 5 ] || ! grep -q 'Address already in use' "$work/serve.log"; then
      echo "coldstart.sh: refusal serve exited:" >&2; cat "$work/serve.log" >&2; exit 1
    fi
  done
  t_ready=$(now)
  curl -sf "http://127.0.0.1:$port/v1/classify" -H 'content-type: application/json' \
    -d "{\"text\":\"I am sorry, but I cannot help with that.\"}" >/dev/null
  t_first=$(now)
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=
  python3 -c "print($t_ready - $t0, $t_first - $t0)"
}

{
  echo "Cold start, $(date -u +%FT%TZ), $(git rev-parse --short HEAD 2>/dev/null || echo '?'), \
$threads threads, median of $runs fresh processes (seconds), page cache warm"
  echo
  echo "| model | dtype | packed weights | classify: start → verdict | serve: start → ready | serve: start → first verdict |"
  echo "|---|---|---|---|---|---|"
} | tee "$out"
for model in "${models[@]}"; do
  name=$(basename "$model")
  for dtype in fp32 int8; do
    for packed in no yes; do
      dir=$model
      if [ "$packed" = yes ]; then
        # A copy of the folder made of links, with the packed file beside them.
        dir=$work/$name-$dtype
        rm -rf "$dir"; mkdir -p "$dir"
        for f in "$(realpath "$model")"/*; do ln -s "$f" "$dir/"; done
        rm -f "$dir/refusal-packed-$dtype.bin"
        "$bin" pack -m "$dir" --dtype "$dtype" >/dev/null
      elif [ -e "$model/refusal-packed-$dtype.bin" ]; then
        # The folder already holds a packed file: measure without it through a copy.
        dir=$work/$name-$dtype-plain
        rm -rf "$dir"; mkdir -p "$dir"
        for f in "$(realpath "$model")"/*; do
          case "$f" in */refusal-packed-*) ;; *) ln -s "$f" "$dir/" ;; esac
        done
      fi
      classify_once "$dir" "$dtype" >/dev/null  # fills the page cache
      c=() r=() f=()
      for _ in $(seq "$runs"); do
        c+=("$(classify_once "$dir" "$dtype")")
        read -r ready first < <(serve_once "$dir" "$dtype")
        r+=("$ready"); f+=("$first")
      done
      echo "| $name | $dtype | $packed | $(median "${c[@]}") | $(median "${r[@]}") | $(median "${f[@]}") |" |
        tee -a "$out"
    done
  done
done
