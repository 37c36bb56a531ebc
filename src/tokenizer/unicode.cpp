#include "tokenizer/unicode.h"

#include <utf8proc.h>

#include <algorithm>
#include <iterator>

namespace refusal::tokenizer {
namespace {

struct SupplementRange {
  char32_t first;
  char32_t last;
  CharClass cls;
};

// Assigned after utf8proc's Unicode 15.0, sorted by code point.
constexpr SupplementRange kSupplement[] = {
#include "tokenizer/unicode_supplement.inc"
};

CharClass supplement_class(char32_t cp) {
  const auto* it =
      std::upper_bound(std::begin(kSupplement), std::end(kSupplement), cp,
                       [](char32_t c, const SupplementRange& r) { return c < r.first; });
  if (it == std::begin(kSupplement)) return CharClass::kOther;
  --it;
  return cp <= it->last ? it->cls : CharClass::kOther;
}

}  // namespace

CharClass char_class(char32_t cp) {
  if (cp < 0x80) return ascii_class(static_cast<unsigned char>(cp));
  if (cp == 0x85) return CharClass::kSpace;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
      return CharClass::kLetter;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return CharClass::kNumber;
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
      return CharClass::kSpace;
    case UTF8PROC_CATEGORY_CN:
      return supplement_class(cp);
    default:
      return CharClass::kOther;
  }
}

}  // namespace refusal::tokenizer
