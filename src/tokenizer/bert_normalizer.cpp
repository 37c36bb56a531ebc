#include "tokenizer/bert_normalizer.h"

#include <utf8proc.h>

#include <algorithm>
#include <iterator>

#include "base/utf8.h"
#include "tokenizer/unicode.h"

namespace refusal::tokenizer {
namespace {

// HF classes punctuation, controls and nonspacing marks with the old tables of the Rust crate
// unicode_categories, decomposes (and orders marks) with the older tables of
// unicode-normalization-alignments, and lowercases with Rust's (Unicode 16) char::to_lowercase.
// Where that differs from utf8proc 2.8 (Unicode 15.0), this table, generated from what
// tokenizers itself does (scripts/codegen/bert_supplement.py), has HF's answer.
struct BertOverride {
  char32_t cp;
  char cls;               // 's' whitespace, 'p' punctuation, 'o' other
  char clean;             // see bert_clean_flag
  char mn;                // 'y' / 'n': HF's Mn or not; '-': as utf8proc
  int flags;              // kKeepWhole, kClassZero
  const char32_t* lower;  // HF's lowercase, or nullptr: as utf8proc
};
constexpr int kKeepWhole = 1;  // HF's NFD does not decompose it
constexpr int kClassZero = 2;  // HF's NFD gives it combining class 0 (never reordered)

constexpr BertOverride kOverrides[] = {
#include "tokenizer/bert_supplement.inc"
};

const BertOverride* find_override(char32_t cp) {
  if (cp < 0x80) return nullptr;
  const auto* it = std::lower_bound(std::begin(kOverrides), std::end(kOverrides), cp,
                                    [](const BertOverride& o, char32_t c) { return o.cp < c; });
  return it != std::end(kOverrides) && it->cp == cp ? it : nullptr;
}

utf8proc_category_t category(char32_t cp) {
  return utf8proc_category(static_cast<utf8proc_int32_t>(cp));
}

// Rust's char::is_whitespace (the White_Space property); the same set as CharClass::kSpace.
bool is_white_space(char32_t cp) {
  if (cp < 0x80) return (cp >= 9 && cp <= 13) || cp == ' ';
  return char_class(cp) == CharClass::kSpace;
}

bool is_cjk(char32_t cp) {
  // HF's BertNormalizer::is_chinese_char (the CJK Unified Ideographs blocks, not all of Han).
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
         (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

void append(const char32_t* s, std::u32string& out) {
  for (; *s != 0; ++s) out.push_back(*s);
}

}  // namespace

BertClass bert_class(char32_t cp) {
  if (cp < 0x80) {
    if (is_white_space(cp)) return BertClass::kWhitespace;
    const bool punct = (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
                       (cp >= 123 && cp <= 126);
    return punct ? BertClass::kPunctuation : BertClass::kOther;
  }
  if (const BertOverride* o = find_override(cp)) {
    return o->cls == 's'   ? BertClass::kWhitespace
           : o->cls == 'p' ? BertClass::kPunctuation
                           : BertClass::kOther;
  }
  if (is_white_space(cp)) return BertClass::kWhitespace;
  const utf8proc_category_t c = category(cp);
  if (c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_PO) return BertClass::kPunctuation;
  return BertClass::kOther;
}

char bert_clean_flag(char32_t cp) {
  if (cp < 0x80) {
    if (cp == '\t' || cp == '\n' || cp == '\r') return 'w';
    if (cp < 0x20 || cp == 0x7F) return 'x';  // Cc (NUL included)
    return 'n';
  }
  if (const BertOverride* o = find_override(cp)) return o->clean;
  const utf8proc_category_t c = category(cp);
  // is_control: Cc, Cf, Co (controls win over whitespace: U+0085 is removed).
  if (cp == 0xFFFD || c == UTF8PROC_CATEGORY_CC || c == UTF8PROC_CATEGORY_CF ||
      c == UTF8PROC_CATEGORY_CO) {
    return 'x';
  }
  if (is_white_space(cp)) return 'w';
  return is_cjk(cp) ? 'c' : 'n';
}

namespace {

bool is_mn(char32_t cp) {
  if (cp < 0x80) return false;
  if (const BertOverride* o = find_override(cp); o != nullptr && o->mn != '-') return o->mn == 'y';
  return category(cp) == UTF8PROC_CATEGORY_MN;
}

uint8_t combining_class(char32_t cp) {
  if (cp < 0x300) return 0;
  if (const BertOverride* o = find_override(cp); o != nullptr && (o->flags & kClassZero)) return 0;
  return static_cast<uint8_t>(
      utf8proc_get_property(static_cast<utf8proc_int32_t>(cp))->combining_class);
}

// Canonical decomposition of one code point; returns its length (<= 8 for all of Unicode).
size_t decompose(char32_t cp, char32_t* out) {
  out[0] = cp;
  if (cp < 0xC0) return 1;
  if (const BertOverride* o = find_override(cp); o != nullptr && (o->flags & kKeepWhole)) return 1;
  utf8proc_int32_t buf[8];
  int last_boundclass = 0;
  const utf8proc_ssize_t n = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(cp), buf, 8,
                                                     UTF8PROC_DECOMPOSE, &last_boundclass);
  if (n < 1 || n > 8) return 1;  // cannot happen for canonical decompositions
  for (utf8proc_ssize_t i = 0; i < n; ++i) out[i] = static_cast<char32_t>(buf[i]);
  return static_cast<size_t>(n);
}

void append_lower(char32_t cp, std::u32string& out) {
  if (cp < 0x80) {
    out.push_back(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
    return;
  }
  if (const BertOverride* o = find_override(cp); o != nullptr && o->lower != nullptr) {
    append(o->lower, out);
  } else if (cp == 0x130) {
    // The one unconditional multi-char lowercase mapping (SpecialCasing.txt): I with dot.
    out.push_back(U'i');
    out.push_back(0x307);
  } else {
    out.push_back(static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp))));
  }
}

// HF's strip_accents on the whole text: NFD (runs of marks stably sorted by combining class),
// then Mn removed. Alignments follow HF's NormalizedString::transform: the first char of each
// decomposition takes the alignment of the next input char *by position*, so a reordered mark
// takes its slot's alignment; the other chars take the alignment of the last one taken.
void strip_accents(NormalizedText& t, uint32_t origin) {
  struct Dec {
    char32_t ch;
    uint8_t ccc;
    bool inserted;
  };
  thread_local std::vector<Dec> dec;
  dec.clear();
  size_t run = 0;  // start of the current run of marks
  for (const char32_t cp : t.chars) {
    char32_t parts[8];
    const size_t n = decompose(cp, parts);
    for (size_t k = 0; k < n; ++k) {
      const uint8_t ccc = combining_class(parts[k]);
      if (ccc == 0) {
        std::stable_sort(dec.begin() + static_cast<std::ptrdiff_t>(run), dec.end(),
                         [](const Dec& a, const Dec& b) { return a.ccc < b.ccc; });
        run = dec.size() + 1;
      }
      dec.push_back({parts[k], ccc, k > 0});
    }
  }
  std::stable_sort(dec.begin() + static_cast<std::ptrdiff_t>(std::min(run, dec.size())), dec.end(),
                   [](const Dec& a, const Dec& b) { return a.ccc < b.ccc; });
  thread_local NormalizedText out;
  out.clear();
  size_t next = 0;
  uint32_t s = origin, e = origin;  // HF's (0, 0) for an inserted char before any other
  for (const Dec& d : dec) {
    if (!d.inserted) {
      s = t.start[next];
      e = t.end[next];
      ++next;
    }
    if (is_mn(d.ch)) continue;
    out.chars.push_back(d.ch);
    out.start.push_back(s);
    out.end.push_back(e);
  }
  std::swap(t, out);
}

void lowercase(NormalizedText& t) {
  thread_local NormalizedText out;
  out.clear();
  for (size_t i = 0; i < t.chars.size(); ++i) {
    append_lower(t.chars[i], out.chars);
    out.start.resize(out.chars.size(), t.start[i]);
    out.end.resize(out.chars.size(), t.end[i]);
  }
  std::swap(t, out);
}

}  // namespace

void bert_map_char(char32_t cp, bool lower, bool strip, std::u32string& out) {
  std::u32string seq(1, cp);
  if (strip) {
    char32_t parts[8];
    const size_t n = decompose(cp, parts);
    seq.clear();
    for (size_t k = 0; k < n; ++k) {
      if (!is_mn(parts[k])) seq.push_back(parts[k]);
    }
  }
  for (const char32_t c : seq) {
    if (lower) {
      append_lower(c, out);
    } else {
      out.push_back(c);
    }
  }
}

void bert_normalize(const BertNormalizerOptions& o, std::string_view text, size_t begin, size_t end,
                    NormalizedText& out) {
  out.clear();
  const char* s = text.data();
  bool ascii = true;
  for (size_t p = begin; p < end;) {
    size_t len = 1;
    const char32_t cp = base::decode_valid_utf8(s + p, &len);
    const auto b = static_cast<uint32_t>(p), e = static_cast<uint32_t>(p + len);
    p += len;
    ascii = ascii && cp < 0x80;
    const char flag = o.clean_text || o.handle_chinese_chars ? bert_clean_flag(cp) : 'n';
    if (o.clean_text && flag == 'x') continue;
    if (o.clean_text && flag == 'w') {
      out.chars.push_back(U' ');
    } else if (o.handle_chinese_chars && flag == 'c') {
      // HF inserts the spaces as new chars aligned with the ideograph itself.
      out.chars.append({U' ', cp, U' '});
    } else {
      out.chars.push_back(cp);
    }
    out.start.resize(out.chars.size(), b);
    out.end.resize(out.chars.size(), e);
  }
  if (ascii) {
    // No decomposition, no marks: only ASCII lowercasing can change anything.
    if (o.lowercase) {
      for (char32_t& c : out.chars) c = c >= 'A' && c <= 'Z' ? c + 32 : c;
    }
    return;
  }
  if (o.strip_accents) strip_accents(out, static_cast<uint32_t>(begin));
  if (o.lowercase) lowercase(out);
}

}  // namespace refusal::tokenizer
