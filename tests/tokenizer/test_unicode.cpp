// Character classes on every code point, and UTF-8 checking / repair.
#include <gtest/gtest.h>
#include <utf8proc.h>

#include <random>
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

TEST(Unicode, DecodeMatchesUtf8procOnRandomCodePoints) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<uint32_t> dist(0, 0x10FFFF);
  for (int i = 0; i < 20000; ++i) {
    const char32_t cp = dist(rng);
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    std::string s;
    tokenizer::append_utf8(s, cp);
    utf8proc_uint8_t buf[4];
    const auto n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(cp), buf);
    ASSERT_EQ(s, std::string(reinterpret_cast<char*>(buf), static_cast<size_t>(n)));
    size_t len = 0;
    ASSERT_EQ(tokenizer::decode_utf8(s.data(), &len), cp);
    ASSERT_EQ(len, s.size());
    ASSERT_EQ(tokenizer::find_invalid_utf8(s), std::string::npos);
  }
}

TEST(Unicode, InvalidUtf8IsFoundAtItsFirstBadByte) {
  // The shortest forms of each kind of error: stray continuation, overlong, surrogate,
  // beyond U+10FFFF, truncated sequence.
  for (const std::string bad :
       {"\x80", "\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xE2\x82", "\xFF"}) {
    const std::string s = "ok " + bad + " tail";
    EXPECT_EQ(tokenizer::find_invalid_utf8(s), 3u) << s;
    const std::string fixed = tokenizer::repair_utf8(s);
    EXPECT_EQ(tokenizer::find_invalid_utf8(fixed), std::string::npos);
    EXPECT_NE(fixed.find("\xEF\xBF\xBD"), std::string::npos);
    EXPECT_TRUE(fixed.starts_with("ok ") && fixed.ends_with(" tail"));
  }
  // Long ASCII runs take the 8-byte fast path; the offset must still be exact.
  std::string long_text(1000, 'a');
  long_text[777] = '\xC3';
  EXPECT_EQ(tokenizer::find_invalid_utf8(long_text), 777u);
}

TEST(Unicode, RepairOfValidTextIsIdentity) {
  const std::string s = "Grüße, 世界! 😊 \u00a0\u2028";
  EXPECT_EQ(tokenizer::repair_utf8(s), s);
}

}  // namespace
}  // namespace refusal::test
