// Numbers (round, repr, risk), the NoRefusal decision and NoRefusalLight, against vectors made
// by running llm-guard 0.3.16 itself.
#include <gtest/gtest.h>

#include <cmath>

#include "refusal/error.h"
#include "refusal/scanner_rules.h"
#include "scan/no_refusal.h"
#include "scan/python_emulation.h"
#include "scan/vectors.h"

namespace refusal {
namespace {

using testing::json_double;
using testing::read_json_gz;
using testing::read_jsonl;
using testing::scan_data_dir;

const nlohmann::json& numbers() {
  static const auto j = read_json_gz(scan_data_dir() / "numbers.json.gz");
  return j;
}

TEST(ScanNumbers, PythonRound) {
  std::size_t n = 0;
  for (const auto& v : numbers().at("round")) {
    const double x = v[0];
    const int digits = v[1];
    EXPECT_EQ(format_python_float(python_round(x, digits)), v[2].get<std::string>())
        << "round(" << format_python_float(x) << ", " << digits << ")";
    ++n;
  }
  EXPECT_GT(n, 20000u);
}

TEST(ScanNumbers, PythonRepr) {
  for (const auto& v : numbers().at("repr")) {
    EXPECT_EQ(format_python_float(json_double(v[0])), v[1].get<std::string>());
  }
}

TEST(ScanNumbers, CalculateRiskScore) {
  std::size_t n = 0;
  for (const auto& v : numbers().at("risk")) {
    const double score = v[0];
    const double threshold = v[1];
    EXPECT_EQ(format_python_float(calculate_risk_score(score, threshold)), v[2].get<std::string>())
        << "calculate_risk_score(" << format_python_float(score) << ", "
        << format_python_float(threshold) << ")";
    ++n;
  }
  EXPECT_GE(n, 505u + 4u);
}

TEST(ScanNumbers, RiskScoreDivisionByZero) {
  EXPECT_THROW(calculate_risk_score(0.0, 0.0), Error);
  EXPECT_THROW(calculate_risk_score(1.5, 1.0), Error);
}

TEST(ScanNoRefusal, MatchesScan) {
  std::size_t n = 0;
  for (const auto& v : numbers().at("decisions")) {
    std::vector<SegmentScore> segments;
    for (const auto& s : v.at("segments")) segments.push_back({s.at("label"), s.at("score")});
    const double threshold = v.at("threshold");
    const NoRefusalVerdict got = no_refusal_decision(segments, threshold);
    EXPECT_EQ(got.is_valid, v.at("is_valid").get<bool>()) << v.dump();
    EXPECT_EQ(format_python_float(got.risk_score), v.at("risk_score").get<std::string>())
        << v.dump();
    ASSERT_EQ(got.scores.size(), segments.size());
    if (!got.is_valid) {
      // The deciding segment is the first one over the threshold.
      ASSERT_TRUE(got.deciding_segment.has_value());
      for (std::size_t i = 0; i < *got.deciding_segment; ++i) EXPECT_LE(got.scores[i], threshold);
      EXPECT_GT(got.scores[*got.deciding_segment], threshold);
    }
    ++n;
  }
  EXPECT_GE(n, 3000u);
}

TEST(ScanNoRefusal, EmptyOutputAndDeciding) {
  const auto empty = no_refusal_decision({}, 0.75);
  EXPECT_TRUE(empty.is_valid);
  EXPECT_EQ(format_python_float(empty.risk_score), "-1.0");
  EXPECT_FALSE(empty.deciding_segment.has_value());

  const std::vector<SegmentScore> segs = {
      {"NORMAL", 0.9}, {"REJECTION", 0.6}, {"REJECTION", 0.6}, {"NORMAL", 0.99}};
  const auto v = no_refusal_decision(segs, 0.75);
  EXPECT_TRUE(v.is_valid);
  ASSERT_TRUE(v.deciding_segment.has_value());
  EXPECT_EQ(*v.deciding_segment, 1u);
  EXPECT_EQ(format_python_float(v.highest_score), "0.6");
}

TEST(ScanNoRefusal, PipelineTopLabel) {
  EXPECT_EQ(pipeline_top_label(0.5f, 0.5f).label, "NORMAL");  // argmax tie -> index 0
  const auto r = pipeline_top_label(0.25f, 0.75f);
  EXPECT_EQ(r.label, "REJECTION");
  EXPECT_EQ(r.score, 0.75);
}

TEST(ScanNoRefusalLight, MatchesScan) {
  const auto rows = read_jsonl(scan_data_dir() / "texts.jsonl.gz");
  ASSERT_GE(rows.size(), 2000u);
  std::size_t hits = 0;
  for (const auto& row : rows) {
    const auto& want = row.at("light");
    const auto got = no_refusal_light(row.at("text").get<std::string>());
    EXPECT_EQ(got.is_valid, want.at("is_valid").get<bool>()) << row.at("source");
    EXPECT_EQ(format_python_float(got.risk_score), want.at("risk_score").get<std::string>());
    EXPECT_EQ(got.matched, want.at("matched").get<std::vector<std::string>>()) << row.at("source");
    hits += got.is_valid ? 0 : 1;
  }
  std::cout << "NoRefusalLight: " << rows.size() << " texts, " << hits << " flagged\n";
}

TEST(ScanNoRefusalLight, Phrases) {
  const auto phrases = no_refusal_light_phrases();
  ASSERT_EQ(phrases.size(), 28u);
  EXPECT_EQ(phrases.front(), "I'm sorry");
  EXPECT_EQ(phrases.back(), "I can't assist");
}

TEST(ScanPython, StripAndLower) {
  EXPECT_EQ(python_strip("\x1c\xC2\xA0 hi \xE3\x80\x80\n"), "hi");
  EXPECT_TRUE(python_isspace_only("\xE2\x80\xA8\x1f"));
  EXPECT_FALSE(python_isspace_only("\xE2\x80\x8B"));  // ZERO WIDTH SPACE is not whitespace
  EXPECT_EQ(python_lower("\xC4\xB0"), "i\xCC\x87");   // U+0130 -> i + U+0307
  EXPECT_EQ(python_lower("\xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3"), "\xCE\xBF\xCE\xB4\xCE\xBF\xCF\x82");
}

}  // namespace
}  // namespace refusal
