#!/usr/bin/env bash
# Issue 18's measurements in one go, for a quiet machine: batch-1 latency at 16/64/128/512
# tokens, refusal fp32 + int8 against transformers and ONNX Runtime, interleaved in fresh
# processes (bench/peers/peers.py --refusal, 3 rounds):
#   1. native: every engine at its best ISA;
#   2. AVX2: refusal with REFUSAL_ISA=avx2, PyTorch with ATEN_CPU_CAPABILITY=avx2,
#      ONEDNN_MAX_CPU_ISA=AVX2 and MKL_ENABLE_INSTRUCTIONS=AVX2 (MKL's own switch: on Intel CPUs
#      MKL would otherwise run its AVX-512 code) (ONNX Runtime has no such switch: its rows stay
#      native);
#   3. on a CPU with AVX-VNNI (Intel client parts, Sapphire Rapids, Zen 5): refusal with
#      REFUSAL_ISA=avxvnni (AVX2 plus AVX-VNNI's int8, what an Alder Lake laptop runs) and
#      PyTorch with ONEDNN_MAX_CPU_ISA=AVX2_VNNI, only these two (--only transformers);
# then the machine's FMA peaks (bench_kernels, for the share of the AVX2 / AVX-512 peak) and the
# cold-start table (bench/coldstart.sh). Everything lands in OUT (default
# build/shortfast-<UTC time>/): summary.md (the printed tables, in order), native.json,
# avx2.json, avxvnni.json, peaks.txt, coldstart.md, and the raw per-worker results under raw-*/
# (a stopped run rerun with the same --out goes on where it stopped).
#
#   bash bench/shortfast.sh [--out DIR] [--rounds 3]
#
# Needs: build/release/refusal and build/release/bench/kernels/bench_kernels (cmake --preset
# release && cmake --build --preset release), .venv-bench (bash scripts/venv.sh bench) and
# build/bench-model with its onnx/ and onnx-int8/ exports (.venv-bench/bin/python
# scripts/make_bench_model.py). About 12 minutes on the 2-core machine of docs/benchmarks.md
# when it is idle (each worker waits up to 60 s for quiet first, and a disturbed one reruns).
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/shortfast-$(date -u +%Y%m%dT%H%M%SZ)
rounds=3
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "shortfast.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
py=.venv-bench/bin/python
refusal=build/release/refusal
kernels=build/release/bench/kernels/bench_kernels
for need in "$py" "$refusal" build/bench-model/config.json build/bench-model/onnx/model.onnx \
    build/bench-model/onnx-int8/model_quantized.onnx; do
  [ -e "$need" ] || { echo "shortfast.sh: missing $need (see the usage at the top)" >&2; exit 2; }
done
mkdir -p "$out"
summary=$out/summary.md
{
  echo "# shortfast run $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD)"
  echo
  lscpu | grep -E '^(Model name|CPU\(s\)):'
} >"$summary"

only=()     # set for one run: which peers it measures besides refusal
peers() {  # NAME, then env assignments for that run
  local name=$1; shift
  echo; echo "## $name"; echo
  env "$@" "$py" bench/peers/peers.py "${only[@]}" --model build/bench-model --threads 2 \
    --rounds "$rounds" --shapes 16,64,128,512 --phases micro --refusal "$refusal" \
    --refusal-dtypes fp32,int8 --refusal-seconds 1 --wait-quiet 60 --retry-disturbed 1 \
    --raw-dir "$out/raw-$name" --resume --json "$out/$name.json"
}
start=$(date +%s)
peers native 2>&1 | tee -a "$summary"
peers avx2 REFUSAL_ISA=avx2 ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 \
  MKL_ENABLE_INSTRUCTIONS=AVX2 2>&1 |
  tee -a "$summary"
if grep -qw avx_vnni /proc/cpuinfo; then
  only=(--only transformers)
  peers avxvnni REFUSAL_ISA=avxvnni ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2_VNNI \
    MKL_ENABLE_INSTRUCTIONS=AVX2 2>&1 |
    tee -a "$summary"
  only=()
fi
if [ -x "$kernels" ]; then
  { echo; echo "## FMA / VDPBF16PS / VPDPBUSD peaks, one thread (×2 for two cores)"; echo; } |
    tee -a "$summary"
  "$kernels" --benchmark_filter=peak 2>&1 | tee "$out/peaks.txt" | tee -a "$summary"
fi
{ echo; echo "## Cold start"; echo; } | tee -a "$summary"
bash bench/coldstart.sh --bin "$refusal" --threads 2 --runs 5 --out "$out/coldstart.md" 2>&1 |
  tee -a "$summary"
echo
echo "shortfast.sh: done in $(( $(date +%s) - start )) s; results in $summary"
