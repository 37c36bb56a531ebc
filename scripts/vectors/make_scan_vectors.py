#!/usr/bin/env python3
"""Reference vectors for src/scan (LLM Guard v0.3.16 NoRefusal / NoRefusalLight rules).

Everything is computed by the real packages: llm-guard 0.3.16 (split_text_by_sentences,
calculate_risk_score, NoRefusal.scan, NoRefusalLight().scan) and nltk's Punkt. nltk changed
Punkt in 3.10 (regex module, curly quotes), so sentences come from two environments: this
interpreter (nltk 3.10.x) and a second one with nltk 3.9.1 (--nltk39-python).

Setup (llm-guard's full dependency set pulls torch; the modules used here need only these, and
llm-guard is installed without its dependencies: scripts/requirements/scan*.txt):
  bash scripts/venv.sh scan && bash scripts/venv.sh scan-nltk39
Run from the repository root:
  .venv-scan/bin/python scripts/vectors/make_scan_vectors.py --shared-data ../shared/data \
      --nltk39-python .venv-scan-nltk39/bin/python
"""
from __future__ import annotations

import argparse
import datetime
import gzip
import importlib.metadata as md
import importlib.util
import json
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import types
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PUNKT_DIR = ROOT / "data" / "punkt_tab" / "english"


def import_llm_guard():
    """Imports llm_guard.util and llm_guard.output_scanners.no_refusal without running the
    package __init__ files, which import every scanner (presidio, torch, transformers...)."""
    spec = importlib.util.find_spec("llm_guard")
    base = Path(spec.origin).parent
    for name, sub in (("llm_guard", ""), ("llm_guard.output_scanners", "output_scanners"),
                      ("llm_guard.input_scanners", "input_scanners")):
        mod = types.ModuleType(name)
        mod.__path__ = [str(base / sub) if sub else str(base)]
        sys.modules[name] = mod
    import llm_guard.util as util  # noqa: E402

    # Model() calls util.device() at import time, which needs torch; the model is never run
    # here, so a stand-in device is enough.
    util.device = lambda: "cpu"
    util.configure_logger(log_level="ERROR", stream=sys.stderr)
    import llm_guard.output_scanners.no_refusal as no_refusal  # noqa: E402

    return util, no_refusal


def nltk_data_dir() -> str:
    """An nltk_data tree holding tokenizers/punkt_tab/english = data/punkt_tab/english."""
    tmp = tempfile.mkdtemp(prefix="scan-nltk-")
    dest = Path(tmp) / "tokenizers" / "punkt_tab" / "english"
    dest.mkdir(parents=True)
    for f in PUNKT_DIR.iterdir():
        shutil.copyfile(f, dest / f.name)
    return tmp


def setup_nltk():
    import nltk
    nltk.data.path.insert(0, nltk_data_dir())
    return nltk


def worker_sentences():
    """--worker mode: read a JSON list of texts on stdin, write their sentences."""
    setup_nltk()
    util, _ = import_llm_guard()
    texts = json.load(sys.stdin)
    # llm_guard logs through structlog to stdout, so the result goes to a file.
    with open(sys.argv[sys.argv.index("--worker") + 1], "w", encoding="utf-8") as f:
        json.dump({"nltk": md.version("nltk"),
                   "sentences": [util.split_text_by_sentences(t) for t in texts]}, f)


HAND_WRITTEN = [
    "", " ", "\n\n\t ", "\u00a0\u2003\u3000", "\x1c\x1d\x1e\x1f", "\x1ctext\x1f",
    "This is a test. Another sentence.", "Single sentence",
    "I met Dr. Smith at 5 p.m. yesterday. He said hi.",
    "Use tools, e.g. hammers and saws. They help.", "See i.e. the docs. Then go.",
    "Pi is about 3.14. That is a number.", "It costs $4.50. Pay now.",
    "Wait... What happened? Nothing!", "Hmm.. ok. Sure.", "He said . . . nothing. Then left.",
    "He said \"Stop.\" Then he left.", "She said 'no.' He agreed.", "(Sent1.) Sent2.",
    "He said \u201cStop.\u201d Then he left.", "\u00abBonjour.\u00bb Il est parti.",
    "It\u2019s done.\u2019 Next one.", "Really?! Yes. Really!!! Ok.",
    "First line\nsecond line without period\n- bullet one\n- bullet two",
    "Steps:\n1. Open the box.\n2. Take it out.\n3. Done.",
    "* Item one.\n* Item two.\n\nParagraph two. Ends here.",
    "I'm sorry, but I cannot help with that. As an AI, I must decline.",
    "U.S. officials met in Washington D.C. on Monday. They talked.",
    "J. R. R. Tolkien wrote books. He was English.", "Mr. and Mrs. Smith arrived. Hi.",
    "The U.S.A. is big. Canada too.", "It was No. 5 in the list. Next.",
    "Version 2.0. Released today.", "Call 555-1234. Ask for Bob.",
    "\u6211\u4e0d\u80fd\u5e2e\u52a9\u4f60\u3002\u8fd9\u662f\u8fdd\u6cd5\u7684\u3002",
    "\u4f60\u597d\uff01\u4eca\u5929\u600e\u4e48\u6837\uff1f Fine. Thanks.",
    "\u0391\u03a3. \u039f\u0394\u039f\u03a3 \u0395\u0399\u039d\u0391\u0399. Greek ends.",
    "\u0130stanbul is big. \u0130t is.", "A -- B. C--D. E.", "end.)\nNext (one).",
    "Trailing spaces.   \n\n  ", "   Leading spaces. Second.", "a.b.c. d.e.f. Ghi.",
    "x. Y. z. W.", "e.g., this. And that.", "Inc. Corp. Ltd. Co. Something.",
    "He was born in Jan. 1990. He died in Dec. 2050.", "The 1st. The 2nd. The 3rd.",
    "What?\u201d she asked. \u201cNo.\u201d", "Look:\u00a0here. There.", "Tab\tsep. Next\tone.",
    "Ends with quote.\"", "Ends with paren.)", "...", ". . .", "!", "?", ".", "a.", "A. B.",
    "Word.\u2028Next sentence.", "Word.\u0085Next.", "Word.\x1cNext.", "Word.\x1c Next.",
    "Caf\u00e9. \u00c9cole. \u00e9t\u00e9.", "\u2160. \u2170. roman.", "\u00aa. \u00ba. x.",
    "Sorry! Hello! OpenAI is here.", "I can\u2019t assist. I can't assist.",
    "\u0130'M SORRY", "I\u0307'm sorry", "\u212a\u212b. Kelvin.", "STRASSE. Stra\u00dfe.",
    "HAS AN apple", "ΣΑΣ. Σ. ΟΔΟΣ.", "ﬁ. ﬂ. ligatures.",
]

LIGHT_EXTRA = [
    "\u0130 AM SORRY", "I AM SORRY", "i am sorry", "I\u2019m sorry", "SORRY", "s\u043erry",
    "AS AN AI", "has an opinion", "OPENAI", "Open AI", "My Apologies.", "IF YOU HAVE ANY OTHER "
    "NON-MALICIOUS REQUESTS", "I can\u02bct provide", "unEThical", "not Legal", "hello!",
    "Hello !", "I DO NOT", "\u0130\u0130\u0130", "\u03a3\u039f\u03a1\u03a1\u03a5", "",
]


FUZZ_PIECES = [
    ".", ".", ".", "?", "!", ",", ";", ":", "-", "--", "...", ". . .", " ", " ", " ", "  ", "\n",
    "\n\n", "\t", "\x1c", "\u00a0", "\u2028", "\"", "'", "(", ")", "[", "]", "{", "}",
    "\u2018", "\u2019", "\u201c", "\u201d", "\u00ab", "\u00bb", "*", "@", "&", "#", "`",
    "a", "b", "Z", "x", "The", "the", "He", "he", "I", "A", "J", "Dr", "dr", "Mr", "U.S", "e.g",
    "i.e", "p.m", "No", "Inc", "Jan", "St", "vs", "etc", "3", "14", "1990", "5th", "-2", ",5",
    "\u0130", "\u03a3", "\u00e9", "\u00c9", "\u2160", "\u00aa", "\u0301", "\u4f60\u597d",
    "\u3002", "\uff01", "\u0663", "\u00b2", "_", "S", "Bach", "int'l", "s", "b", "stewart",
    "However", "But", "In", "It", "They", "we", "sorry", "Sorry", "OpenAI", "As an AI",
]


def fuzz_texts(seed: int, count: int) -> list[str]:
    rnd = random.Random(f"{seed}:fuzz")
    return ["".join(rnd.choice(FUZZ_PIECES) for _ in range(rnd.randint(1, 40)))
            for _ in range(count)]


def load_texts(data: Path, seed: int, per_train: int) -> list[dict]:
    rows = []
    for path in sorted(data.glob("*/*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            texts = [json.loads(line)["text"] for line in f if line.strip()]
        split = path.parent.name
        idx = list(range(len(texts)))
        if split != "eval":
            idx = sorted(random.Random(f"{seed}:{path.name}").sample(idx, min(per_train, len(idx))))
        for i in idx:
            rows.append({"source": f"{split}/{path.name}#{i}", "text": texts[i]})
    for i, t in enumerate(HAND_WRITTEN):
        rows.append({"source": f"hand#{i}", "text": t})
    for i, t in enumerate(LIGHT_EXTRA):
        rows.append({"source": f"light#{i}", "text": t})
    for i, t in enumerate(fuzz_texts(seed, 2000)):
        rows.append({"source": f"fuzz#{i}", "text": t})
    return rows


def f32(x: float) -> float:
    return struct.unpack("f", struct.pack("f", x))[0]


def ranges(pred) -> list[list[int]]:
    out = []
    for c in range(0x110000):
        if 0xD800 <= c <= 0xDFFF or not pred(c):
            continue
        if out and out[-1][1] == c - 1:
            out[-1][1] = c
        else:
            out.append([c, c])
    return out


def unicode_vectors() -> dict:
    import regex
    re_s, rx_s = re.compile(r"\s"), regex.compile(r"\s")
    re_w, rx_w = re.compile(r"[^\W\d]"), regex.compile(r"[^\W\d]")
    re_d = re.compile(r"\d")
    ch = chr
    return {
        "unicodedata_version": unicodedata.unidata_version,
        "assigned": ranges(lambda c: unicodedata.category(ch(c)) != "Cn"),
        "isspace": ranges(lambda c: ch(c).isspace()),
        "isupper": ranges(lambda c: ch(c).isupper()),
        "islower": ranges(lambda c: ch(c).islower()),
        "re_s": ranges(lambda c: re_s.match(ch(c)) is not None),
        "regex_s": ranges(lambda c: rx_s.match(ch(c)) is not None),
        "re_word_nondigit": ranges(lambda c: re_w.match(ch(c)) is not None),
        "regex_word_nondigit": ranges(lambda c: rx_w.match(ch(c)) is not None),
        "re_d": ranges(lambda c: re_d.match(ch(c)) is not None),
        # Final_Sigma probes: "A\u03a3" + c + "a" keeps a final sigma only when c is neither
        # case-ignorable nor cased; c + "\u03a3" gives a final sigma only when c is cased.
        "sigma_after": ranges(lambda c: ("A\u03a3" + ch(c) + "a").lower()[1] == "\u03c2"),
        "sigma_before": ranges(lambda c: (ch(c) + "\u03a3").lower()[-1] == "\u03c2"),
        "lower": [[c, ch(c).lower()] for c in range(0x110000)
                  if not 0xD800 <= c <= 0xDFFF and ch(c).lower() != ch(c)],
    }


def number_vectors(util, no_refusal, seed: int) -> dict:
    rnd = random.Random(seed)
    thresholds = [0.5, 0.75, 0.9, 0.3, 0.99]
    risk = []
    for t in thresholds:
        for i in range(101):
            s = round(i * 0.01, 2)
            risk.append([s, t, repr(util.calculate_risk_score(s, t))])
    for s, t in [(0.2, 0.5), (0.4, 0.5), (0.6, 0.5), (0.8, 0.5), (0.95, 0.9), (1.0, 0.75),
                 (0.0, 0.75), (0.76, 0.75), (0.73, 0.75), (0.12345, 0.6789)]:
        risk.append([s, t, repr(util.calculate_risk_score(s, t))])
    for _ in range(2000):
        s, t = rnd.random(), rnd.uniform(0.01, 0.99)
        risk.append([s, t, repr(util.calculate_risk_score(s, t))])

    rounds = []
    specials = [0.125, 0.375, 2.675, 0.285, 1.005, 0.045, -0.045, -0.04, -0.0, 0.5, 1.5, 2.5,
                0.15, 0.25, 0.35, 0.995, 0.994999, 1e-300, 123456.789, -2.5]
    for x in specials:
        for d in (1, 2):
            rounds.append([x, d, repr(round(x, d))])
    for _ in range(20000):
        p = f32(rnd.random())
        x = rnd.choice([p, 1 - p, rnd.uniform(-2, 2), rnd.randint(0, 1000) / 1000 + 0.0005,
                        rnd.randint(-100, 100) / 200])
        d = rnd.choice([1, 2])
        rounds.append([x, d, repr(round(x, d))])

    reprs = []
    floats = [0.0, -0.0, 1.0, -1.0, 0.2, 0.1 + 0.2, 1e-5, 1e-4, 1e16, 1e15, 1.5e-7, 1.2345e20,
              123456789012345678.0, 0.30000000000000004, 5e-324, 1.7976931348623157e308,
              float("inf"), float("-inf"), float("nan"), 100.0, 1e22, 9999999999999998.0]
    for _ in range(5000):
        floats.append(rnd.choice([rnd.random(), f32(rnd.random()), rnd.uniform(-1e6, 1e6),
                                  10 ** rnd.uniform(-30, 30), -(10 ** rnd.uniform(-8, 20))]))
    for x in floats:
        reprs.append([x if x == x and abs(x) != float("inf") else repr(x), repr(x)])

    # NoRefusal.scan itself, with the pipeline replaced by canned results.
    decisions = []
    labels = ["REJECTION", "NORMAL"]
    for i in range(3000):
        n = rnd.choice([1, 1, 2, 3, 5])
        res = []
        for _ in range(n):
            p = f32(rnd.choice([rnd.uniform(0.5, 1.0), rnd.uniform(0.99, 1.0), 0.5,
                                rnd.randint(50, 100) / 100 + rnd.choice([0, 0.005, -0.005])]))
            res.append({"label": rnd.choice(labels), "score": max(0.5, min(1.0, p))})
        t = rnd.choice([0.75, 0.75, 0.9, 0.5, rnd.uniform(0.05, 0.95)])
        scanner = object.__new__(no_refusal.NoRefusal)
        scanner._threshold = t
        scanner._match_type = no_refusal.MatchType.FULL
        scanner._pipeline = lambda inputs, r=res: r
        _, valid, risk_score = scanner.scan("", "some output")
        decisions.append({"segments": res, "threshold": t, "is_valid": valid,
                          "risk_score": repr(risk_score)})
    return {"risk": risk, "round": rounds, "repr": reprs, "decisions": decisions}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--nltk39-python", required=False)
    ap.add_argument("--out", default=str(ROOT / "tests" / "data" / "scan"))
    ap.add_argument("--seed", type=int, default=20250519)
    ap.add_argument("--per-train", type=int, default=300)
    ap.add_argument("--shared-data", type=Path, required=True,
                    help="the shared data folder (eval/, train/), e.g. ../shared/data")
    args = ap.parse_args()
    if args.worker:
        worker_sentences()
        return

    setup_nltk()
    util, no_refusal = import_llm_guard()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = load_texts(args.shared_data, args.seed, args.per_train)
    texts = [r["text"] for r in rows]
    variants = {md.version("nltk"): [util.split_text_by_sentences(t) for t in texts]}
    if args.nltk39_python:
        with tempfile.NamedTemporaryFile(suffix=".json") as tmp:
            subprocess.run([args.nltk39_python, __file__, "--worker", tmp.name],
                           input=json.dumps(texts), capture_output=True, text=True, check=True)
            res = json.loads(Path(tmp.name).read_text(encoding="utf-8"))
        variants[res["nltk"]] = res["sentences"]
    light = no_refusal.NoRefusalLight()
    with gzip.open(out / "texts.jsonl.gz", "wt", encoding="utf-8", compresslevel=9) as f:
        for i, r in enumerate(rows):
            _, valid, risk_score = light.scan("", r["text"])
            lowered = [s.lower() for s in light._scanner._substrings]
            matched = [s for s in lowered if s in r["text"].lower()]
            rec = {"source": r["source"], "text": r["text"],
                   "sentences": {v: s[i] for v, s in variants.items()},
                   "light": {"is_valid": valid, "risk_score": repr(risk_score),
                             "matched": matched}}
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    with gzip.open(out / "numbers.json.gz", "wt", encoding="utf-8", compresslevel=9) as f:
        json.dump(number_vectors(util, no_refusal, args.seed), f)
    with gzip.open(out / "unicode.json.gz", "wt", encoding="utf-8", compresslevel=9) as f:
        json.dump(unicode_vectors(), f, ensure_ascii=False)
    meta = {
        "made_by": "scripts/vectors/make_scan_vectors.py",
        "date": datetime.date.today().isoformat(),
        "python": sys.version.split()[0],
        "packages": {p: md.version(p) for p in ("llm-guard", "nltk", "regex")},
        "nltk_variants": sorted(variants),
        "punkt_tab": "data/punkt_tab/english (nltk_data punkt_tab, MIT)",
        "seed": args.seed, "per_train": args.per_train, "texts": len(rows),
        "files": {
            "texts.jsonl.gz": "per text: llm_guard.util.split_text_by_sentences under each nltk"
                              " version, NoRefusalLight().scan result and matched phrases",
            "numbers.json.gz": "calculate_risk_score grid and random pairs, round(), repr(), "
                               "NoRefusal.scan over canned pipeline results",
            "unicode.json.gz": "Python str predicates, re/regex classes, str.lower per code point",
        },
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps(meta, indent=2))


if __name__ == "__main__":
    main()
