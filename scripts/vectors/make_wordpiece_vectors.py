#!/usr/bin/env python3
"""Reference data for the C++ BERT WordPiece tokenizer, made with PyPI `tokenizers` (HF Rust core).

Writes, under tests/data/tokenizer/:
  hf_bert_chars.txt.gz           how HF's BertNormalizer and BertPreTokenizer treat every code
                                 point (probed from tokenizers itself; ranges of alike code points)
  wordpiece_features.jsonl.gz    hand-made cases for all-MiniLM-L6-v2 (accents, CJK, emoji,
                                 controls, Turkish I, long words, specials in text, invalid UTF-8,
                                 pairs, truncation, windows with stride, decode) and for other
                                 BertNormalizer settings
  wordpiece_corpus_slice.jsonl.gz    the texts of corpus_slice.jsonl.gz (a slice of the shared
                                     data, chosen by scripts/vectors/make_tokenizer_vectors.py): hashes
                                     (and ids for every 10th); the texts stay in that file
  wordpiece_corpus_random.jsonl.gz   6,000 random texts with ids and hashes

Usage: bash scripts/venv.sh ref
       .venv-ref/bin/python scripts/vectors/make_wordpiece_vectors.py [all|unicode|features|corpus|random]
       (tokenizers==0.23.3 and unicodedata2==16.0.0 are enough for all but `features`, which needs
       transformers; reads only files of the repository)
Needs: tokenizers (0.23.x), transformers (5.x, for the vocab.txt-only reference),
unicodedata2==16.0.0. Shares helpers with scripts/vectors/make_tokenizer_vectors.py.
src/tokenizer/bert_supplement.inc, the C++ side's table of the code points where utf8proc
disagrees with HF, is generated source made from hf_bert_chars.txt.gz:
scripts/codegen/bert_supplement.py.
"""
import argparse
import gzip
import json
import os
import random
import sys

from tokenizers import Tokenizer, normalizers, pre_tokenizers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_tokenizer_vectors as common  # noqa: E402

ROOT = common.ROOT
OUT = common.OUT
MINILM = os.path.join(OUT, "all-minilm-l6-v2")


def meta(extra):
    m = common.meta(extra)
    m["script"] = "scripts/vectors/make_wordpiece_vectors.py"
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
    print(f"hf_bert_chars.txt.gz: {len(rows)} rows "
          "(now run scripts/codegen/bert_supplement.py: src/tokenizer/bert_supplement.inc)")


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
