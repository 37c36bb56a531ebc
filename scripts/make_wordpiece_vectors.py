#!/usr/bin/env python3
"""Reference data for the C++ BERT WordPiece tokenizer, made with PyPI `tokenizers` (HF Rust core).

Writes, under tests/data/tokenizer/:
  hf_bert_chars.txt.gz           how HF's BertNormalizer and BertPreTokenizer treat every code
                                 point (probed from tokenizers itself; ranges of alike code points)
  ../../../src/tokenizer/bert_supplement.inc
                                 the code points where utf8proc 2.8 (Unicode 15.0, what the C++
                                 code uses) disagrees with HF's BertNormalizer/BertPreTokenizer:
                                 HF classes punctuation, controls and nonspacing marks with old
                                 Unicode tables (unicode_categories), NFD with its own tables, and
                                 lowercases with Rust's char::to_lowercase (Unicode 16)
  wordpiece_features.jsonl.gz    hand-made cases for all-MiniLM-L6-v2 (accents, CJK, emoji,
                                 controls, Turkish I, long words, specials in text, invalid UTF-8,
                                 pairs, truncation, windows with stride, decode) and for other
                                 BertNormalizer settings
  wordpiece_corpus_slice.jsonl.gz    the texts of corpus_slice.jsonl.gz (a slice of the shared
                                     data, chosen by scripts/make_tokenizer_vectors.py): hashes
                                     (and ids for every 10th); the texts stay in that file
  wordpiece_corpus_random.jsonl.gz   6,000 random texts with ids and hashes

Usage: python scripts/make_wordpiece_vectors.py [all|unicode|features|corpus|random]
       (a venv with tokenizers==0.23.3 unicodedata2==16.0.0, plus transformers for features;
       reads only files of the repository)
Needs: tokenizers (0.23.x), transformers (5.x, for the vocab.txt-only reference),
unicodedata2==16.0.0. Shares helpers with scripts/make_tokenizer_vectors.py.
"""
import argparse
import gzip
import json
import os
import random
import sys

import tokenizers
from tokenizers import Tokenizer, normalizers, pre_tokenizers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_tokenizer_vectors as common  # noqa: E402

ROOT = common.ROOT
OUT = common.OUT
MINILM = os.path.join(OUT, "all-minilm-l6-v2")


def meta(extra):
    m = common.meta(extra)
    m["script"] = "scripts/make_wordpiece_vectors.py"
    try:
        import transformers
        m["transformers"] = transformers.__version__
    except ImportError:
        pass
    m["tokenizer"] = "tests/data/tokenizer/all-minilm-l6-v2/tokenizer.json (all-MiniLM-L6-v2)"
    return m


def load_minilm():
    t = Tokenizer.from_file(os.path.join(MINILM, "tokenizer.json"))
    # transformers' pipeline does not apply the file's truncation/padding unless asked.
    t.no_truncation()
    t.no_padding()
    return t


# ---------------------------------------------------------------- per code point
def hexs(s):
    return " ".join(f"{ord(c):X}" for c in s) if s else "-"


def write_unicode():
    """One line per range of code points that HF treats alike:
    START END CLASS MAP_LS MAP_L MAP_S
    CLASS: pre-tokenizer class of the raw char (s whitespace, p punctuation, o other) then
    normalizer flags: x removed by clean_text, w made a space by clean_text, c CJK (padded),
    n none. MAP_*: the char after BertNormalizer(clean_text, no CJK) with lowercase+strip_accents
    (LS), lowercase only (L), strip_accents only (S), as hex code points, '=' if unchanged,
    '-' if empty. Surrogates are skipped."""
    ls = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False,
                                    strip_accents=True, lowercase=True)
    lo = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False,
                                    strip_accents=False, lowercase=True)
    st = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False,
                                    strip_accents=True, lowercase=False)
    cl = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                    strip_accents=False, lowercase=False)
    pt = pre_tokenizers.BertPreTokenizer()
    rows = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        pieces = pt.pre_tokenize_str("a" + c + "a")
        cls = "s" if len(pieces) == 2 else "p" if len(pieces) == 3 else "o"
        clean = cl.normalize_str(c)
        flag = ("x" if clean == "" else "w" if clean == " " and c != " " else
                "c" if clean == " " + c + " " else "n")
        if c == " ":
            flag = "n"
        maps = []
        for n in (ls, lo, st):
            r = n.normalize_str(c)
            maps.append("=" if r == c else hexs(r))
        key = (cls + flag, *maps)
        if rows and rows[-1][2] == key and rows[-1][1] == cp - 1 and all(m == "=" or m == "-"
                                                                         for m in maps):
            rows[-1][1] = cp
        elif rows and rows[-1][2] == key and rows[-1][1] == 0xD7FF and cp == 0xE000 and all(
                m == "=" or m == "-" for m in maps):
            rows[-1][1] = cp
        else:
            rows.append([cp, cp, key])
    path = os.path.join(OUT, "hf_bert_chars.txt.gz")
    with gzip.open(path, "wt", encoding="utf-8") as fo:
        fo.write(f"# {json.dumps(meta({'what': write_unicode.__doc__.strip()}))}\n")
        for a, b, (k, m1, m2, m3) in rows:
            fo.write(f"{a:X}\t{b:X}\t{k}\t{m1}\t{m2}\t{m3}\n")
    print(f"hf_bert_chars.txt.gz: {len(rows)} rows")
    hf = {}
    for a, b, key in rows:  # noqa: B007
        for cp in range(a, b + 1):
            if not 0xD800 <= cp <= 0xDFFF:
                hf[cp] = key
    write_supplement(hf)


# The C++ rule (src/tokenizer/bert_normalizer.cpp) on utf8proc, called through ctypes; where it
# disagrees with HF, the supplement gives HF's answer. The C++ test checks every code point.
BERT_WHITESPACE = {9, 10, 11, 12, 13, 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028,
                   0x2029, 0x202F, 0x205F, 0x3000}
BERT_CJK = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
            (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]


class Utf8proc:
    """The few utf8proc calls the C++ code makes, through ctypes."""

    def __init__(self):
        import ctypes
        self.ct = ctypes
        u = ctypes.CDLL("libutf8proc.so.2")
        u.utf8proc_category.restype = ctypes.c_int
        u.utf8proc_tolower.restype = ctypes.c_int32
        u.utf8proc_decompose_char.restype = ctypes.c_ssize_t
        u.utf8proc_decompose_char.argtypes = [ctypes.c_int32, ctypes.POINTER(ctypes.c_int32),
                                              ctypes.c_ssize_t, ctypes.c_int,
                                              ctypes.POINTER(ctypes.c_int)]
        u.utf8proc_version.restype = ctypes.c_char_p
        self.u = u
        self.buf = (ctypes.c_int32 * 8)()
        self.last = ctypes.c_int(0)
        self.version = u.utf8proc_version().decode()

    def category(self, cp):
        return self.u.utf8proc_category(cp)

    def nfd(self, cp):
        n = self.u.utf8proc_decompose_char(cp, self.buf, 8, 1 << 3, self.ct.byref(self.last))
        return [self.buf[i] for i in range(n)]

    def lower(self, cp):
        return self.u.utf8proc_tolower(cp)


def parse_map(m, cp):
    return [cp] if m == "=" else [] if m == "-" else [int(x, 16) for x in m.split()]


def hf_ccc_zero(up):
    """Marks with a combining class in Unicode 16 that HF's NFD (crate
    unicode-normalization-alignments, older tables) treats as class 0, so never reorders."""
    import unicodedata2
    nfd = normalizers.NFD()
    zero = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF or not unicodedata2.combining(chr(cp)):
            continue
        if up.nfd(cp) != [cp] and up.category(cp) != 0:
            continue  # decomposes: the parts' classes count
        c = chr(cp)
        if unicodedata2.combining(c) > 1:
            moved = nfd.normalize_str("a" + c + "\u0334") == "a\u0334" + c  # U+0334: class 1
        else:
            moved = nfd.normalize_str("a\u0301" + c) == "a" + c + "\u0301"  # U+0301: 230
        if not moved:
            zero.append(cp)
    return set(zero)


def write_supplement(hf):
    """src/tokenizer/bert_supplement.inc: per code point, where HF differs from utf8proc: its
    pre-tokenizer class and clean_text flag, whether it is Mn, whether its NFD leaves it alone,
    whether its combining class is 0, and its lowercase. Checked here against the probe, and by
    the C++ test on every code point."""
    up = Utf8proc()
    ov = {}

    def get(cp):
        return ov.setdefault(cp, {"mn": None, "nodecomp": False, "ccc0": False, "lower": None})

    def is_mn(cp):
        o = ov.get(cp)
        if o and o["mn"] is not None:
            return o["mn"]
        return up.category(cp) == 6

    def lower(cp):
        o = ov.get(cp)
        if o and o["lower"] is not None:
            return o["lower"]
        return [0x69, 0x307] if cp == 0x130 else [up.lower(cp)]

    def nfd(cp):
        o = ov.get(cp)
        return [cp] if o and o["nodecomp"] else up.nfd(cp)

    def maps(cp):
        out = []
        for lo, st in ((True, True), (True, False), (False, True)):
            seq = [cp]
            if st:
                seq = [d for d in nfd(cp) if not is_mn(d)]
            if lo:
                seq = [y for x in seq for y in lower(x)]
            out.append(seq)
        return out

    def rule_class(cp):
        cat = up.category(cp)
        punct = (33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126 or
                 12 <= cat <= 18)
        cls = "s" if cp in BERT_WHITESPACE else "p" if punct else "o"
        if cp == 0 or cp == 0xFFFD or (cp not in (9, 10, 13) and cat in (26, 27, 29)):
            return cls + "x"
        if cp != 0x20 and cp in BERT_WHITESPACE:
            return cls + "w"
        return cls + ("c" if any(a <= cp <= b for a, b in BERT_CJK) else "n")

    classes = {}
    for cp, (k, *_m) in hf.items():
        if rule_class(cp) != k:
            classes[cp] = k
    # Lowercase first (HF's L map), then Mn / NFD from the strip-only map.
    for cp, (k, ls, lo, st) in hf.items():
        if k[1] in "xw":
            continue
        want_l = parse_map(lo, cp)
        if [y for y in lower(cp)] != want_l:
            get(cp)["lower"] = want_l
    for _ in range(3):
        for cp, (k, ls, lo, st) in hf.items():
            if k[1] in "xw":
                continue
            want_s = parse_map(st, cp)
            if maps(cp)[2] == want_s:
                continue
            if up.nfd(cp) == [cp]:
                get(cp)["mn"] = want_s == []
            elif want_s == [cp]:
                get(cp)["nodecomp"] = True
    for cp in hf_ccc_zero(up):
        get(cp)["ccc0"] = True
    bad = [cp for cp, (k, ls, lo, st) in hf.items() if k[1] not in "xw" and
           maps(cp) != [parse_map(ls, cp), parse_map(lo, cp), parse_map(st, cp)]]
    if bad:
        raise SystemExit(f"supplement cannot explain {len(bad)} code points, e.g. "
                         f"{[hex(b) for b in bad[:10]]}")
    cps = sorted(set(ov) | set(classes))

    def lit(seq):
        return "nullptr" if seq is None else 'U"' + "".join(f"\\U{x:08X}" for x in seq) + '"'
    path = os.path.join(ROOT, "src", "tokenizer", "bert_supplement.inc")
    with open(path, "w", encoding="utf-8") as fo:
        fo.write(f"// Generated by scripts/make_wordpiece_vectors.py (tokenizers "
                 f"{tokenizers.__version__}, utf8proc {up.version}): the {len(cps)} code points\n"
                 "// where HF's BertNormalizer / BertPreTokenizer / NFD disagree with utf8proc.\n"
                 "// {cp, pre-tokenizer class, clean_text flag, Mn ('y'/'n'/'-' = as utf8proc),\n"
                 "//  flags (1: NFD keeps it whole, 2: combining class 0), lowercase or nullptr}\n")
        for cp in cps:
            k = hf[cp][0]
            o = ov.get(cp, {"mn": None, "nodecomp": False, "ccc0": False, "lower": None})
            mn = "-" if o["mn"] is None else "y" if o["mn"] else "n"
            flags = (1 if o["nodecomp"] else 0) | (2 if o["ccc0"] else 0)
            fo.write(f"{{0x{cp:X}, '{k[0]}', '{k[1]}', '{mn}', {flags}, {lit(o['lower'])}}},\n")
    print(f"bert_supplement.inc: {len(cps)} code points")


# ---------------------------------------------------------------- features
def feature_texts():
    return [
        "Hello world", "", " ", "\n\t  \u3000", "I'm sorry, but I can't help with that.",
        "Café naïve RÉSUMÉ Ångström façade Œuvre", "e\u0301 a\u0300\u0316 o\u0308\u0304x",
        "\u0301\u0301 leading marks", "日本語のテキストとEnglish mixed", "中文分词测试，你好！",
        "한국어 텍스트", "\uf900\ufa0e compat ideographs \U00020000\U0002a700",
        "emoji 😀😊👍🏽 👨\u200d👩\u200d👧 🇺🇸 1️⃣", "ctrl \x00\x01\x7f\x85\x9f end",
        "zero\u200bwidth\u200c\u200d\ufeffjoin", "İstanbul ıi İI", "Straße STRASSE ẞ",
        "ﬁne ﬂow ﬀ", "x" * 99, "y" * 100, "z" * 101, "é" * 101, "ab" * 60 + " ok",
        "!!!???...,,,;;", "a--b__c##d", "##ing ##", "[SEP] inside [CLS]text[MASK] [UNK] [PAD]",
        "[sep] lower [Sep]", "<s> roberta </s>", "   leading and trailing   ",
        "tab\there\r\nnew\u2028line\u2029para", "\u00a0nbsp\u00a0", "\ufffd replacement \ufffd",
        "ÀÉÎÕÜ àéîõü ÇçÑñ", "Ελληνικά ΣΊΣΥΦΟΣ", "русский ТЕКСТ ё Ё", "עברית العربية हिन्दी ไทย",
        "\u1734\u1c89\ua7cb\U00010d50 new letters", "\U0001e030\U00011938 x", "ǅ ǈ ǋ ǲ",
        "ᾼ ῌ ῼ ΐ", "℃ ™ № Ⅻ ½", "$100 €5 ¥3 £2", "e-mail: a.b@c.de http://x.y/z?q=1&r=2",
        "don't won't it's they're we've", "1,000.50 3.14 42",
        "I\u0307 i\u0307 \u0130\u0301", "\U000e0001\U000e0041 tags", "\ue000 private \U000f0000",
        "\u0378 unassigned \U0001fbfa", "a" + "\u0301" * 30, "word " * 40,
        "The quick brown fox jumps over the lazy dog. " * 3,
        "u\U000e01ae\U0001e00a\u064b x", "e\u0301\u0316q \u0316\u0301 \u0344\u0316z",
        "\u0301\u0344 a\u05b0\u0591\u0300b", "x\u0898\u0301 \u1734k",
    ]


def bad_utf8_cases():
    return [b"ok \xff bad", b"\xe2\x82", b"caf\xc3", b"\xf0\x9f\x98\x8a\xf0\x9f", b"\x80\x81 x",
            b"A\xc3\x89\xed\xa0\x80B"]


def enc_record(e):
    return {"ids": e.ids, "tokens": e.tokens, "offsets": [list(o) for o in e.offsets],
            "sequence_ids": [(-1 if s is None else s) for s in e.sequence_ids],
            "type_ids": e.type_ids, "special_tokens_mask": e.special_tokens_mask}


def encode_case(tok, name, text, variant="minilm", max_length=None, stride=0, add_special=True,
                pair=None, raw=None):
    if max_length is None:
        tok.no_truncation()
    else:
        tok.enable_truncation(max_length, stride=stride)
    e = tok.encode(text, pair, add_special_tokens=add_special)
    tok.no_truncation()
    rec = {"name": name, "variant": variant, "text": text, "add_special_tokens": add_special,
           "max_length": max_length, "stride": stride}
    if pair is not None:
        rec["pair"] = pair
    if raw is not None:
        rec["raw_hex"] = raw.hex()
    rec["windows"] = [enc_record(e)] + [enc_record(o) for o in e.overflowing]
    if pair is not None:
        rec["n_windows"] = len(rec["windows"])
        rec["windows"] = rec["windows"][:1]
    rec["decoded"] = tok.decode(e.ids)
    rec["decoded_with_special"] = tok.decode(e.ids, skip_special_tokens=False)
    return rec


# BertNormalizer settings besides MiniLM's; the C++ test patches the MiniLM tokenizer.json alike.
VARIANTS = {
    "cased": {"normalizer": {"lowercase": False, "strip_accents": None}},
    "lower_keep_accents": {"normalizer": {"lowercase": True, "strip_accents": False}},
    "strip_only": {"normalizer": {"lowercase": False, "strip_accents": True}},
    "no_clean_no_cjk": {"normalizer": {"clean_text": False, "handle_chinese_chars": False}},
    "no_normalizer": {"normalizer": None},
    "bert_processing": {"post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 102],
                                           "cls": ["[CLS]", 101]}},
}


def variant_tokenizer(name):
    with open(os.path.join(MINILM, "tokenizer.json"), encoding="utf-8") as f:
        j = json.load(f)
    for key, patch in VARIANTS[name].items():
        if patch is None or key != "normalizer":
            j[key] = patch
        else:
            j[key].update(patch)
    t = Tokenizer.from_str(json.dumps(j))
    t.no_truncation()
    t.no_padding()
    return t


def check_vocab_txt_folder(texts):
    """transformers' BertTokenizer from vocab.txt + tokenizer_config.json only == tokenizer.json"""
    import shutil
    import tempfile
    import transformers
    ref = load_minilm()
    with tempfile.TemporaryDirectory() as d:
        for f in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
            shutil.copy(os.path.join(MINILM, f), d)
        slow = transformers.AutoTokenizer.from_pretrained(d)
        for t in texts:
            want = ref.encode(t).ids
            got = slow(t)["input_ids"]
            if got != want:
                raise SystemExit(f"vocab.txt folder differs from tokenizer.json on {t!r}")
    return f"{type(slow).__name__} from vocab.txt gives the tokenizer.json ids on all texts"


def write_features():
    tok = load_minilm()
    texts = feature_texts()
    recs = []
    for i, t in enumerate(texts):
        recs.append(encode_case(tok, f"text{i}", t))
        recs.append(encode_case(tok, f"text{i}_nospecial", t, add_special=False))
        for v in VARIANTS:
            recs.append(encode_case(variant_tokenizer(v), f"text{i}_{v}", t, variant=v))
    long_text = " ".join(f"w{i} word{i % 7}ing, é{i}" for i in range(120))
    for ml, st in [(8, 0), (8, 2), (8, 5), (16, 3), (128, 0), (128, 32), (512, 64), (3, 0),
                   (2, 0)]:
        recs.append(encode_case(tok, f"windows_{ml}_{st}", long_text, max_length=ml, stride=st))
    for ml, st in [(7, 2), (128, 0), (1, 0)]:
        recs.append(encode_case(tok, f"windows_nospecial_{ml}_{st}", long_text, max_length=ml,
                                stride=st, add_special=False))
    pairs = [("Is this a refusal?", "Sorry, I can't help."), ("", "b"), ("a", ""),
             ("short", long_text), (long_text, "short"), (long_text, long_text[:900]),
             (long_text[:301], long_text[:299])]
    for i, (a, b) in enumerate(pairs):
        recs.append(encode_case(tok, f"pair{i}", a, pair=b))
        recs.append(encode_case(tok, f"pair{i}_nospecial", a, pair=b, add_special=False))
        recs.append(encode_case(tok, f"pair{i}_trunc64", a, pair=b, max_length=64))
        recs.append(encode_case(variant_tokenizer("bert_processing"), f"pair{i}_bertproc", a,
                                pair=b, variant="bert_processing"))
    for i, raw in enumerate(bad_utf8_cases()):
        recs.append(encode_case(tok, f"bad_utf8_{i}", raw.decode("utf-8", errors="replace"),
                                raw=raw))
    note = check_vocab_txt_folder(texts)
    with gzip.open(os.path.join(OUT, "wordpiece_features.jsonl.gz"), "wt",
                   encoding="utf-8") as fo:
        fo.write(json.dumps({"meta": meta({
            "what": "hand-made cases; windows[0] is the encoding, the rest its overflowing; "
                    "offsets are code points; variant = MiniLM's tokenizer.json patched as in "
                    "variants; truncation/padding of the file are off",
            "variants": VARIANTS, "vocab_txt_check": note})}) + "\n")
        for r in recs:
            fo.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"wordpiece_features.jsonl.gz: {len(recs)} cases; {note}")


# ---------------------------------------------------------------- corpus
BERT_BITS = ["[SEP]", "[CLS]", "[MASK]", "[UNK]", "[PAD]", "[sep]", "##", "##ing", "İ", "ß",
             "ẞ", "ﬁ", "Ǆ", "é", "e\u0301", "Å", "\u0130\u0307", "日本", "中文", "\uf900",
             "한국", "\u200b", "\ufeff", "\u00ad", "\x00", "\ufffd", "\u0085", "\u3000",
             "'", "--", "...", "“", "」", "¿", "¡"]


def bert_random_text(rng, pools, cats):
    parts = []
    for _ in range(rng.randint(1, 30)):
        r = rng.random()
        if r < 0.3:
            parts.append(rng.choice(BERT_BITS))
        elif r < 0.5:
            cat = rng.choice(cats)
            parts.append("".join(chr(rng.choice(pools[cat])) for _ in range(rng.randint(1, 6))))
        elif r < 0.6:
            parts.append(" " * rng.randint(1, 3))
        else:
            w = rng.choice(common.WORDS)
            parts.append(w if rng.random() < 0.5 else " " + w.upper())
    return "".join(parts)


FIELDS = ("n = len(ids) with specials, no truncation; h_ids = fnv(those ids); "
          "h_more = fnv(their char offsets flattened, -1, ids without specials, -1, "
          "ids truncated at 128, -1, the same without specials, -1, ids truncated "
          "at 512); ids = ids without specials, no truncation")


def write_corpus():
    tok = load_minilm()
    with gzip.open(os.path.join(OUT, "corpus_slice.jsonl.gz"), "rt", encoding="utf-8") as f:
        picked = [json.loads(line) for line in f][1:]
    texts = [r["text"] for r in picked]
    recs = common.corpus_records(tok, texts, lambda i: i % 10 == 0)
    with gzip.open(os.path.join(OUT, "wordpiece_corpus_slice.jsonl.gz"), "wt",
                   encoding="utf-8") as fo:
        fo.write(json.dumps({"meta": meta({
            "what": "the texts of corpus_slice.jsonl.gz (a slice of the shared data, see its "
                    "meta), in its order, through all-MiniLM-L6-v2; the texts are read from "
                    "that file at test time, h_text checks they are the ones hashed here; ids "
                    "for every 10th text",
            "fields": "src, line, h_text = fnv(the text's UTF-8 bytes); " + FIELDS})}) + "\n")
        for p, r in zip(picked, recs):
            r = {"src": p["src"], "line": p["line"],
                 "h_text": common.fnv(list(p["text"].encode("utf-8"))), **r}
            fo.write(json.dumps(r) + "\n")
    print(f"wordpiece_corpus_slice: {len(recs)} texts")


def write_random():
    tok = load_minilm()
    rng = random.Random(common.SEED + 1)
    pools = common.category_pools()
    cats = sorted(pools)
    rtexts = [common.random_text(rng, pools, cats) for _ in range(3000)]
    rtexts += [bert_random_text(rng, pools, cats) for _ in range(2980)]
    rtexts += [common.long_word(rng, pools, i) + (" tail" if i % 2 else "") for i in range(20)]
    recs = common.corpus_records(tok, rtexts, lambda i: True)
    with gzip.open(os.path.join(OUT, "wordpiece_corpus_random.jsonl.gz"), "wt",
                   encoding="utf-8") as fo:
        fo.write(json.dumps({"meta": meta({
            "what": f"random texts, seed {common.SEED + 1}, through all-MiniLM-L6-v2: 3,000 "
                    "like corpus_random.jsonl.gz (every Unicode 16 general category, whitespace, "
                    "emoji, marks, controls), 2,980 mixing BERT's special strings, accents, "
                    "ligatures, CJK, zero-width and controls, 20 10,000-character words",
            "fields": FIELDS + " (every text)"})}) + "\n")
        for t, r in zip(rtexts, recs):
            fo.write(json.dumps({"text": t, **r}, ensure_ascii=False) + "\n")
    print(f"wordpiece_corpus_random: {len(recs)} texts")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", nargs="?", default="all",
                    choices=["all", "unicode", "features", "corpus", "random"])
    args = ap.parse_args()
    if args.what in ("all", "unicode"):
        write_unicode()
    if args.what in ("all", "features"):
        write_features()
    if args.what in ("all", "corpus"):
        write_corpus()
    if args.what in ("all", "random"):
        write_random()


if __name__ == "__main__":
    main()
