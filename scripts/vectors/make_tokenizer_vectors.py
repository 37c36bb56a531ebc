#!/usr/bin/env python3
"""Reference data for the C++ tokenizer, made with PyPI `tokenizers` (the HF Rust core).

Writes, under tests/data/tokenizer/:
  hf_char_classes.txt      how the ByteLevel pre-tokenizer classes every code point
                           (L letter, N number, S \\s, O other, X surrogate), probed from HF itself
  features.jsonl.gz        hand-made cases with options (truncation, windows/stride, no specials,
                           pairs, lstrip/rstrip/single_word added tokens, invalid UTF-8, decode)
  tiny.tokenizer.json      a small BPE tokenizer with extra added tokens, used by features.jsonl
  corpus_slice.jsonl.gz    3,300 texts of the shared data (--shared DIR: every source file, the
                           longest, non-ASCII ones, every code point, token-count boundaries
                           and the most token ids: see corpus_slice) with hashes of HF's
                           ids/offsets (full, and truncated at 128/512), ids for every 10th
  corpus_random.jsonl.gz   6,000 random texts (all Unicode categories, whitespace runs, emoji,
                           combining marks, controls, 10,000-char words) with full ids + hashes

Each data file says how it was made (a header record or a .meta.json sidecar).
Hashes are FNV-1a 64 over the values as little-endian uint32 (see tests/tokenizer/vectors.h).

Usage: bash scripts/venv.sh tok
       .venv-tok/bin/python scripts/vectors/make_tokenizer_vectors.py [--shared DIR]
       [all|unicode|features|corpus|random]
Only `corpus` (and so `all`) reads the shared data folder, given as --shared (e.g. ../shared); the
reference tokenizer is the repository's tests/data/tokenizer/protectai-distilroberta-base-rejection-v1.
Needs: tokenizers (0.23.x), unicodedata2==16.0.0 (scripts/requirements/tok.txt). The C++ side's
table of the code points newer than utf8proc's Unicode, src/tokenizer/unicode_supplement.inc, is
generated source: scripts/codegen/unicode_supplement.py.
"""
import argparse
import datetime
import glob
import gzip
import heapq
import json
import os
import random
import struct
import sys

import tokenizers
import unicodedata2
from tokenizers import AddedToken, Tokenizer, pre_tokenizers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "data", "tokenizer")
SEED = 20240603


def meta(extra):
    m = {
        "script": "scripts/vectors/make_tokenizer_vectors.py",
        "library": f"tokenizers {tokenizers.__version__} (PyPI, Rust core)",
        "python": sys.version.split()[0],
        "date": datetime.date.today().isoformat(),
    }
    m.update(extra)
    return m


def fnv(values):
    h = 0xCBF29CE484222325
    for v in values:
        for b in struct.pack("<I", v & 0xFFFFFFFF):
            h ^= b
            h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def fnv_offsets(offsets):
    return fnv([x for pair in offsets for x in pair])


REFERENCE = os.path.join(OUT, "protectai-distilroberta-base-rejection-v1", "tokenizer.json")
MINILM = os.path.join(OUT, "all-minilm-l6-v2", "tokenizer.json")


def load_reference():
    return Tokenizer.from_file(REFERENCE)


# ---------------------------------------------------------------- Unicode classes
def hf_char_classes():
    f = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True).pre_tokenize_str

    def cls(c):
        if len(f("a" + c)) == 1:
            return "L"
        if len(f("1" + c)) == 1:
            return "N"
        if len(f("!" + c)) == 1:
            return "O"
        if len(f(c + c)) == 1:
            return "S"
        raise RuntimeError(f"unclassified U+{ord(c):04X}")

    ranges = []
    for cp in range(0x110000):
        k = "X" if 0xD800 <= cp <= 0xDFFF else cls(chr(cp))
        if ranges and ranges[-1][2] == k:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp, k])
    return ranges


def write_unicode():
    ranges = hf_char_classes()
    with open(os.path.join(OUT, "hf_char_classes.txt"), "w") as fo:
        fo.write("# " + json.dumps(meta({"what": "ByteLevel pre-tokenizer class of every code "
                                        "point, probed with pre_tokenize_str: first last class"}))
                 + "\n")
        for a, b, k in ranges:
            fo.write(f"{a:X} {b:X} {k}\n")
    print(f"hf_char_classes.txt: {len(ranges)} ranges")


# ---------------------------------------------------------------- features
def tiny_tokenizer(ref):
    """A small byte-level BPE with extra added tokens (single_word, rstrip, non-special)."""
    data = json.loads(ref.to_str())
    vocab = data["model"]["vocab"]
    keep = {k: v for k, v in vocab.items() if v < 2000}
    merges = []
    for m in data["model"]["merges"]:
        a, b = m if isinstance(m, list) else m.split(" ")
        if a in keep and b in keep and a + b in keep:
            merges.append(f"{a} {b}")
    # Every byte-level character must stay in the vocabulary.
    for k, v in vocab.items():
        if len(k) == 1:
            keep[k] = v
    for t in data["added_tokens"]:
        keep[t["content"]] = t["id"]
    ids = sorted(set(keep.values()))
    remap = {old: new for new, old in enumerate(ids)}
    data["model"]["vocab"] = {k: remap[v] for k, v in keep.items()}
    data["model"]["merges"] = merges
    for t in data["added_tokens"]:
        t["id"] = remap[t["id"]]
    data["post_processor"]["sep"][1] = remap[2]
    data["post_processor"]["cls"][1] = remap[0]
    tok = Tokenizer.from_str(json.dumps(data))
    tok.add_special_tokens([AddedToken("[R]", rstrip=True, lstrip=False, normalized=False)])
    tok.add_special_tokens([AddedToken("[B]", lstrip=True, rstrip=True, normalized=False)])
    tok.add_tokens([AddedToken("word", single_word=True, normalized=True)])
    tok.add_tokens([AddedToken("xyz", normalized=False)])
    return tok


def feature_texts():
    return [
        "Hello world", "", " ", "é ", "é  ", "éé\u00a0<mask>", "x\u3000<mask>", "\u3000\u3000<mask>",
        "\u00a0 <mask>", "\t\n<mask> x", "a<s>b", "ab <mask>  <mask>", "é\u00a0\u00a0",
        "<mask><mask>", " <mask>", "<s><s></s>", "x <pad>\n<unk> y", "<mask", "mask>",
        "one two three four five six seven eight nine ten eleven twelve thirteen fourteen",
        "I'm sorry, but I can't help with that. 😊 Let's talk about something else!",
        "日本語のテキストとEnglish mixed — with “quotes” and ‘apostrophes’",
        "  leading and trailing  ", "\n\n\n", "tab\there", "x" * 300, "😀" * 50,
        "word words sword word_ word1 (word) wordé éword", "[R]   x [B]  y  [B]z", "xyzxyz xyz",
        "a \u0301b\u0301\u0301 c", "A\u200dB\u200cC", "\x00\x01 \x7f\x80\x9f",
    ]


def bad_utf8_cases():
    return [
        b"ok \xff bad", b"\xe2\x82", b"\xe2\x82 x", b"\xed\xa0\x80", b"\xf0\x80\x80\x80",
        b"\xc0\xaf", b"\xf4\x90\x80\x80", b"caf\xc3", b"\xc3\xa9\xc3", b"\xf0\x9f\x98",
        b"\xf0\x9f\x98\x8a\xf0\x9f", b"\x80\x81\x82", b"a\xe0\x80b", b"\xef\xbf\xbf\xef\xbf",
        b"\xf1\x80\x80", b"\xf5\x80", b"x\xdf", b"\xe1\x80\xe1\x80\x80",
    ]


def enc_record(e):
    return {"ids": e.ids, "tokens": e.tokens, "offsets": [list(o) for o in e.offsets],
            "sequence_ids": [(-1 if s is None else s) for s in e.sequence_ids]}


def encode_case(tok, name, text, max_length=None, stride=0, add_special=True, pair=None,
                raw=None, tokenizer="reference"):
    if max_length is None:
        tok.no_truncation()
    else:
        tok.enable_truncation(max_length, stride=stride)
    e = tok.encode(text, pair, add_special_tokens=add_special)
    tok.no_truncation()
    rec = {"name": name, "tokenizer": tokenizer, "text": text, "add_special_tokens": add_special,
           "max_length": max_length, "stride": stride}
    if pair is not None:
        rec["pair"] = pair
    if raw is not None:
        rec["raw_hex"] = raw.hex()
    rec["windows"] = [enc_record(e)] + [enc_record(o) for o in e.overflowing]
    if pair is not None:
        # HF crosses the two texts' overflows; only the first window is the supported contract.
        rec["n_windows"] = len(rec["windows"])
        rec["windows"] = rec["windows"][:1]
    rec["decoded"] = tok.decode(e.ids)
    rec["decoded_with_special"] = tok.decode(e.ids, skip_special_tokens=False)
    return rec


def write_features():
    ref = load_reference()
    tiny = tiny_tokenizer(ref)
    tiny.save(os.path.join(OUT, "tiny.tokenizer.json"))
    recs = []
    for i, t in enumerate(feature_texts()):
        recs.append(encode_case(ref, f"text{i}", t))
        recs.append(encode_case(ref, f"text{i}_nospecial", t, add_special=False))
        recs.append(encode_case(tiny, f"tiny{i}", t, tokenizer="tiny"))
    long_text = " ".join(f"w{i} word{i % 7}" for i in range(150))
    for ml, st in [(8, 0), (8, 2), (8, 5), (16, 3), (128, 0), (128, 32), (512, 64), (3, 0),
                   (2, 0)]:
        recs.append(encode_case(ref, f"windows_{ml}_{st}", long_text, max_length=ml, stride=st))
    for ml, st in [(7, 2), (128, 0), (1, 0)]:
        recs.append(encode_case(ref, f"windows_nospecial_{ml}_{st}", long_text, max_length=ml,
                                stride=st, add_special=False))
    recs.append(encode_case(tiny, "tiny_windows", long_text, max_length=20, stride=4,
                            tokenizer="tiny"))
    pairs = [("Is this a refusal?", "Sorry, I can't help."), ("", "b"), ("a", ""),
             ("short", long_text), (long_text, "short"), (long_text, long_text[:900]),
             (long_text[:301], long_text[:299])]
    for i, (a, b) in enumerate(pairs):
        recs.append(encode_case(ref, f"pair{i}", a, pair=b))
        recs.append(encode_case(ref, f"pair{i}_trunc64", a, pair=b, max_length=64))
        recs.append(encode_case(ref, f"pair{i}_trunc63_stride3", a, pair=b, max_length=63,
                                stride=3))
    for i, raw in enumerate(bad_utf8_cases()):
        recs.append(encode_case(ref, f"bad_utf8_{i}", raw.decode("utf-8", errors="replace"),
                                raw=raw))
    with gzip.open(os.path.join(OUT, "features.jsonl.gz"), "wt", encoding="utf-8") as fo:
        fo.write(json.dumps({"meta": meta({"what": "hand-made cases; windows[0] is the "
                                           "encoding, the rest its overflowing; offsets are "
                                           "code points; pair truncation is longest_first"})})
                 + "\n")
        for r in recs:
            fo.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"features.jsonl.gz: {len(recs)} cases")


# ---------------------------------------------------------------- corpus
def shared_texts(shared):
    out = []
    for fn in sorted(glob.glob(os.path.join(shared, "data", "*", "*.jsonl.gz"))):
        rel = os.path.relpath(fn, os.path.join(shared, "data"))
        with gzip.open(fn, "rt", encoding="utf-8") as f:
            for i, line in enumerate(f):
                out.append((rel, i, json.loads(line)["text"]))
    return out


def category_pools():
    pools = {}
    for cp in range(0x110000):
        c = unicodedata2.category(chr(cp))
        if c in ("Cs",):
            continue
        pools.setdefault(c, []).append(cp)
    return pools


WHITESPACE = [" ", "\t", "\n", "\r", "\x0b", "\x0c", "\x85", "\u00a0", "\u1680", "\u2000",
              "\u2002", "\u2003", "\u2009", "\u200a", "\u2028", "\u2029", "\u202f", "\u205f",
              "\u3000", "\u180e", "\u200b", "\ufeff", "\x1c", "\x1d", "\x1e", "\x1f"]
EMOJI = ["😀", "😊", "👍", "👍🏽", "👨\u200d👩\u200d👧\u200d👦", "🏳️\u200d🌈", "🇺🇸", "🇯🇵🇫🇷",
         "1️⃣", "#️⃣", "❤️", "☺︎", "🧑🏿\u200d💻", "👩‍❤️‍💋‍👨", "🫠", "🪿", "\U0001faea"]
SPECIALS = ["<s>", "</s>", "<pad>", "<unk>", "<mask>", " <mask>", "\n<mask>", "<|endoftext|>"]
WORDS = ["the", "The", "I'm", "can't", "won't", "they're", "we've", "you'll", "he'd", "it's",
         "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "IT'S", "sorry", "AI", "model", "42",
         "3.14", "1,000", "e-mail", "https://x.y/z?q=1", "naïve", "café", "Straße", "日本",
         "русский", "עברית", "العربية", "हिन्दी", "ไทย", "한국어", "#", "##", "$$", "...",
         "—", "“", "”", "’", "_", "__init__"]


def random_text(rng, pools, cats):
    parts = []
    for _ in range(rng.randint(1, 40)):
        r = rng.random()
        if r < 0.25:
            cat = rng.choice(cats)
            parts.append("".join(chr(rng.choice(pools[cat])) for _ in range(rng.randint(1, 6))))
        elif r < 0.40:
            parts.append("".join(rng.choice(WHITESPACE) for _ in range(rng.randint(1, 12))))
        elif r < 0.50:
            parts.append("".join(rng.choice(EMOJI) for _ in range(rng.randint(1, 4))))
        elif r < 0.58:
            base = rng.choice("aeiouxAEn0")
            parts.append(base + "".join(chr(rng.choice(pools["Mn"])) for _ in range(
                rng.randint(1, 5))))
        elif r < 0.64:
            parts.append("".join(chr(rng.choice(list(range(0, 32)) + list(range(127, 160))))
                                 for _ in range(rng.randint(1, 4))))
        elif r < 0.68:
            parts.append(rng.choice(SPECIALS))
        else:
            w = rng.choice(WORDS)
            parts.append(w if rng.random() < 0.5 else " " + w)
    return "".join(parts)


def long_word(rng, pools, i):
    n = 10000
    kind = i % 6
    if kind == 0:
        return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(n))
    if kind == 1:
        return "ab" * (n // 2)
    if kind == 2:
        return "".join(rng.choice("0123456789") for _ in range(n))
    if kind == 3:
        return "".join(chr(rng.choice(pools["Lo"])) for _ in range(n))
    if kind == 4:
        return " " + "".join(rng.choice("!?.-*#$%") for _ in range(n))
    return "x" + "".join(chr(rng.choice(pools["Ll"] + pools["Lu"])) for _ in range(n - 1))


def corpus_records(tok, texts, keep_ids):
    tok.no_truncation()
    full = tok.encode_batch(texts)
    bare = tok.encode_batch(texts, add_special_tokens=False)
    tok.enable_truncation(128)
    t128 = tok.encode_batch(texts)
    t128ns = tok.encode_batch(texts, add_special_tokens=False)
    tok.enable_truncation(512)
    t512 = tok.encode_batch(texts)
    tok.no_truncation()
    recs = []
    sep = [0xFFFFFFFF]
    for i in range(len(texts)):
        more = ([x for o in full[i].offsets for x in o] + sep + bare[i].ids + sep + t128[i].ids +
                sep + t128ns[i].ids + sep + t512[i].ids)
        r = {"n": len(full[i].ids), "h_ids": fnv(full[i].ids), "h_more": fnv(more)}
        if keep_ids(i):
            r["ids"] = bare[i].ids
        recs.append(r)
    return recs


def corpus_slice(shared):
    """The texts of the shared data the corpus tests check, as (src, line, text, why), in
    sorted file order then line order. The whole data (51,540 texts) would have to be read at
    test time or copied; this keeps what finds bugs: every source file, their longest texts,
    non-ASCII ones, every code point that occurs anywhere, texts whose token count sits at a
    truncation boundary, and the texts that add the most token ids (of either tokenizer) not
    yet seen, per character."""
    rows = shared_texts(shared)
    texts = [t for _, _, t in rows]
    rng = random.Random(SEED)
    why = {}

    def pick(i, reason):
        why.setdefault(i, [])
        if reason not in why[i]:
            why[i].append(reason)

    by_file = {}
    for i, (src, _, _) in enumerate(rows):
        by_file.setdefault(src, []).append(i)
    for src in sorted(by_file):
        idx = by_file[src]
        for i in rng.sample(idx, min(150, len(idx))):
            pick(i, "random")
        for i in sorted(idx, key=lambda i: (-len(texts[i]), i))[:5]:
            pick(i, "longest")
    non_ascii = [i for i, t in enumerate(texts) if not t.isascii()]
    for i in rng.sample(non_ascii, min(300, len(non_ascii))):
        pick(i, "non-ascii")

    def greedy(features, reason, limit=None):
        """Cost-effective set cover: the text with the most unseen features per character
        (ties: the earlier text) until every feature is seen or `limit` texts were added."""
        seen = set().union(*(features[i] for i in why))
        score = lambda i, gain: gain / (len(texts[i]) + 50)  # noqa: E731
        heap = [(-score(i, len(f - seen)), i) for i, f in enumerate(features)
                if i not in why and f - seen]
        heapq.heapify(heap)
        added = 0
        while heap and (limit is None or added < limit):
            _, i = heapq.heappop(heap)
            gain = len(features[i] - seen)
            if gain == 0:
                continue
            if heap and score(i, gain) < -heap[0][0]:
                heapq.heappush(heap, (-score(i, gain), i))  # stale: try again later
                continue
            pick(i, reason)
            seen |= features[i]
            added += 1

    greedy([set(map(ord, t)) for t in texts], "code points")
    bpe, minilm = load_reference(), Tokenizer.from_file(MINILM)
    for tok in (bpe, minilm):
        tok.no_truncation()
        tok.no_padding()
    bpe_ids = [e.ids for e in bpe.encode_batch(texts)]
    minilm_ids = [e.ids for e in minilm.encode_batch(texts)]
    for name, ids in (("roberta", bpe_ids), ("minilm", minilm_ids)):
        # Token counts (specials included) around the truncations at 128 and 512.
        for n in (*range(126, 131), *range(510, 515)):
            for i in [i for i, x in enumerate(ids) if len(x) == n][:2]:
                pick(i, f"{name} {n} tokens")
    greedy([set(b) | {-1 - x for x in m} for b, m in zip(bpe_ids, minilm_ids)], "token ids",
           limit=1500)
    return [(*rows[i], why[i]) for i in sorted(why)]


def write_corpus(shared):
    tok = load_reference()
    picked = corpus_slice(shared)
    texts = [t for _, _, t, _ in picked]
    recs = corpus_records(tok, texts, lambda i: i % 10 == 0)
    with gzip.open(os.path.join(OUT, "corpus_slice.jsonl.gz"), "wt", encoding="utf-8") as fo:
        fo.write(json.dumps({"meta": meta({
            "what": "a slice of the shared data (*/*.jsonl.gz, 51,540 texts) with its texts, in "
                    "sorted file then line order: per file 150 seeded random texts and the 5 "
                    "longest; 300 random non-ASCII texts; a greedy cover of every code point; "
                    "per tokenizer (this one and all-MiniLM-L6-v2) the first 2 texts of each "
                    "token count 126-130 and 510-514; 1,500 texts adding the most unseen "
                    "token ids per character (scripts/vectors/make_tokenizer_vectors.py corpus_slice)",
            "fields": "src, line: the text's file under the shared data/ and 0-based line; "
                      "why: the reasons it was picked; n = len(ids) with specials, no "
                      "truncation; h_ids = fnv(those ids); h_more = fnv(their char offsets "
                      "flattened, -1, ids without specials, -1, ids truncated at 128, -1, the "
                      "same without specials, -1, ids truncated at 512); ids (every 10th text) "
                      "= ids without specials, no truncation"})}) + "\n")
        for (src, line, text, why), r in zip(picked, recs):
            fo.write(json.dumps({"src": src, "line": line, "why": why, "text": text, **r},
                                ensure_ascii=False) + "\n")
    print(f"corpus_slice: {len(recs)} texts")


def write_random():
    tok = load_reference()
    rng = random.Random(SEED)
    pools = category_pools()
    cats = sorted(pools)
    rtexts = [random_text(rng, pools, cats) for _ in range(5980)]
    rtexts += [long_word(rng, pools, i) + (" tail" if i % 2 else "") for i in range(20)]
    recs = corpus_records(tok, rtexts, lambda i: True)
    with gzip.open(os.path.join(OUT, "corpus_random.jsonl.gz"), "wt", encoding="utf-8") as fo:
        fo.write(json.dumps({"meta": meta({
            "what": f"random texts, seed {SEED}: every Unicode {unicodedata2.unidata_version} "
                    "general category, whitespace runs, emoji sequences, combining marks, "
                    "controls, special-token strings, contractions; the last 20 hold "
                    "10,000-character words",
            "fields": "same as corpus_slice, ids for every text"})}) + "\n")
        for t, r in zip(rtexts, recs):
            fo.write(json.dumps({"text": t, **r}, ensure_ascii=False) + "\n")
    print(f"corpus_random: {len(recs)} texts")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", nargs="?", default="all",
                    choices=["all", "unicode", "features", "corpus", "random"])
    ap.add_argument("--shared", help="the shared data folder (holding data/*/*.jsonl.gz); "
                    "needed by corpus and all")
    args = ap.parse_args()
    if args.what in ("all", "corpus") and not args.shared:
        ap.error(f"{args.what} reads the shared data: give --shared DIR (e.g. ../shared)")
    os.makedirs(OUT, exist_ok=True)
    if args.what in ("all", "unicode"):
        write_unicode()
    if args.what in ("all", "features"):
        write_features()
    if args.what in ("all", "corpus"):
        write_corpus(args.shared)
    if args.what in ("all", "random"):
        write_random()


if __name__ == "__main__":
    main()
