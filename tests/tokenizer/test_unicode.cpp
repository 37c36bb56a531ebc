// Character classes on every code point (UTF-8 itself: tests/base/utf8_test.cpp).
#include <gtest/gtest.h>
#include <utf8proc.h>

#include <sstream>
#include <string>

#include "tokenizer/unicode.h"
#include "vectors.h"

namespace refusal::test {
namespace {

using tokenizer::CharClass;

char class_letter(CharClass k) {
  switch (k) {
    case CharClass::kLetter:
      return 'L';
    case CharClass::kNumber:
      return 'N';
    case CharClass::kSpace:
      return 'S';
    default:
      return 'O';
  }
}

// hf_char_classes.txt holds how HF's pre-tokenizer classes each of the 1,114,112 code points.
TEST(Unicode, EveryCodePointClassedLikeHuggingFace) {
  size_t checked = 0, mismatches = 0;
  for (const std::string& line : read_lines(kData + "/hf_char_classes.txt")) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream in(line);
    std::string first, last;
    char want = 0;
    in >> first >> last >> want;
    const auto a = static_cast<char32_t>(std::stoul(first, nullptr, 16));
    const auto b = static_cast<char32_t>(std::stoul(last, nullptr, 16));
    for (char32_t cp = a; cp <= b; ++cp, ++checked) {
      if (want == 'X') continue;  // surrogates cannot occur in UTF-8
      const char got = class_letter(tokenizer::char_class(cp));
      if (got != want && mismatches++ < 10) {
        ADD_FAILURE() << "U+" << std::hex << static_cast<uint32_t>(cp) << ": ours " << got
                      << ", HF " << want;
      }
    }
  }
  EXPECT_EQ(checked, 0x110000u);
  EXPECT_EQ(mismatches, 0u);
}

TEST(Unicode, Utf8procVersionIsTheDocumentedOne) {
  // docs/tokenizer.md states the Unicode version; the supplement assumes 15.0 underneath.
  EXPECT_STREQ(utf8proc_unicode_version(), "15.0.0");
}

}  // namespace
}  // namespace refusal::test
