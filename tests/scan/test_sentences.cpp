// split_sentences against llm_guard.util.split_text_by_sentences (nltk 3.9.1 and 3.10.4) on
// every eval text, a seeded train sample and hand-written cases.
#include <gtest/gtest.h>

#include <map>

#include "refusal/error.h"
#include "refusal/scanner_rules.h"
#include "scan/no_refusal.h"
#include "scan/vectors.h"

namespace refusal {
namespace {

using testing::punkt_dir;
using testing::read_jsonl;
using testing::scan_data_dir;

const PunktParameters& params() {
  static const PunktParameters p = load_punkt_parameters(punkt_dir());
  return p;
}

const std::vector<nlohmann::json>& texts() {
  static const auto rows = read_jsonl(scan_data_dir() / "texts.jsonl.gz");
  return rows;
}

void check_variant(const std::string& version, PunktVariant variant) {
  ASSERT_GE(texts().size(), 2000u);
  std::size_t checked = 0;
  std::size_t mismatched = 0;
  for (const auto& row : texts()) {
    const std::string text = row.at("text");
    const auto expected = row.at("sentences").at(version).get<std::vector<std::string>>();
    const auto got = split_sentences(text, params(), variant);
    std::vector<std::string> got_text;
    for (const Sentence& s : got) {
      got_text.push_back(s.text);
      // The spans point into the original text, in bytes and in code points.
      EXPECT_EQ(text.substr(s.byte_begin, s.byte_end - s.byte_begin), s.text);
      EXPECT_LE(s.char_begin, s.char_end);
    }
    ++checked;
    if (got_text != expected) {
      ++mismatched;
      ADD_FAILURE() << row.at("source") << " nltk " << version << "\n text: " << text
                    << "\n expected " << nlohmann::json(expected).dump() << "\n got      "
                    << nlohmann::json(got_text).dump();
    }
  }
  EXPECT_EQ(mismatched, 0u) << "of " << checked;
  std::cout << "nltk " << version << ": " << checked - mismatched << "/" << checked
            << " texts split identically\n";
}

TEST(ScanSentences, MatchesNltk310) { check_variant("3.10.4", PunktVariant::kNltk310); }

TEST(ScanSentences, MatchesNltk39) { check_variant("3.9.1", PunktVariant::kNltk39); }

TEST(ScanSentences, CharOffsetsCountCodePoints) {
  const std::string text = "  \xC3\xA9t\xC3\xA9 fini. Next one.";  // "  été fini. Next one."
  const auto got = split_sentences(text, params());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].text, "\xC3\xA9t\xC3\xA9 fini.");
  EXPECT_EQ(got[0].char_begin, 2u);
  EXPECT_EQ(got[0].char_end, 11u);
  EXPECT_EQ(got[0].byte_begin, 2u);
  EXPECT_EQ(got[0].byte_end, 13u);
  EXPECT_EQ(got[1].char_begin, 12u);
  EXPECT_EQ(got[1].byte_begin, 14u);
  EXPECT_EQ(got[1].byte_end, text.size());
}

TEST(ScanSentences, RejectsInvalidUtf8) {
  EXPECT_THROW(split_sentences("abc \xFF def.", params()), Error);
}

TEST(ScanSentences, NoRefusalInputs) {
  const std::string out = "  First one. Second one.  ";
  const auto full = no_refusal_inputs(out, MatchMode::kFull, params());
  ASSERT_EQ(full.size(), 1u);
  EXPECT_EQ(full[0].text, out);  // FULL mode does not strip
  EXPECT_EQ(full[0].char_end, out.size());
  EXPECT_EQ(no_refusal_inputs(out, MatchMode::kSentence, params()).size(), 2u);
  EXPECT_TRUE(no_refusal_inputs(" \n\t", MatchMode::kFull, params()).empty());
}

}  // namespace
}  // namespace refusal
