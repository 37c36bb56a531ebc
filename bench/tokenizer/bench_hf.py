#!/usr/bin/env python3
"""HF tokenizers (Rust core, PyPI) on one thread, same texts and protocol as bench_tokenizer.

Usage (in the reference venv: bash scripts/venv.sh ref):
  RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false .venv-ref/bin/python \
      bench/tokenizer/bench_hf.py [--tokenizer tokenizer.json] [--passes N] [--max-length N] \
      [files.jsonl.gz...]
Defaults (run from the repository root): the reference tokenizer of the tests and the eval set
data/eval/chatgpt-refusals.jsonl.gz; docs/tokenizer.md's numbers are over all of the shared
data (../shared/data/*/*.jsonl.gz, given as files).
encode_batch keeps the loop in Rust (one Python call per pass); with parallelism off it runs on
the calling thread only. `encode` in a Python loop is reported too.
"""
import argparse
import gzip
import json
import os
import statistics
import time

os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import tokenizers  # noqa: E402  (after the environment is set)
from tokenizers import Tokenizer  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer", default="tests/data/tokenizer/"
                    "protectai-distilroberta-base-rejection-v1/tokenizer.json")
    ap.add_argument("--passes", type=int, default=5)
    ap.add_argument("--max-length", type=int, default=None)
    ap.add_argument("files", nargs="*")
    args = ap.parse_args()
    files = args.files or ["data/eval/chatgpt-refusals.jsonl.gz"]
    texts = []
    for f in files:
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            texts += [json.loads(line)["text"] for line in fh if line.strip()]
    tok = Tokenizer.from_file(args.tokenizer)
    if args.max_length:
        tok.enable_truncation(args.max_length)
    seconds, tokens = [], 0
    for _ in range(max(2, args.passes)):
        t0 = time.perf_counter()
        encs = tok.encode_batch(texts)
        seconds.append(time.perf_counter() - t0)
        tokens = sum(len(e.ids) for e in encs)
        del encs
    t0 = time.perf_counter()
    for t in texts:
        tok.encode(t)
    loop_s = time.perf_counter() - t0
    warm = statistics.median(seconds[1:])
    print(json.dumps({"impl": f"HF tokenizers {tokenizers.__version__} encode_batch, 1 thread",
                      "texts": len(texts), "tokens": tokens, "max_length": args.max_length or -1,
                      "cold_s": round(seconds[0], 3), "warm_median_s": round(warm, 3),
                      "texts_per_s": round(len(texts) / warm), "tokens_per_s": round(tokens / warm),
                      "encode_loop_texts_per_s": round(len(texts) / loop_s)}))


if __name__ == "__main__":
    main()
