#!/usr/bin/env python3
"""Builds the training and dev sets of the bundled default model from ../shared/data/train/.

Standard library only; deterministic (the split and the sample depend on --seed alone).

What it does, in order (every input row ends in exactly one bucket of stats.json):
  1. Reads every *.jsonl.gz of --shared-train.
  2. Keeps label-1 rows of the proxy sets (gptfuzz, jbb-artifacts, jailjudge-mini) only when their
     first 400 characters hold refusal wording (REFUSAL_WORDING below): there label 1 means "the
     jailbreak failed", and 11-37% of those rows hold no refusal wording (shared/data's README).
     These rows are the training data's main source of 2023 ChatGPT-style refusals ("As an AI
     language model, I cannot ..."). Their label-0 rows (the model complied) are reliable and kept.
  3. De-duplicates texts across all files (whitespace-normalised); a text seen with both labels is
     dropped everywhere as ambiguous.
  4. Splits by prompt (rows of one prompt never straddle the split): --dev-share of the prompts,
     chosen by a seeded hash, form the dev set.
  5. Keeps every training row of the smaller sources and samples phtest (35,860 rows, 11 models)
     so that the training set has at most --max-train-rows rows, phtest's labels in proportion,
     so the run fits a CPU budget (data/models/default/README.md gives the sizes used).
../shared/data/eval/ is never read: it is for evaluation only.
"""
import argparse
import collections
import gzip
import hashlib
import json
import os
import random
import re

PROXY_SOURCES = {"gptfuzz", "jbb-artifacts", "jailjudge-mini"}
SAMPLED_SOURCE = "phtest"
REFUSAL_WORDING = re.compile(
    r"\b(i'?m sorry|i am sorry|sorry, but|i apologi[sz]e|my apologies|i can(?:no|')t|i won'?t|"
    r"i will not|i'?m (?:not able|unable)|i am (?:not able|unable)|as an ai|as a language model|"
    r"not (?:able|going) to (?:help|provide|assist|comply)|against (?:my|openai'?s?)|unethical|illegal|"
    r"not appropriate|inappropriate|harmful)\b", re.IGNORECASE)


def norm_text(text):
    return re.sub(r"\s+", " ", text).strip()


def group_key(row):
    prompt = row.get("prompt") or ""
    if prompt.strip():
        return "prompt:" + norm_text(prompt).lower()
    return "text:" + norm_text(row["text"])


def stable_hash(seed, key):
    digest = hashlib.sha256(f"{seed}\0{key}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared-train", required=True,
                    help="the shared data's train/ folder, e.g. ../shared/data/train")
    ap.add_argument("--out", required=True, help="output folder (train.jsonl.gz, dev.jsonl.gz, stats.json)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--dev-share", type=float, default=0.05)
    ap.add_argument("--max-train-rows", type=int, default=0, help="0: all")
    ap.add_argument("--max-dev-rows", type=int, default=1000)
    args = ap.parse_args()

    stats = collections.OrderedDict()
    stats["made_by"] = "scripts/make_default_model_data.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out")
    read = collections.Counter()
    dropped = collections.Counter()
    rows = []
    for name in sorted(os.listdir(args.shared_train)):
        if not name.endswith(".jsonl.gz"):
            continue
        path = os.path.join(args.shared_train, name)
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line_no, line in enumerate(f, 1):
                row = json.loads(line)
                src = row.get("source") or name.split(".")[0]
                read[src] += 1
                text = row.get("text")
                label = row.get("label")
                if not isinstance(text, str) or label not in (0, 1):
                    raise SystemExit(f"{path}:{line_no}: row without a text or a 0/1 label")
                if not text.strip():
                    dropped[f"{src}: empty text"] += 1
                    continue
                if src in PROXY_SOURCES and label == 1 and not REFUSAL_WORDING.search(text[:400]):
                    dropped[f"{src}: proxy label 1 without refusal wording"] += 1
                    continue
                rows.append({"text": text, "label": label, "source": src,
                             "model": row.get("model"), "prompt": row.get("prompt"),
                             "partial_refusal": bool((row.get("meta") or {}).get("partial_refusal"))})
    stats["read"] = dict(read)

    labels_of = collections.defaultdict(set)
    for r in rows:
        labels_of[norm_text(r["text"])].add(r["label"])
    seen = set()
    unique = []
    for r in rows:
        key = norm_text(r["text"])
        if len(labels_of[key]) > 1:
            dropped[f"{r['source']}: text seen with both labels"] += 1
            continue
        if key in seen:
            dropped[f"{r['source']}: duplicate text"] += 1
            continue
        seen.add(key)
        unique.append(r)

    train, dev = [], []
    for r in unique:
        (dev if stable_hash(args.seed, group_key(r)) < args.dev_share else train).append(r)
    # A text's prompt group decides its side; duplicates were removed first, so no text is on both.

    rng = random.Random(args.seed)
    def sample(pool, limit, what, only=None):
        """At most `limit` rows: rows of other sources than `only` are all kept."""
        if not limit or len(pool) <= limit:
            return pool
        kept = [r for r in pool if only is not None and r["source"] != only]
        rest = [r for r in pool if only is None or r["source"] == only]
        room = max(0, limit - len(kept))
        strata = collections.defaultdict(list)
        for r in rest:
            strata[(r["source"], r["label"])].append(r)
        for key in sorted(strata):
            items = strata[key]
            n = round(len(items) * room / len(rest))
            rng.shuffle(items)
            kept += items[:n]
            if len(items) > n:
                dropped[f"{key[0]}: not sampled into the {what} set (--max-{what}-rows)"] += len(items) - n
        return kept
    train = sample(train, args.max_train_rows, "train", only=SAMPLED_SOURCE)
    dev = sample(dev, args.max_dev_rows, "dev")

    os.makedirs(args.out, exist_ok=True)
    for name, part in (("train", train), ("dev", dev)):
        with gzip.open(os.path.join(args.out, f"{name}.jsonl.gz"), "wt", encoding="utf-8") as f:
            for r in part:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        stats[name] = {
            "rows": len(part),
            "by_source_label": {f"{s}/{l}": n for (s, l), n in sorted(
                collections.Counter((r["source"], r["label"]) for r in part).items())},
            "chars_mean": round(sum(len(r["text"]) for r in part) / max(1, len(part)), 1),
        }
    stats["dropped"] = dict(sorted(dropped.items()))
    total_out = len(train) + len(dev) + sum(dropped.values())
    stats["accounted"] = f"{total_out} of {sum(read.values())} rows read"
    if total_out != sum(read.values()):
        raise SystemExit(f"internal error: {total_out} rows accounted, {sum(read.values())} read")
    with open(os.path.join(args.out, "stats.json"), "w") as f:
        json.dump(stats, f, indent=1)
    print(json.dumps(stats, indent=1))


if __name__ == "__main__":
    main()
