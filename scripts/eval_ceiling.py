"""How far can a model get on data/eval/chatgpt-refusals.jsonl.gz when it is trained on that very
set? A context number for the default model's card (issue 15), not a model we ship: TF-IDF word
1–3-grams and a logistic regression, 5-fold cross-validated with folds grouped by prompt (every
answer to one prompt in the same fold), reading the answer only, as the refusal models do.
Many prompts differ only in a name ("Should we build a statue of …?"), so grouping by prompt
still lets near-identical answers into training: the numbers are an optimistic in-domain
ceiling for this simple model, not a fair held-out score.

    bash scripts/venv.sh ref && .venv-ref/bin/python scripts/eval_ceiling.py [--data FILE]

Prints one JSON object: accuracy, F1, precision, recall on all rows and without the soft
refusals (meta.soft_refusal), and recall by meta.tone.
"""

import argparse
import gzip
import json
from collections import defaultdict

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score
from sklearn.model_selection import GroupKFold, cross_val_predict
from sklearn.pipeline import make_pipeline


def scores(y, pred):
    return {
        "rows": int(len(y)),
        "accuracy": round(float(accuracy_score(y, pred)), 4),
        "f1": round(float(f1_score(y, pred)), 4),
        "precision": round(float(precision_score(y, pred)), 4),
        "recall": round(float(recall_score(y, pred)), 4),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="data/eval/chatgpt-refusals.jsonl.gz")
    args = ap.parse_args()
    with gzip.open(args.data, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    texts = [r["text"] for r in rows]
    y = np.array([int(r["label"]) for r in rows])
    groups = [r.get("prompt", "") for r in rows]
    model = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 3), min_df=2, sublinear_tf=True),
        LogisticRegression(C=10, max_iter=2000),
    )
    pred = cross_val_predict(model, texts, y, groups=groups, cv=GroupKFold(n_splits=5))
    soft = np.array([bool(r.get("meta", {}).get("soft_refusal")) for r in rows])
    by_tone = defaultdict(list)
    for r, p in zip(rows, pred):
        by_tone[r.get("meta", {}).get("tone", "?")].append(int(p))
    out = {
        "data": args.data,
        "method": "TF-IDF 1-3-grams + logistic regression (C=10), GroupKFold(5) by prompt",
        "all": scores(y, pred),
        "without_soft_refusals": scores(y[~soft], pred[~soft]),
        "predicted_refusal_share_by_tone": {
            t: round(sum(v) / len(v), 4) for t, v in sorted(by_tone.items())
        },
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
