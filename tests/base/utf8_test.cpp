// The UTF-8 helpers against utf8proc (every code point; every 1- to 3-byte sequence) and
// against Python's bytes.decode("utf-8", "replace") for the repair.
#include "base/utf8.h"

#include <gtest/gtest.h>
#include <utf8proc.h>

#include <optional>
#include <random>
#include <string>
#include <vector>

#include "refusal/error.h"

namespace refusal::base {
namespace {

// utf8proc's strict decoder as the reference: the code point and length of a well-formed
// sequence at the start of `s`, or nullopt.
std::optional<std::pair<char32_t, std::size_t>> reference_decode(std::string_view s) {
  utf8proc_int32_t cp = 0;
  const utf8proc_ssize_t n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                                              static_cast<utf8proc_ssize_t>(s.size()), &cp);
  if (n <= 0) return std::nullopt;
  return std::pair{static_cast<char32_t>(cp), static_cast<std::size_t>(n)};
}

// Checks decode_utf8 on `s` against utf8proc; for a valid start also decode_valid_utf8.
void expect_decodes_like_utf8proc(const std::string& s) {
  const Utf8Step step = decode_utf8(s, 0);
  const auto want = reference_decode(s);
  ASSERT_EQ(step.valid, want.has_value()) << testing::PrintToString(s);
  ASSERT_GE(step.length, 1u);
  if (!want) {
    ASSERT_EQ(step.code_point, U'\uFFFD');
    return;
  }
  ASSERT_EQ(step.code_point, want->first) << testing::PrintToString(s);
  ASSERT_EQ(step.length, want->second);
  std::size_t length = 0;
  ASSERT_EQ(decode_valid_utf8(s.data(), &length), want->first);
  ASSERT_EQ(length, want->second);
}

TEST(Utf8, EveryCodePointRoundTrips) {
  std::size_t scalars = 0;
  for (char32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    std::string s;
    append_utf8(s, cp);
    utf8proc_uint8_t buf[4];
    const auto n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(cp), buf);
    ASSERT_EQ(s, std::string(reinterpret_cast<char*>(buf), static_cast<std::size_t>(n)));
    const bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
    // Surrogates have a UTF-8 shape but are not UTF-8: the validator refuses them.
    ASSERT_EQ(first_invalid_utf8(s), surrogate ? std::optional<std::size_t>(0) : std::nullopt);
    if (surrogate) continue;
    ++scalars;
    const Utf8Step step = decode_utf8(s, 0);
    ASSERT_TRUE(step.valid);
    ASSERT_EQ(step.code_point, cp);
    ASSERT_EQ(step.length, s.size());
    std::size_t length = 0;
    ASSERT_EQ(decode_valid_utf8(s.data(), &length), cp);
    ASSERT_EQ(length, s.size());
    ASSERT_EQ(count_code_points(s), 1u);
  }
  EXPECT_EQ(scalars, 0x110000u - 0x800u);
}

TEST(Utf8, EveryShortSequenceIsJudgedLikeUtf8proc) {
  std::string s(1, '\0');
  for (int a = 0; a < 256; ++a) {
    s[0] = static_cast<char>(a);
    expect_decodes_like_utf8proc(s);
  }
  s.resize(2);
  for (int a = 0x80; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) {
      s = {static_cast<char>(a), static_cast<char>(b)};
      expect_decodes_like_utf8proc(s);
    }
  }
  for (int a = 0xE0; a < 0xF0; ++a) {  // every 3-byte lead, every two bytes after it
    for (int b = 0; b < 256; ++b) {
      for (int c = 0; c < 256; ++c) {
        s = {static_cast<char>(a), static_cast<char>(b), static_cast<char>(c)};
        expect_decodes_like_utf8proc(s);
      }
    }
  }
}

TEST(Utf8, RandomFourByteSequencesAreJudgedLikeUtf8proc) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> lead(0xF0, 0xFF), any(0, 255), tail(0x80, 0xBF);
  for (int i = 0; i < 200000; ++i) {
    // Mostly continuation bytes, so that most sequences get as far as the range checks.
    const auto next = [&] { return static_cast<char>(i % 4 == 0 ? any(rng) : tail(rng)); };
    const std::string s = {static_cast<char>(lead(rng)), next(), next(), next()};
    expect_decodes_like_utf8proc(s);
  }
}

TEST(Utf8, InvalidUtf8IsFoundAtItsFirstBadByte) {
  // The shortest forms of each kind of error: stray continuation, overlong, surrogate,
  // beyond U+10FFFF, truncated sequence, bytes that never occur.
  for (const std::string bad : {"\x80", "\xC0\xAF", "\xE0\x80\xAF", "\xED\xA0\x80",
                                "\xF4\x90\x80\x80", "\xE2\x82", "\xFF"}) {
    const std::string s = "ok \xC3\xA9" + bad + " tail";
    EXPECT_EQ(first_invalid_utf8(s), 5u) << testing::PrintToString(s);
  }
  EXPECT_EQ(first_invalid_utf8("a\xe2\x82"), 1u);  // cut short at the end
  EXPECT_EQ(first_invalid_utf8(""), std::nullopt);
  EXPECT_EQ(first_invalid_utf8("plain \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), std::nullopt);
  // Long ASCII runs take the 8-byte fast path; the offset must still be exact.
  std::string long_text(1000, 'a');
  for (const std::size_t at : {0u, 7u, 8u, 777u, 999u}) {
    std::string t = long_text;
    t[at] = '\xC3';
    EXPECT_EQ(first_invalid_utf8(t), at);
  }
  EXPECT_EQ(first_invalid_utf8(long_text), std::nullopt);
}

TEST(Utf8, RepairReplacesMaximalSubpartsLikePython) {
  // bytes.decode("utf-8", "replace") in CPython 3.11; the first is Unicode's table 3-8.
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(repair_utf8("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64"),
            "a" + fffd + fffd + fffd + "b" + fffd + "c" + fffd + fffd + "d");
  EXPECT_EQ(repair_utf8("\xED\xA0\x80x"), fffd + fffd + fffd + "x");
  EXPECT_EQ(repair_utf8("\xF4\x90\x80\x80"), fffd + fffd + fffd + fffd);
  EXPECT_EQ(repair_utf8("\xE0\x80\xAF"), fffd + fffd + fffd);
  EXPECT_EQ(repair_utf8("\xC0\xAF"), fffd + fffd);
  EXPECT_EQ(repair_utf8("\xF0\x9F\x98"), fffd);
  EXPECT_EQ(repair_utf8("\xF0\x9F\x98\x80\xE2\x82"), "\xF0\x9F\x98\x80" + fffd);
  EXPECT_EQ(repair_utf8("\xFF\xFE"), fffd + fffd);
  const std::string valid = "Grüße, 世界! 😊 \u00a0\u2028";
  EXPECT_EQ(repair_utf8(valid), valid);
}

TEST(Utf8, CodePointCountsAndOffsets) {
  const std::string s = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z";  // a é € 😀 z
  EXPECT_EQ(count_code_points(s), 5u);
  EXPECT_EQ(count_code_points(""), 0u);
  EXPECT_EQ(skip_code_points(s, 0, 0), 0u);
  EXPECT_EQ(skip_code_points(s, 0, 1), 1u);
  EXPECT_EQ(skip_code_points(s, 0, 2), 3u);
  EXPECT_EQ(skip_code_points(s, 3, 2), 10u);
  EXPECT_EQ(skip_code_points(s, 0, 5), s.size());
  EXPECT_EQ(skip_code_points(s, 0, 99), s.size());  // the text ends first
  EXPECT_EQ(code_point_start(s, 0), 0u);
  EXPECT_EQ(code_point_start(s, 2), 1u);
  EXPECT_EQ(code_point_start(s, 5), 3u);
  EXPECT_EQ(code_point_start(s, 9), 6u);
  EXPECT_EQ(code_point_start(s, 10), 10u);
}

TEST(Utf8, CodePointsAndBack) {
  const std::string s = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";
  std::vector<std::size_t> offsets;
  const std::u32string cps = to_code_points(s, &offsets);
  EXPECT_EQ(cps, (std::u32string{U'a', U'\u00E9', U'\u20AC', U'\U0001F600'}));
  EXPECT_EQ(offsets, (std::vector<std::size_t>{0, 1, 3, 6, 10}));
  EXPECT_EQ(to_code_points(s), cps);
  EXPECT_EQ(to_utf8(cps), s);
  EXPECT_EQ(to_code_points("", &offsets), U"");
  EXPECT_EQ(offsets, std::vector<std::size_t>{0});
  try {
    (void)to_code_points("ab\xED\xA0\x80");
    FAIL() << "a surrogate was decoded";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "invalid UTF-8 in text at byte offset 2");
  }
}

TEST(Error, MessageIsAlwaysValidUtf8) {
  // Errors quote bytes of bad files; front ends put the message in JSON or a Python str.
  EXPECT_STREQ(Error("merges.txt:3: got \"a\xff b\"").what(),
               "merges.txt:3: got \"a\xEF\xBF\xBD b\"");
  EXPECT_STREQ(Error(std::string("cut \xc3")).what(), "cut \xEF\xBF\xBD");
  EXPECT_STREQ(Error("caf\xc3\xa9 stays").what(), "caf\xc3\xa9 stays");
}

}  // namespace
}  // namespace refusal::base
