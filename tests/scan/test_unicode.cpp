// The Python character semantics in src/scan/py_unicode against Python 3.11's own str methods
// and the re / regex character classes, code point by code point.
#include <gtest/gtest.h>

#include <functional>

#include "base/utf8.h"
#include "scan/py_unicode.h"
#include "scan/vectors.h"

namespace refusal::scan {
namespace {

const nlohmann::json& vectors() {
  static const auto j = testing::read_json_gz(testing::scan_data_dir() / "unicode.json.gz");
  return j;
}

std::vector<bool> bitmap(const std::string& key) {
  std::vector<bool> bits(0x110000, false);
  for (const auto& r : vectors().at(key)) {
    for (char32_t c = r[0].get<char32_t>(); c <= r[1].get<char32_t>(); ++c) bits[c] = true;
  }
  return bits;
}

// Compares a predicate over every code point Python's Unicode database assigns (utf8proc may
// know a newer Unicode version; code points new since Python's are not compared).
void compare(const std::string& key, const std::function<bool(char32_t)>& pred) {
  static const std::vector<bool> assigned = bitmap("assigned");
  const std::vector<bool> want = bitmap(key);
  std::size_t diffs = 0;
  for (char32_t c = 0; c < 0x110000; ++c) {
    if ((c >= 0xD800 && c <= 0xDFFF) || !assigned[c]) continue;
    if (pred(c) != want[c]) {
      if (++diffs <= 10) {
        ADD_FAILURE() << key << " differs at U+" << std::hex << static_cast<std::uint32_t>(c);
      }
    }
  }
  EXPECT_EQ(diffs, 0u) << key;
}

TEST(ScanUnicode, Predicates) {
  compare("isspace", py_isspace);
  compare("isupper", py_isupper);
  compare("islower", py_islower);
  compare("re_s", [](char32_t c) { return re_space(c, false); });
  compare("regex_s", [](char32_t c) { return re_space(c, true); });
  compare("re_word_nondigit", [](char32_t c) { return re_word_nondigit(c, false); });
  compare("regex_word_nondigit", [](char32_t c) { return re_word_nondigit(c, true); });
  compare("re_d", is_decimal_digit);
}

TEST(ScanUnicode, FinalSigma) {
  compare("sigma_after", [](char32_t c) {
    return py_lower(std::u32string{U'A', 0x3A3, c, U'a'})[1] == 0x3C2;
  });
  compare("sigma_before", [](char32_t c) {
    return py_lower(std::u32string{c, 0x3A3}).back() == 0x3C2;
  });
}

TEST(ScanUnicode, Lower) {
  static const std::vector<bool> assigned = bitmap("assigned");
  std::vector<std::u32string> want(0x110000);
  for (const auto& e : vectors().at("lower")) {
    want[e[0].get<char32_t>()] = base::to_code_points(e[1].get<std::string>());
  }
  std::size_t diffs = 0;
  for (char32_t c = 0; c < 0x110000; ++c) {
    if ((c >= 0xD800 && c <= 0xDFFF) || !assigned[c]) continue;
    const std::u32string expect = want[c].empty() ? std::u32string(1, c) : want[c];
    if (py_lower(std::u32string(1, c)) != expect && ++diffs <= 10) {
      ADD_FAILURE() << "lower differs at U+" << std::hex << static_cast<std::uint32_t>(c);
    }
  }
  EXPECT_EQ(diffs, 0u);
}

}  // namespace
}  // namespace refusal::scan
