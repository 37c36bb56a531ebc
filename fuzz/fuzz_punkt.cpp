// libFuzzer target: any text through Punkt sentence splitting (split_sentences,
// src/scan/punkt.cpp, both nltk variants, with the bundled English parameters) and
// NoRefusalLight. Promises checked: sentences come in order, do not overlap, lie inside the
// text on character boundaries, each sentence's text is its byte range of the text, and its
// character offsets agree with its byte offsets.
//
// Input: byte 0 = mode (bit 0: nltk 3.9 instead of 3.10); the rest = the text, repaired to
// valid UTF-8 as every caller's text is.
#include <cstdint>
#include <string>

#include "base/utf8.h"
#include "fuzz_support.h"
#include "refusal/scanner_rules.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const refusal::PunktParameters params =
      refusal::load_punkt_parameters(refusal::fuzz::repo_file("data/punkt_tab/english"));
  if (size < 1) return 0;
  const auto variant =
      (data[0] & 1) ? refusal::PunktVariant::kNltk39 : refusal::PunktVariant::kNltk310;
  const std::string text = refusal::base::repair_utf8(
      std::string_view(reinterpret_cast<const char*>(data + 1), size - 1));
  std::size_t byte_end = 0, char_end = 0;
  for (const auto& s : refusal::split_sentences(text, params, variant)) {
    FUZZ_CHECK(s.byte_begin >= byte_end && s.byte_begin < s.byte_end && s.byte_end <= text.size());
    FUZZ_CHECK(s.char_begin >= char_end && s.char_begin < s.char_end);
    FUZZ_CHECK(s.byte_begin == text.size() ||
               !refusal::base::is_utf8_continuation(text[s.byte_begin]));
    FUZZ_CHECK(s.byte_end == text.size() || !refusal::base::is_utf8_continuation(text[s.byte_end]));
    const std::string_view range =
        std::string_view(text).substr(s.byte_begin, s.byte_end - s.byte_begin);
    FUZZ_CHECK(s.text == range);
    FUZZ_CHECK(refusal::base::count_code_points(text.substr(0, s.byte_begin)) == s.char_begin);
    FUZZ_CHECK(refusal::base::count_code_points(range) == s.char_end - s.char_begin);
    byte_end = s.byte_end;
    char_end = s.char_end;
  }
  const auto light = refusal::no_refusal_light(text);
  FUZZ_CHECK(light.is_valid == light.matched.empty());
  return 0;
}
