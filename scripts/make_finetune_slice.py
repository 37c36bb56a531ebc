#!/usr/bin/env python3
"""The training data of tests/train/finetune_test.cpp (FineTune.BeatsKeywordBaseline): a
deterministic slice of the reliably labelled part of the shared training data, written to
tests/data/train/finetune/{train,eval}.jsonl.gz so that the test needs nothing outside the
repository.

The slice (docs/training.md, FineTune): the files whose label says whether the answer itself
refuses (phtest, refusal-direction, coconot-pref-chosen, llm-self-defense; not the proxy sets
gptfuzz, jbb-artifacts, jailjudge-mini, labelled by jailbreak success); rows with an integer
label 0 or 1 and a string text, XSTest's partial refusals (meta.partial_refusal) left out; in the
order of mix(text) (FNV-1a 64 + a murmur3 finalizer; a stable sort, files in the order above);
each distinct text once; a row goes to eval when mix(prompt) % 5 == 0 (the prompt, or the text
when there is none: split by prompt, not by row), until 1,000 eval and 6,000 training rows.
Each row is written as {"text", "label", "prompt"}, in that order.

Usage (standard library only; the shared data folder is an explicit argument):
  python3 scripts/make_finetune_slice.py --shared-train ../shared/data/train
"""
import argparse
import gzip
import hashlib
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "train", "finetune")
FILES = ["phtest", "refusal-direction", "coconot-pref-chosen", "llm-self-defense"]
TRAIN_ROWS, EVAL_ROWS = 6000, 1000
M64 = (1 << 64) - 1


def mix(s):
    h = 1469598103934665603
    for c in s.encode("utf-8"):
        h = ((h ^ c) * 1099511628211) & M64
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & M64
    return h ^ (h >> 33)


def partial_refusal(row):
    meta = row.get("meta")
    return isinstance(meta, dict) and meta.get("partial_refusal") is True


def read_rows(path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared-train", required=True,
                    help="the shared data's train/ folder (e.g. ../shared/data/train)")
    args = ap.parse_args()

    rows = []
    sources = {}
    for name in FILES:
        path = os.path.join(args.shared_train, name + ".jsonl.gz")
        with open(path, "rb") as f:
            sources[name + ".jsonl.gz"] = hashlib.sha256(f.read()).hexdigest()
        for r in read_rows(path):
            text, label = r.get("text"), r.get("label")
            if not isinstance(text, str) or isinstance(label, bool) or not isinstance(label, int):
                continue
            if label not in (0, 1) or partial_refusal(r):
                continue
            prompt = r["prompt"] if isinstance(r.get("prompt"), str) else text
            rows.append((mix(text), name, {"text": text, "label": label, "prompt": prompt}))
    rows.sort(key=lambda x: x[0])  # stable, as std::stable_sort

    seen = set()
    train, evals = [], []
    origin = {}  # (part, file) -> rows
    for _, name, j in rows:
        if j["text"] in seen:
            continue
        seen.add(j["text"])
        if mix(j["prompt"]) % 5 == 0:
            if len(evals) < EVAL_ROWS:
                evals.append(j)
                origin[("eval", name)] = origin.get(("eval", name), 0) + 1
        elif len(train) < TRAIN_ROWS:
            train.append(j)
            origin[("train", name)] = origin.get(("train", name), 0) + 1
    assert len(train) == TRAIN_ROWS and len(evals) == EVAL_ROWS, (len(train), len(evals))

    os.makedirs(OUT, exist_ok=True)
    for name, part in (("train", train), ("eval", evals)):
        # mtime 0: the same input gives the same bytes.
        with open(os.path.join(OUT, name + ".jsonl.gz"), "wb") as raw, \
                gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=9) as gz:
            for j in part:
                gz.write((json.dumps(j, ensure_ascii=False, separators=(",", ":")) + "\n")
                         .encode("utf-8"))
        labels = [j["label"] for j in part]
        print(f"{name}: {len(part)} rows ({labels.count(0)} normal, {labels.count(1)} refusals); "
              + ", ".join(f"{f} {origin.get((name, f), 0)}" for f in FILES))
    for name, digest in sources.items():
        print(f"source {name} sha256 {digest}")


if __name__ == "__main__":
    main()
