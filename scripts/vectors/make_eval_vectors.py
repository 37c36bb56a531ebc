#!/usr/bin/env python3
"""Reference metrics from scikit-learn, for tests/eval/metrics_test.cpp.

Writes tests/data/eval/metrics.json: a list of cases, each {name, scores, labels, thresholds,
at[], roc_auc, average_precision, roc_curve, best_f1}, made by scikit-learn (version recorded
in the file) from seeded numpy random data:

  - continuous uniform scores with random labels (sizes 1..2000, balanced and skewed),
  - scores rounded to 1 or 2 decimals (many ties, ties across both classes),
  - 0/1 scores (a keyword baseline), all scores equal,
  - edge cases: all one class (ROC-AUC undefined: null; AP 0 with no positives, 1 with no
    negatives), a single row, scores exactly at a threshold.

Definitions, matching src/eval/metrics.h:
  - predicted positive when score > threshold (so sklearn gets y_pred = scores > t),
  - precision/recall/F1 with zero_division=0,
  - roc_auc_score (None when only one class is present: sklearn raises),
  - average_precision_score,
  - roc_curve(drop_intermediate=False) without its first (inf) threshold's point duplicated:
    [(fpr, tpr)] starting at (0, 0),
  - best F1: the max over precision_recall_curve's points of 2PR/(P+R) (0 where P+R == 0), and
    0 when there are no positives.

Run in the reference venv (numpy, scikit-learn; scripts/requirements/ref.txt):
  bash scripts/venv.sh ref && .venv-ref/bin/python scripts/vectors/make_eval_vectors.py
"""
import json
import os
import warnings

import numpy as np
import sklearn
from sklearn.metrics import (accuracy_score, average_precision_score, confusion_matrix,
                             f1_score, precision_recall_curve, precision_score, recall_score,
                             roc_auc_score, roc_curve)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "data", "eval", "metrics.json")
THRESHOLDS = [0.0, 0.25, 0.5, 0.75, 0.9]


def case(name, scores, labels):
    scores = [float(s) for s in scores]
    labels = [int(l) for l in labels]
    y = np.array(labels, dtype=int)
    s = np.array(scores, dtype=float)
    both = len(set(labels)) == 2
    at = []
    for t in THRESHOLDS:
        pred = (s > t).astype(int)
        tn, fp, fn, tp = confusion_matrix(y, pred, labels=[0, 1]).ravel()
        at.append({
            "threshold": t,
            "tp": int(tp), "fp": int(fp), "tn": int(tn), "fn": int(fn),
            "accuracy": float(accuracy_score(y, pred)),
            "precision": float(precision_score(y, pred, zero_division=0)),
            "recall": float(recall_score(y, pred, zero_division=0)),
            "f1": float(f1_score(y, pred, zero_division=0)),
        })
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ap = float(average_precision_score(y, s))
        if y.sum() > 0:
            p, r, _ = precision_recall_curve(y, s)
            with np.errstate(invalid="ignore", divide="ignore"):
                f1s = np.where(p + r > 0, 2 * p * r / (p + r), 0.0)
            best = float(f1s.max())
        else:
            best = 0.0
        roc = None
        if both:
            fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
            roc = [[float(a), float(b)] for a, b in zip(fpr, tpr)]
    return {
        "name": name,
        "scores": scores,
        "labels": labels,
        "at": at,
        "roc_auc": float(roc_auc_score(y, s)) if both else None,
        "average_precision": ap,
        "roc_curve": roc,
        "best_f1": best,
    }


def main():
    rng = np.random.default_rng(20261128)
    cases = []
    for n in [2, 5, 17, 100, 1000, 2000]:
        labels = rng.integers(0, 2, n)
        if len(set(labels.tolist())) < 2:
            labels[0], labels[-1] = 0, 1
        # Informative scores: positives shifted up.
        scores = np.clip(rng.normal(0.35 + 0.3 * labels, 0.2), 0, 1)
        cases.append(case(f"continuous-{n}", scores, labels))
    for n in [50, 700]:
        labels = (rng.random(n) < 0.1).astype(int)
        labels[0] = 1
        scores = rng.random(n)
        cases.append(case(f"skewed-uniform-{n}", scores, labels))
    for decimals, n in [(1, 300), (2, 1500), (1, 40)]:
        labels = rng.integers(0, 2, n)
        scores = np.round(np.clip(rng.normal(0.4 + 0.2 * labels, 0.25), 0, 1), decimals)
        cases.append(case(f"ties-{decimals}dp-{n}", scores, labels))
    labels = rng.integers(0, 2, 400)
    scores = np.where(rng.random(400) < 0.7, labels, 1 - labels)
    cases.append(case("binary-scores-400", scores, labels))
    cases.append(case("all-equal-scores", [0.5] * 10, [0, 1] * 5))
    cases.append(case("at-threshold", [0.5, 0.5, 0.75, 0.25, 0.9, 0.0], [1, 0, 1, 0, 1, 0]))
    cases.append(case("all-positive", rng.random(30), [1] * 30))
    cases.append(case("all-negative", rng.random(30), [0] * 30))
    cases.append(case("all-positive-ties", [0.5, 0.5, 0.2], [1, 1, 1]))
    cases.append(case("single-positive", [0.3], [1]))
    cases.append(case("single-negative", [0.8], [0]))
    cases.append(case("perfect", [0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]))
    cases.append(case("inverted", [0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0]))
    out = {
        "generator": "scripts/vectors/make_eval_vectors.py",
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "cases": cases,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {len(cases)} cases to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
