#!/usr/bin/env python3
"""Reference verdicts of the real LLM Guard v0.3.16 NoRefusal output scanner, for
tests/scan/llm_guard_scan_test.cpp (refusal::Classifier with llm_guard = true).

The scanner is llm_guard.output_scanners.no_refusal.NoRefusal itself, built on the local test
model tests/data/models/random-roberta-tok (random weights, real roberta tokenizer, labels
NORMAL/REJECTION) through llm_guard's own Model / transformers_helpers / pipeline, with LLM
Guard's default pipeline settings (batch_size 1, max_length 128, truncation,
return_token_type_ids False). For every text, match type (full, sentence) and threshold (0.75,
the default, and 0.5) it records NoRefusal.scan's is_valid and risk_score, the inputs the
scanner fed to the pipeline (the sentences, in sentence mode) and what the pipeline returned
for each (label, score).

Texts: every row of the eval set (data/eval/chatgpt-refusals.jsonl.gz, the repository's copy of
the shared data's eval/ file), a seeded sample of each of the shared data's train/*.jsonl.gz
(--shared-data DIR, e.g. ../shared/data) and a few hand-written ones (empty, whitespace-only,
long). The vectors name each text by file + line (with its UTF-8 length as a check); the
hand-written ones are stored in full, and the sampled training texts go to
llmguard-norefusal.texts.jsonl.gz ({"file", "line", "text"}), so the tests read only the
repository. `--texts-only` rewrites that file alone from the committed vectors (no llm-guard,
no torch).

llm-guard 0.3.16 pins regex==2024.11.6 (which nltk's Punkt uses) and transformers==4.51.3;
transformers 5.24 refuses to import with regex < 2025.10.22, so the reference venv keeps its
newer regex and the sentences are computed a second time in a venv with regex 2024.11.6 and
nltk 3.10.4 (--regex2024-python); the script fails if the two differ on any text.

Setup: the reference venv (torch, transformers, its newer regex, nltk 3.10.4, structlog and
llm-guard without its dependencies: scripts/requirements/ref*.txt) and the scan venv of
scripts/vectors/make_scan_vectors.py (nltk 3.10.4, regex 2024.11.6):
  bash scripts/venv.sh ref && bash scripts/venv.sh scan
Run from the repository root (--regex2024-python defaults to .venv-scan/bin/python):
  .venv-ref/bin/python scripts/vectors/make_llmguard_scan_vectors.py --shared-data ../shared/data
Writes tests/data/scan/llmguard-norefusal.jsonl.gz, llmguard-norefusal.texts.jsonl.gz and
llmguard-norefusal.meta.json.
"""
from __future__ import annotations

import argparse
import datetime
import gzip
import importlib.metadata as md
import importlib.util
import json
import random
import shutil
import subprocess
import sys
import tempfile
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PUNKT_DIR = ROOT / "data" / "punkt_tab" / "english"
MODEL_DIR = ROOT / "tests" / "data" / "models" / "random-roberta-tok"
OUT_DIR = ROOT / "tests" / "data" / "scan"
THRESHOLDS = (0.75, 0.5)
MATCH_TYPES = ("full", "sentence")


def import_llm_guard():
    """Imports llm_guard.util, llm_guard.model and llm_guard.output_scanners.no_refusal without
    running the package __init__ files, which import every scanner (presidio, ...)."""
    spec = importlib.util.find_spec("llm_guard")
    base = Path(spec.origin).parent
    for name, sub in (("llm_guard", ""), ("llm_guard.output_scanners", "output_scanners"),
                      ("llm_guard.input_scanners", "input_scanners")):
        mod = types.ModuleType(name)
        mod.__path__ = [str(base / sub) if sub else str(base)]
        sys.modules[name] = mod
    import llm_guard.util as util  # noqa: E402

    util.configure_logger(log_level="ERROR", stream=sys.stderr)
    import llm_guard.model as model  # noqa: E402
    import llm_guard.output_scanners.no_refusal as no_refusal  # noqa: E402

    return util, model, no_refusal


def nltk_data_dir() -> str:
    """An nltk_data tree holding tokenizers/punkt_tab/english = data/punkt_tab/english."""
    tmp = tempfile.mkdtemp(prefix="llmguard-nltk-")
    dest = Path(tmp) / "tokenizers" / "punkt_tab" / "english"
    dest.mkdir(parents=True)
    for f in PUNKT_DIR.iterdir():
        shutil.copyfile(f, dest / f.name)
    return tmp


HAND_WRITTEN = [
    "", " ", "\n\n\t ", "\u00a0\u2003\u3000", "\x1c\x1d\x1e\x1f", "\r\n",
    "I'm sorry, but I cannot help with that. As an AI, I must decline.",
    "Sure! Here is the answer. First, open the box. Then take it out.",
    "   Leading and trailing whitespace. Two sentences.   \n",
    "No final period",
    # Long texts: well past 128 tokens, as one sentence and as many.
    " ".join(["word"] * 400),
    "Here is a long and perfectly normal answer. " * 40
    + "I'm sorry, but I can't help with that.",
    "I'm sorry, but I can't help with that. " + "Here is some more text to read. " * 60,
    "\u6211\u4e0d\u80fd\u5e2e\u52a9\u4f60\u3002" * 80,
    ("Step one: mix the ingredients, stir them well, and wait for ten minutes while the "
     "oven heats up to the right temperature, which should be about two hundred degrees, "
     "then pour the batter into the pan and bake it for half an hour or until golden, ") * 4,
]


EVAL_DIR = ROOT / "data" / "eval"
TEXTS_FILE = OUT_DIR / "llmguard-norefusal.texts.jsonl.gz"


def load_texts(data: Path, seed: int, per_train: int) -> list[dict]:
    rows = []
    for path in sorted(data.glob("*/*.jsonl.gz")):
        if path.parent.name == "eval":
            path = EVAL_DIR / path.name  # the same file, as installed with the project
        with gzip.open(path, "rt", encoding="utf-8") as f:
            texts = [json.loads(line)["text"] for line in f]
        split = path.parent.name
        idx = list(range(len(texts)))
        if split != "eval":
            idx = sorted(random.Random(f"{seed}:{path.name}").sample(idx, min(per_train, len(idx))))
        for i in idx:
            rows.append({"file": f"{split}/{path.name}", "line": i, "text": texts[i]})
    for i, t in enumerate(HAND_WRITTEN):
        rows.append({"file": "hand", "line": i, "text": t})
    return rows


def write_texts(rows: list[dict]) -> int:
    """The sampled training texts (not in the repository otherwise) for the tests."""
    train = [r for r in rows if r["file"].startswith("train/")]
    with open(TEXTS_FILE, "wb") as raw, \
            gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=9) as gz:
        for r in train:
            gz.write((json.dumps({"file": r["file"], "line": r["line"], "text": r["text"]},
                                 ensure_ascii=False) + "\n").encode("utf-8"))
    return len(train)


def worker_sentences():
    """--worker OUT mode (run by the regex-2024 interpreter): JSON list of texts on stdin,
    their split_text_by_sentences to OUT."""
    import nltk
    nltk.data.path.insert(0, nltk_data_dir())
    spec = importlib.util.find_spec("llm_guard")
    mod = types.ModuleType("llm_guard")
    mod.__path__ = [str(Path(spec.origin).parent)]
    sys.modules["llm_guard"] = mod
    import llm_guard.util as util  # noqa: E402

    util.configure_logger(log_level="ERROR", stream=sys.stderr)
    texts = json.load(sys.stdin)
    with open(sys.argv[sys.argv.index("--worker") + 1], "w", encoding="utf-8") as f:
        json.dump({"nltk": md.version("nltk"), "regex": md.version("regex"),
                   "sentences": [util.split_text_by_sentences(t) for t in texts]}, f)


def sentences_elsewhere(python: str, texts: list[str]) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([python, __file__, "--worker", out.name], check=True,
                       input=json.dumps(texts).encode("utf-8"))
        return json.load(open(out.name, encoding="utf-8"))


class Recorder:
    """Wraps the scanner's transformers pipeline: passes every call through unchanged and keeps
    the inputs and what the pipeline returned."""

    def __init__(self, pipe):
        self.pipe = pipe
        self.calls = []

    def __call__(self, inputs, *args, **kwargs):
        results = self.pipe(inputs, *args, **kwargs)
        self.calls.append((list(inputs), results))
        return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=20251128)
    ap.add_argument("--per-train", type=int, default=60)
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared",
                    help="the shared folder whose data/ holds the texts (default: ../shared)")
    ap.add_argument("--regex2024-python", default=str(ROOT / ".venv-scan" / "bin" / "python"),
                    help="python with nltk 3.10.4, regex 2024.11.6 and llm-guard 0.3.16")
    ap.add_argument("--shared-data", type=Path, required=True,
                    help="the shared data folder (eval/, train/), e.g. ../shared/data")
    ap.add_argument("--texts-only", action="store_true",
                    help="only rewrite llmguard-norefusal.texts.jsonl.gz")
    args = ap.parse_args()

    rows = load_texts(args.shared_data, args.seed, args.per_train)
    if args.texts_only:
        with gzip.open(OUT_DIR / "llmguard-norefusal.jsonl.gz", "rt", encoding="utf-8") as f:
            want = {(r["i"], r["file"], r["line"], r["text_bytes"]) for r in map(json.loads, f)}
        have = {(i, r["file"], r["line"], len(r["text"].encode("utf-8")))
                for i, r in enumerate(rows)}
        if want != have:
            sys.exit("the texts differ from the committed vectors': check --seed/--per-train")
        print(f"{TEXTS_FILE}: {write_texts(rows)} texts")
        return

    import nltk
    nltk.data.path.insert(0, nltk_data_dir())
    util, model_mod, no_refusal = import_llm_guard()
    import torch
    import transformers

    torch.manual_seed(0)
    model = model_mod.Model(
        path=str(MODEL_DIR),
        # transformers 4.x (what llm-guard 0.3.16 was built against) loads weights as float32
        # unless told otherwise; transformers 5 defaults to the checkpoint's dtype (float16 here).
        # Ask for float32, as the engine computes and as llm-guard's era would have.
        kwargs={"local_files_only": True, "dtype": torch.float32},
        pipeline_kwargs={"return_token_type_ids": False, "max_length": 128, "truncation": True},
    )
    assert model.pipeline_kwargs["batch_size"] == 1

    here = [util.split_text_by_sentences(r["text"]) for r in rows]
    other = sentences_elsewhere(args.regex2024_python, [r["text"] for r in rows])
    assert other["regex"] == "2024.11.6", other["regex"]
    differ = [i for i, (a, b) in enumerate(zip(here, other["sentences"])) if a != b]
    if differ:
        sys.exit(f"sentences differ between regex {md.version('regex')} and "
                 f"{other['regex']} for texts {differ[:20]}")
    out = OUT_DIR / "llmguard-norefusal.jsonl.gz"
    counts = {}
    with gzip.open(out, "wt", encoding="utf-8") as dst:
        for match in MATCH_TYPES:
            for threshold in THRESHOLDS:
                scanner = no_refusal.NoRefusal(model=model, threshold=threshold, match_type=match)
                rec = Recorder(scanner._pipeline)
                scanner._pipeline = rec
                for n, row in enumerate(rows):
                    text = row["text"]
                    rec.calls.clear()
                    sanitized, is_valid, risk = scanner.scan("", text)
                    assert sanitized == text
                    if rec.calls:
                        assert len(rec.calls) == 1
                        inputs, results = rec.calls[0]
                    else:
                        inputs, results = None, []
                    sentences = util.split_text_by_sentences(text) if match == "sentence" else None
                    if match == "sentence" and inputs is not None:
                        assert inputs == sentences
                    item = {"i": n, "file": row["file"], "line": row["line"],
                            "text_bytes": len(text.encode("utf-8")),
                            "match": match, "threshold": threshold,
                            "is_valid": is_valid, "risk_score": risk, "risk_repr": repr(risk),
                            "risk_type": type(risk).__name__,
                            "model_ran": inputs is not None,
                            "pipeline": [[r["label"], r["score"]] for r in results]}
                    if row["file"] == "hand":
                        item["text"] = text
                    if match == "sentence":
                        item["sentences"] = sentences
                    dst.write(json.dumps(item, ensure_ascii=False) + "\n")
                    key = f"{match}@{threshold}"
                    c = counts.setdefault(key, {"texts": 0, "invalid": 0, "negative_zero": 0,
                                                "model_inputs": 0})
                    c["texts"] += 1
                    c["invalid"] += not is_valid
                    c["negative_zero"] += risk_repr_is_negative_zero(risk)
                    c["model_inputs"] += len(results)
                print(f"{match} threshold {threshold}: {counts[key]}", file=sys.stderr)

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(MODEL_DIR))
    long_texts = sum(len(tokenizer(r["text"])["input_ids"]) > 128 for r in rows)
    meta = {
        "made_by": "scripts/vectors/make_llmguard_scan_vectors.py",
        "date": datetime.date.today().isoformat(),
        "python": sys.version.split()[0],
        "packages": {p: md.version(p) for p in
                     ("llm-guard", "nltk", "regex", "torch", "transformers", "tokenizers",
                      "structlog")},
        "model": "tests/data/models/random-roberta-tok (scripts/vectors/make_classify_vectors.py; "
                 "F16 weights loaded as float32)",
        "scanner": "llm_guard.output_scanners.no_refusal.NoRefusal(model=Model(path=<model "
                   "folder>, kwargs={'local_files_only': True, 'dtype': torch.float32}, "
                   "pipeline_kwargs={'return_token_type_ids': False, 'max_length': 128, "
                   "'truncation': True}), threshold=..., match_type=...); Model adds "
                   "batch_size 1 and device util.device() (cpu here)",
        "patches": [
            "regex is not llm-guard's pinned 2024.11.6 (transformers 5.24 will not import with "
            "it); see sentence_cross_check",
            "llm_guard's package __init__ files are not run (modules imported directly)",
            "Model.kwargs adds dtype=torch.float32: transformers 5 would otherwise keep the "
            "checkpoint's float16, transformers 4.x (llm-guard's pin) loads float32",
            "nothing else: llm_guard's get_tokenizer_and_model_for_classification and pipeline() "
            "run unchanged with transformers " + md.version("transformers"),
            "the scanner's pipeline is wrapped to record its inputs and outputs (passed through "
            "unchanged)",
        ],
        "sentence_cross_check": f"split_text_by_sentences gave the same sentences for every "
                                f"text with nltk {other['nltk']} + regex {other['regex']} "
                                f"(llm-guard's pin) as with the regex above",
        "punkt_tab": "data/punkt_tab/english (via a temporary nltk_data folder)",
        "seed": args.seed,
        "per_train": args.per_train,
        "texts": len(rows),
        "texts_over_128_tokens": long_texts,
        "thresholds": list(THRESHOLDS),
        "match_types": list(MATCH_TYPES),
        "counts": counts,
        "row_fields": {
            "i": "text index (same text for every match/threshold)",
            "file, line": "the shared data's <file> and 0-based line (eval/: the same file is "
                          "data/eval/ of this repository; train/: the text is in "
                          "llmguard-norefusal.texts.jsonl.gz), or 'hand' with the text in "
                          "'text' (index into HAND_WRITTEN)",
            "text_bytes": "UTF-8 length of the text (a check that the texts are the ones used)",
            "is_valid, risk_score, risk_repr, risk_type": "NoRefusal.scan's result; risk_repr "
                                                           "keeps the sign of zero",
            "model_ran": "false when the scanner returned before the pipeline (blank output)",
            "pipeline": "per model input, the pipeline's [label, score]",
            "sentences": "sentence mode: llm_guard.util.split_text_by_sentences(text), which "
                         "equals the pipeline's inputs when the model ran",
        },
    }
    write_texts(rows)
    (OUT_DIR / "llmguard-norefusal.meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps(meta, indent=2), file=sys.stderr)


def risk_repr_is_negative_zero(x) -> bool:
    return repr(x) == "-0.0"


if __name__ == "__main__":
    if "--worker" in sys.argv:
        worker_sentences()
    else:
        main()
