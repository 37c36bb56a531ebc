#!/usr/bin/env python3
"""Validate the hand-written refusal challenge set and print its per-family counts.

Usage: scripts/check_challenge_set.py [FILE]   (default: data/eval/refusal-challenge.jsonl)

Checks every row (UTF-8 JSON object with exactly the fields id, family, label, lang, prompt,
text, note; label 0 or 1; a known family; an id "<family prefix>-NNN", unique; no duplicate
texts) and the set as a whole (at least MIN_TOTAL rows, MIN_PER_FAMILY per family and
MIN_PER_LABEL of each label in every family). Prints counts and length statistics per family,
then every problem as FILE:LINE: message. Exit status: 0 valid, 1 problems found, 2 unreadable.
Standard library only. See data/eval/README.md for what the set is.
"""

import argparse
import json
import re
import statistics
import sys
from collections import Counter
from pathlib import Path

# Family name -> id prefix. The order is the order of the report.
FAMILIES = {
    "late_refusal": "late",
    "no_apology": "noapol",
    "partial": "partial",
    "structured": "struct",
    "clarify_or_limit": "clarify",
    "soft_redirect": "soft",
    "non_english": "nonen",
    "reverse_error": "reverse",
}
FIELDS = ("id", "family", "label", "lang", "prompt", "text", "note")
MIN_TOTAL = 320
MIN_PER_FAMILY = 30
MIN_PER_LABEL = 12
# Length thresholds reported, in characters: ~128 and ~300+ tokens at ~4 characters a token.
LONG_CHARS = (600, 1500)
LANG_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")

DEFAULT_FILE = Path(__file__).resolve().parent.parent / "data" / "eval" / "refusal-challenge.jsonl"


def check_row(row, line_no, problems):
    """Append this row's problems to `problems`; return (family, label, text) or None."""

    def bad(message):
        problems.append((line_no, message))

    if not isinstance(row, dict):
        bad(f"expected a JSON object, got {type(row).__name__}")
        return None
    missing = [f for f in FIELDS if f not in row]
    unknown = sorted(set(row) - set(FIELDS))
    if missing:
        bad(f"missing field(s): {', '.join(missing)}")
    if unknown:
        bad(f"unknown field(s): {', '.join(unknown)}")
    if missing:
        return None

    ok = True
    for field in ("id", "family", "lang", "prompt", "text", "note"):
        value = row[field]
        if not isinstance(value, str) or not value.strip():
            bad(f"field '{field}' must be a non-empty string, got {value!r:.60}")
            ok = False
    label = row["label"]
    # bool is a subclass of int in Python; true/false are not valid labels here.
    if isinstance(label, bool) or label not in (0, 1) or not isinstance(label, int):
        bad(f"field 'label' must be the integer 0 or 1, got {label!r}")
        ok = False
    if not ok:
        return None

    family = row["family"]
    if family not in FAMILIES:
        bad(f"unknown family {family!r} (known: {', '.join(FAMILIES)})")
        return None
    prefix = FAMILIES[family]
    if not re.fullmatch(rf"{prefix}-\d{{3}}", row["id"]):
        bad(f"id {row['id']!r} does not match '{prefix}-NNN' for family {family}")
    if not LANG_RE.match(row["lang"]):
        bad(f"lang {row['lang']!r} is not a lower-case language code such as 'en' or 'pt-br'")
    if family == "non_english" and row["lang"].split("-")[0] == "en":
        bad("family non_english with lang 'en'")
    if "\n" in row["note"]:
        bad("note must be one line")
    if row["text"] != row["text"].strip():
        bad("text has leading or trailing whitespace")
    return family, label, row["text"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=DEFAULT_FILE,
                        help="the challenge set (default: %(default)s)")
    args = parser.parse_args()

    try:
        raw_lines = args.file.read_bytes().splitlines()
    except OSError as err:
        print(f"{args.file}: cannot read: {err.strerror}", file=sys.stderr)
        return 2

    problems = []  # (line number or None, message)
    counts = Counter()  # (family, label) -> rows
    lengths = {family: [] for family in FAMILIES}
    langs = Counter()
    first_line_of_id = {}
    first_line_of_text = {}

    for line_no, raw in enumerate(raw_lines, 1):
        if not raw.strip():
            problems.append((line_no, "empty line"))
            continue
        try:
            row = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as err:
            problems.append((line_no, f"invalid UTF-8 at byte {err.start}"))
            continue
        except json.JSONDecodeError as err:
            problems.append((line_no, f"invalid JSON: {err.msg} (column {err.colno})"))
            continue
        # Ids must be unique across every row, including rows with other problems.
        row_id = row.get("id") if isinstance(row, dict) else None
        if isinstance(row_id, str) and row_id in first_line_of_id:
            problems.append((line_no, f"duplicate id {row_id!r} (first on line "
                                      f"{first_line_of_id[row_id]})"))
        elif isinstance(row_id, str):
            first_line_of_id[row_id] = line_no
        checked = check_row(row, line_no, problems)
        if checked is None:
            continue
        family, label, text = checked

        normalized = " ".join(text.split()).lower()
        if normalized in first_line_of_text:
            problems.append((line_no, f"duplicate text (same as line "
                                      f"{first_line_of_text[normalized]})"))
        else:
            first_line_of_text[normalized] = line_no

        counts[family, label] += 1
        lengths[family].append(len(text))
        langs[row["lang"]] += 1

    total = sum(counts.values())
    for family in FAMILIES:
        family_total = counts[family, 0] + counts[family, 1]
        if family_total < MIN_PER_FAMILY:
            problems.append((None, f"family {family}: {family_total} row(s), "
                                   f"at least {MIN_PER_FAMILY} needed"))
        for label in (0, 1):
            if counts[family, label] < MIN_PER_LABEL:
                problems.append((None, f"family {family}: {counts[family, label]} row(s) "
                                       f"with label {label}, at least {MIN_PER_LABEL} needed"))
    if total < MIN_TOTAL:
        problems.append((None, f"{total} valid row(s) in all, at least {MIN_TOTAL} needed"))

    print_report(args.file, counts, lengths, langs)

    for line_no, message in problems:
        where = f"{args.file}:{line_no}" if line_no is not None else f"{args.file}"
        print(f"{where}: {message}", file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) found", file=sys.stderr)
        return 1
    print(f"OK: {total} rows, {len(FAMILIES)} families, both labels in each")
    return 0


def print_report(path, counts, lengths, langs):
    header = (f"{'family':<18}{'label 0':>8}{'label 1':>8}{'total':>7}"
              f"{'chars min':>11}{'median':>8}{'max':>7}"
              + "".join(f"{'>' + format(n, ','):>8}" for n in LONG_CHARS))
    print(f"{path}")
    print(header)
    print("-" * len(header))
    all_lengths = []
    for family in FAMILIES:
        all_lengths += lengths[family]
        print(format_line(family, counts[family, 0], counts[family, 1], lengths[family]))
    print("-" * len(header))
    print(format_line("all", sum(counts[f, 0] for f in FAMILIES),
                      sum(counts[f, 1] for f in FAMILIES), all_lengths))
    print("languages: " + ", ".join(f"{lang} {n}" for lang, n in langs.most_common()))
    print("(chars: length of `text`; '>N': share of texts longer than N characters)")


def format_line(name, zeros, ones, lengths):
    if lengths:
        stats = (f"{min(lengths):>11}{int(statistics.median(lengths)):>8}{max(lengths):>7}"
                 + "".join(f"{sum(n > t for n in lengths) / len(lengths):>8.0%}"
                           for t in LONG_CHARS))
    else:
        stats = f"{'-':>11}{'-':>8}{'-':>7}" + "".join(f"{'-':>8}" for _ in LONG_CHARS)
    return f"{name:<18}{zeros:>8}{ones:>8}{zeros + ones:>7}{stats}"


if __name__ == "__main__":
    sys.exit(main())
