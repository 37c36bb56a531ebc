// Python 3.11 / regex 2024.11.6 character semantics on top of utf8proc's categories and simple
// case mappings. The few properties utf8proc does not carry (Other_Lowercase letters without a
// case mapping, Other_Uppercase symbols, Other_Alphabetic circled letters, Case_Ignorable
// punctuation) are small tables here; tests/scan checks every code point against Python.
#include "scan/py_unicode.h"

#include <utf8proc.h>

#include <algorithm>
#include <iterator>
#include <string>

namespace refusal::scan {
namespace {

struct Range {
  char32_t first;
  char32_t last;
};

template <std::size_t N>
bool in_ranges(const Range (&table)[N], char32_t c) {
  auto it = std::upper_bound(std::begin(table), std::end(table), c,
                             [](char32_t v, const Range& r) { return v < r.first; });
  return it != std::begin(table) && c <= std::prev(it)->last;
}

// Other_Lowercase code points with no uppercase mapping (ordinal indicators, modifier letters).
constexpr Range kOtherLowercase[] = {
    {0xAA, 0xAA},       {0xBA, 0xBA},       {0x2B0, 0x2B8},     {0x2C0, 0x2C1},
    {0x2E0, 0x2E4},     {0x37A, 0x37A},     {0x1D2C, 0x1D6A},   {0x1D78, 0x1D78},
    {0x1D9B, 0x1DBF},   {0x2071, 0x2071},   {0x207F, 0x207F},   {0x2090, 0x209C},
    {0x2C7C, 0x2C7D},   {0xA69C, 0xA69D},   {0xA770, 0xA770},   {0xA7F8, 0xA7F9},
    {0xAB5C, 0xAB5F},   {0x10780, 0x10780}, {0x10783, 0x10785}, {0x10787, 0x107B0},
    {0x107B2, 0x107BA},
};

// Other_Uppercase squared/negative-circled Latin capitals (no case mapping).
constexpr Range kOtherUppercase[] = {{0x1F130, 0x1F149}, {0x1F150, 0x1F169}, {0x1F170, 0x1F189}};

// Other_Alphabetic symbols (category So) that the regex module's \w includes.
constexpr Range kAlphabeticSymbols[] = {
    {0x24B6, 0x24E9}, {0x1F130, 0x1F149}, {0x1F150, 0x1F169}, {0x1F170, 0x1F189}};

// Word_Break MidLetter, MidNumLet and Single_Quote: case-ignorable whatever their category.
constexpr Range kCaseIgnorablePunct[] = {
    {0x27, 0x27},     {0x2E, 0x2E},     {0x3A, 0x3A},     {0xB7, 0xB7},
    {0x387, 0x387},   {0x55F, 0x55F},   {0x5F4, 0x5F4},   {0x2018, 0x2019},
    {0x2024, 0x2024}, {0x2027, 0x2027}, {0xFE13, 0xFE13}, {0xFE52, 0xFE52},
    {0xFE55, 0xFE55}, {0xFF07, 0xFF07}, {0xFF0E, 0xFF0E}, {0xFF1A, 0xFF1A},
};

utf8proc_category_t category(char32_t c) {
  return utf8proc_category(static_cast<utf8proc_int32_t>(c));
}

char32_t simple_lower(char32_t c) {
  return static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c)));
}

char32_t simple_upper(char32_t c) {
  return static_cast<char32_t>(utf8proc_toupper(static_cast<utf8proc_int32_t>(c)));
}

}  // namespace

bool py_isspace(char32_t c) {
  if (c < 0x80) return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20);
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

bool py_isupper(char32_t c) {
  const auto cat = category(c);
  if (cat == UTF8PROC_CATEGORY_LU) return true;
  if (cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT) return false;
  // Other_Uppercase: Roman numerals and circled capitals carry a lowercase mapping.
  return simple_lower(c) != c || in_ranges(kOtherUppercase, c);
}

bool py_islower(char32_t c) {
  const auto cat = category(c);
  if (cat == UTF8PROC_CATEGORY_LL) return true;
  if (cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LT) return false;
  return simple_upper(c) != c || in_ranges(kOtherLowercase, c);
}

bool py_iscased(char32_t c) {
  return category(c) == UTF8PROC_CATEGORY_LT || py_isupper(c) || py_islower(c);
}

bool py_is_case_ignorable(char32_t c) {
  switch (category(c)) {
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_SK:
      return true;
    default:
      return in_ranges(kCaseIgnorablePunct, c);
  }
}

bool is_decimal_digit(char32_t c) { return category(c) == UTF8PROC_CATEGORY_ND; }

std::u32string py_lower(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char32_t c = text[i];
    if (c < 0x80) {
      out.push_back(c >= U'A' && c <= U'Z' ? c + 32 : c);
    } else if (c == 0x130) {
      // SpecialCasing: LATIN CAPITAL LETTER I WITH DOT ABOVE -> i + COMBINING DOT ABOVE.
      out.push_back(U'i');
      out.push_back(0x307);
    } else if (c == 0x3A3) {
      // Final_Sigma, as CPython's handle_capital_sigma: cased before, no cased after (both
      // skipping case-ignorable characters).
      std::size_t j = i;
      while (j > 0 && py_is_case_ignorable(text[j - 1])) --j;
      bool final_sigma = j > 0 && py_iscased(text[j - 1]);
      if (final_sigma) {
        std::size_t k = i + 1;
        while (k < text.size() && py_is_case_ignorable(text[k])) ++k;
        final_sigma = k == text.size() || !py_iscased(text[k]);
      }
      out.push_back(final_sigma ? 0x3C2 : 0x3C3);
    } else {
      out.push_back(simple_lower(c));
    }
  }
  return out;
}

bool re_space(char32_t c, bool regex_module) {
  // The regex module's \s is White_Space, without the ASCII separators U+001C..U+001F.
  if (regex_module && c >= 0x1C && c <= 0x1F) return false;
  return py_isspace(c);
}

bool re_word_nondigit(char32_t c, bool regex_module) {
  const auto cat = category(c);
  switch (cat) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_NL:
      return true;
    default:
      break;
  }
  if (!regex_module) {
    // re: str.isalnum() or '_' (No counts via isnumeric), minus \d.
    return cat == UTF8PROC_CATEGORY_NO || c == U'_';
  }
  // regex: Alphabetic | Mark | Pc | Join_Control, minus \d.
  return cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_MC ||
         cat == UTF8PROC_CATEGORY_ME || cat == UTF8PROC_CATEGORY_PC || c == 0x200C || c == 0x200D ||
         in_ranges(kAlphabeticSymbols, c);
}

}  // namespace refusal::scan
