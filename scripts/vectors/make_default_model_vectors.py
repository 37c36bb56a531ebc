#!/usr/bin/env python3
"""Reference verdicts of transformers' text-classification pipeline for the bundled default model.

Writes tests/data/classify/default-model-eval.jsonl.gz: for every row of
data/eval/chatgpt-refusals.jsonl.gz, in order, what
pipeline("text-classification", truncation=True, max_length=512, top_k=None) returns for
data/models/default (loaded with AutoModelForSequenceClassification + AutoTokenizer, float32),
the logits, and the token count; and default-model-eval.meta.json saying how it was made.
tests/scan/default_model_test.cpp checks that refusal's engine gives the same scores (<= 1e-4).

Run from the repository root, in the reference venv (scripts/requirements/ref.txt):
  bash scripts/venv.sh ref && .venv-ref/bin/python scripts/vectors/make_default_model_vectors.py
"""
import datetime
import gzip
import hashlib
import json
import os

import torch
import transformers
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.path.join(ROOT, "data", "models", "default")
EVAL = os.path.join(ROOT, "data", "eval", "chatgpt-refusals.jsonl.gz")
OUT = os.path.join(ROOT, "tests", "data", "classify")


def main():
    torch.set_num_threads(2)
    model = AutoModelForSequenceClassification.from_pretrained(MODEL, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(MODEL)
    classify = pipeline("text-classification", model=model, tokenizer=tokenizer, device="cpu")
    rows = 0
    with gzip.open(EVAL, "rt", encoding="utf-8") as src, \
            gzip.open(os.path.join(OUT, "default-model-eval.jsonl.gz"), "wt", encoding="utf-8") as dst:
        for line in src:
            text = json.loads(line)["text"]
            every = classify(text, truncation=True, max_length=512, top_k=None)
            enc = tokenizer(text, truncation=True, max_length=512, return_tensors="pt")
            with torch.no_grad():
                logits = model(**enc).logits[0].tolist()
            dst.write(json.dumps({"row": rows, "label": every[0]["label"],
                                  "scores": {d["label"]: d["score"] for d in every},
                                  "logits": logits, "tokens": int(enc["input_ids"].shape[1])}) + "\n")
            rows += 1
    with open(os.path.join(MODEL, "model.safetensors"), "rb") as f:
        weights_sha256 = hashlib.sha256(f.read()).hexdigest()
    with open(os.path.join(OUT, "default-model-eval.meta.json"), "w") as f:
        json.dump({"made_by": "scripts/vectors/make_default_model_vectors.py",
                   "date": datetime.date.today().isoformat(),
                   "transformers": transformers.__version__, "torch": torch.__version__,
                   "model": "data/models/default", "model_safetensors_sha256": weights_sha256,
                   "input": "data/eval/chatgpt-refusals.jsonl.gz", "rows": rows,
                   "call": "pipeline('text-classification')(text, truncation=True, max_length=512, "
                           "top_k=None); logits from model(**tokenizer(text, truncation=True, "
                           "max_length=512))"}, f, indent=2)
    print("rows", rows)


if __name__ == "__main__":
    main()
