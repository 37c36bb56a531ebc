#!/usr/bin/env python3
"""Reference verdicts of transformers' text-classification pipeline, for `refusal classify`.

Writes:
  tests/data/models/random-roberta-tok/   a small random RobertaForSequenceClassification with the
      real roberta-base tokenizer (vocab 50265; hidden 32, 2 layers), saved by save_pretrained in
      F16 to stay small, with tokenizer.json / tokenizer_config.json / special_tokens_map.json
      copied from tests/data/tokenizer/protectai-distilroberta-base-rejection-v1/.
  tests/data/classify/pipeline-eval.jsonl.gz   for every row of
      data/eval/chatgpt-refusals.jsonl.gz, in order, what
      pipeline("text-classification", truncation=True, max_length=512, top_k=None) returns for
      that model: every label's score, plus the top label (what top_k=1 returns).
  tests/data/classify/pipeline-eval.meta.json  how it was made.

Run from the repository root, in the reference venv (scripts/requirements/ref.txt):
  bash scripts/venv.sh ref && .venv-ref/bin/python scripts/vectors/make_classify_vectors.py
"""
import datetime
import gzip
import json
import os
import shutil

import torch
import transformers
from transformers import (AutoModelForSequenceClassification, AutoTokenizer, RobertaConfig,
                          RobertaForSequenceClassification, pipeline)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOKENIZER = os.path.join(ROOT, "tests", "data", "tokenizer",
                         "protectai-distilroberta-base-rejection-v1")
MODEL = os.path.join(ROOT, "tests", "data", "models", "random-roberta-tok")
EVAL = os.path.join(ROOT, "data", "eval", "chatgpt-refusals.jsonl.gz")
OUT = os.path.join(ROOT, "tests", "data", "classify")


def make_model():
    torch.manual_seed(2024)
    config = RobertaConfig(
        vocab_size=50265, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=514, type_vocab_size=1, pad_token_id=1,
        bos_token_id=0, eos_token_id=2, layer_norm_eps=1e-5, hidden_act="gelu",
        id2label={0: "NORMAL", 1: "REJECTION"}, label2id={"NORMAL": 0, "REJECTION": 1},
        problem_type="single_label_classification",
        architectures=["RobertaForSequenceClassification"])
    model = RobertaForSequenceClassification(config).eval()
    for name, p in model.named_parameters():
        if name.endswith("LayerNorm.weight"):
            p.data = 1.0 + 0.1 * torch.randn_like(p)
        elif name.endswith(".bias"):
            p.data = 0.05 * torch.randn_like(p)
        else:
            p.data = 0.15 * torch.randn_like(p)
    # Spread the scores over (0, 1) so thresholds and rounding are exercised.
    model.classifier.out_proj.weight.data *= 4.0
    model.classifier.out_proj.bias.data += torch.tensor([0.8, -0.8])
    shutil.rmtree(MODEL, ignore_errors=True)
    model.half().save_pretrained(MODEL)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copyfile(os.path.join(TOKENIZER, name), os.path.join(MODEL, name))


def main():
    make_model()
    model = AutoModelForSequenceClassification.from_pretrained(MODEL, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(MODEL)
    classify = pipeline("text-classification", model=model, tokenizer=tokenizer, device="cpu")
    os.makedirs(OUT, exist_ok=True)
    rows = 0
    with gzip.open(EVAL, "rt", encoding="utf-8") as src, \
            gzip.open(os.path.join(OUT, "pipeline-eval.jsonl.gz"), "wt", encoding="utf-8") as dst:
        for line in src:
            text = json.loads(line)["text"]
            every = classify(text, truncation=True, max_length=512, top_k=None)
            top = classify(text, truncation=True, max_length=512)[0]
            n_tokens = len(tokenizer(text, truncation=True, max_length=512)["input_ids"])
            dst.write(json.dumps({"row": rows, "label": top["label"], "score": top["score"],
                                  "scores": {d["label"]: d["score"] for d in every},
                                  "tokens": n_tokens}) + "\n")
            rows += 1
    with open(os.path.join(OUT, "pipeline-eval.meta.json"), "w") as f:
        json.dump({"made_by": "scripts/vectors/make_classify_vectors.py",
                   "date": datetime.date.today().isoformat(),
                   "transformers": transformers.__version__, "torch": torch.__version__,
                   "model": os.path.relpath(MODEL, ROOT),
                   "input": "data/eval/chatgpt-refusals.jsonl.gz", "rows": rows,
                   "call": "pipeline('text-classification')(text, truncation=True, "
                           "max_length=512[, top_k=None])"}, f, indent=2)
    print("rows", rows)


if __name__ == "__main__":
    main()
