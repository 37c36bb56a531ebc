#!/usr/bin/env python3
"""Label agreement and score differences of --dtype bf16 / int8 against fp32 (issue 5).

Runs `refusal classify` once per dtype on the same texts: every row of
data/eval/chatgpt-refusals.jsonl.gz and, with --shared-train DIR (the shared data's train/
folder, e.g. ../shared/data/train; not in the repository), --train-sample texts drawn (seeded)
from its *.jsonl.gz, and prints a markdown table (plus --json FILE).

    python3 scripts/dtype_agreement.py [--model DIR] [--refusal build/release/refusal]
        [--shared-train ../shared/data/train]
"""
import argparse
import gzip
import json
import os
import random
import subprocess
import sys
import tempfile


def read_texts(path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f]


def classify(refusal, model, dtype, texts_file, threads):
    cmd = [refusal, "classify", "--input", texts_file, "--format", "jsonl", "--dtype", dtype]
    if model:
        cmd += ["--model", model]
    if threads:
        cmd += ["--threads", str(threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--refusal", default="build/release/refusal")
    ap.add_argument("--model", default="", help="default: the bundled model")
    ap.add_argument("--eval", default=os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "eval",
        "chatgpt-refusals.jsonl.gz"))
    ap.add_argument("--shared-train", default="", help="train/ folder to sample from")
    ap.add_argument("--train-sample", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--json", default="")
    args = ap.parse_args()

    sets = {"eval (chatgpt-refusals, all rows)": read_texts(args.eval)}
    if args.shared_train:
        pool = []
        for name in sorted(os.listdir(args.shared_train)):
            if name.endswith(".jsonl.gz"):
                pool += read_texts(os.path.join(args.shared_train, name))
        random.Random(args.seed).shuffle(pool)
        sets[f"train sample ({args.train_sample} texts, seed {args.seed})"] = \
            pool[: args.train_sample]

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for set_name, texts in sets.items():
            path = os.path.join(tmp, "texts.jsonl")
            with open(path, "w", encoding="utf-8") as f:
                for t in texts:
                    f.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")
            ref = classify(args.refusal, args.model, "fp32", path, args.threads)
            assert len(ref) == len(texts), (len(ref), len(texts))
            for dtype in ("bf16", "int8"):
                got = classify(args.refusal, args.model, dtype, path, args.threads)
                assert len(got) == len(texts)
                same = sum(a["label"] == b["label"] for a, b in zip(ref, got))
                deltas = [abs(a["score"] - b["score"]) for a, b in zip(ref, got)]
                results.append({"set": set_name, "dtype": dtype, "texts": len(texts),
                                "label_agreement": same / len(texts), "disagreements": len(texts) - same,
                                "max_abs_dscore": max(deltas), "mean_abs_dscore": sum(deltas) / len(deltas)})
    print("| texts | dtype | label agreement with fp32 | max \\|Δscore\\| | mean \\|Δscore\\| |")
    print("|---|---|---|---|---|")
    for r in results:
        print(f"| {r['set']} | {r['dtype']} | {100 * r['label_agreement']:.2f}% ({r['disagreements']} differ) "
              f"| {r['max_abs_dscore']:.2e} | {r['mean_abs_dscore']:.2e} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"model": args.model or "bundled default", "results": results}, f, indent=1)
    if any(r["label_agreement"] < 0.995 for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
