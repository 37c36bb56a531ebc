#!/usr/bin/env python3
"""Generates src/tokenizer/bert_supplement.inc: the code points where utf8proc 2.8 (Unicode 15.0,
what the C++ code uses) disagrees with HF's BertNormalizer / BertPreTokenizer / NFD. HF classes
punctuation, controls and nonspacing marks with old Unicode tables (unicode_categories), NFD with
its own tables, and lowercases with Rust's char::to_lowercase (Unicode 16); the table gives HF's
answer for each such code point (docs/tokenizer.md).

Input: tests/data/tokenizer/hf_bert_chars.txt.gz, HF's behaviour for every code point, probed
from tokenizers by scripts/vectors/make_wordpiece_vectors.py unicode (run that first when
tokenizers changes). This script probes HF's NFD for combining classes itself, asks utf8proc
(libutf8proc.so.2, Debian's libutf8proc, through ctypes) what the C++ code sees, and fails
unless the table explains every code point. tests/tokenizer/test_wordpiece.cpp checks the C++
normalizer against the probe on every code point.

Run from anywhere, in the reference venv (tokenizers 0.23.x, unicodedata2==16.0.0:
scripts/requirements/ref.txt):
  bash scripts/venv.sh ref && .venv-ref/bin/python scripts/codegen/bert_supplement.py
"""
import gzip
import os

import tokenizers
import unicodedata2
from tokenizers import normalizers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROBE = os.path.join(ROOT, "tests", "data", "tokenizer", "hf_bert_chars.txt.gz")


def read_probe(path):
    """code point -> (class and clean_text flag, LS map, L map, S map), from the probe's ranges
    (START END CLASS MAP_LS MAP_L MAP_S, hex; '#' lines are comments)."""
    hf = {}
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if line.startswith("#") or not line.strip():
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 6:
                raise SystemExit(f"{path}:{number}: expected 6 tab-separated fields, got {len(fields)}")
            a, b = int(fields[0], 16), int(fields[1], 16)
            for cp in range(a, b + 1):
                if not 0xD800 <= cp <= 0xDFFF:
                    hf[cp] = tuple(fields[2:])
    return hf


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
        fo.write(f"// Generated by scripts/codegen/bert_supplement.py (tokenizers "
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
    print(f"{os.path.relpath(path, ROOT)}: {len(cps)} code points")


def main():
    write_supplement(read_probe(PROBE))


if __name__ == "__main__":
    main()
