// Texts → verdicts against transformers' text-classification pipeline
// (tests/data/classify/pipeline-eval.jsonl.gz, made by scripts/vectors/make_classify_vectors.py).
#include "refusal/classifier.h"

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "refusal/scanner_rules.h"
#include "scan/python_emulation.h"
#include "test_support.h"

namespace refusal {
namespace {

const std::string kModel = "tests/data/models/random-roberta-tok";

TEST(Classifier, MatchesTheTransformersPipelineOnTheEvalSet) {
  const auto inputs = testing::read_jsonl("data/eval/chatgpt-refusals.jsonl.gz");
  const auto expected = testing::read_jsonl("tests/data/classify/pipeline-eval.jsonl.gz");
  ASSERT_EQ(inputs.size(), expected.size());
  ASSERT_EQ(inputs.size(), 1706u);
  std::vector<std::string> texts;
  for (const auto& row : inputs) texts.push_back(row.at("text").get<std::string>());
  std::vector<std::string_view> views(texts.begin(), texts.end());

  const Classifier classifier = Classifier::load(kModel, {.threads = 2}, {.max_length = 512});
  EXPECT_EQ(classifier.refusal_label(), 1);
  const auto verdicts = classifier.classify(views);
  ASSERT_EQ(verdicts.size(), expected.size());
  double worst = 0.0;
  std::size_t label_mismatches = 0;
  for (std::size_t i = 0; i < verdicts.size(); ++i) {
    const auto& want = expected[i];
    const auto& got = verdicts[i];
    label_mismatches += got.label != want.at("label").get<std::string>();
    worst = std::max(worst, std::abs(got.score - want.at("scores").at("REJECTION").get<double>()));
    worst = std::max(worst, std::abs(static_cast<double>(got.scores[0]) -
                                     want.at("scores").at("NORMAL").get<double>()));
    EXPECT_EQ(got.tokens, want.at("tokens").get<std::size_t>()) << "row " << i;
    EXPECT_EQ(got.refusal, got.score > 0.5);
  }
  EXPECT_EQ(label_mismatches, 0u);
  EXPECT_LE(worst, 1e-4);
  std::printf("max |score - pipeline score| over %zu texts: %.3g\n", verdicts.size(), worst);
}

TEST(Classifier, WindowsCoverTextBeyondTheTruncation) {
  const Classifier truncating = Classifier::load(kModel, {.threads = 1}, {.max_length = 16});
  const Classifier windowed = Classifier::load(
      kModel, {.threads = 1}, {.long_text = LongTextMode::kWindows, .max_length = 16, .stride = 4});
  std::string text;
  for (int i = 0; i < 20; ++i) text += "Here is a long and perfectly normal answer. ";
  text += "I'm sorry, but I can't help with that.";
  const std::string_view view = text;
  const auto cut = truncating.classify({&view, 1})[0];
  const auto all = windowed.classify({&view, 1})[0];
  EXPECT_TRUE(cut.truncated);
  EXPECT_EQ(cut.windows, 1u);
  EXPECT_FALSE(all.truncated);
  EXPECT_GT(all.windows, 10u);
  // The max over windows is at least the first window's score (which is the truncated one).
  EXPECT_GE(all.score, cut.score - 1e-6);
  // The evidence span is the deciding window's own text.
  EXPECT_LT(all.evidence.char_begin, all.evidence.char_end);
  EXPECT_EQ(all.evidence.text,
            text.substr(all.evidence.char_begin, all.evidence.char_end - all.evidence.char_begin));
}

TEST(Classifier, SentenceModeScoresEachSentence) {
  const Classifier by_sentence =
      Classifier::load(kModel, {.threads = 1}, {.match = MatchMode::kSentence, .max_length = 128});
  const Classifier full = Classifier::load(kModel, {.threads = 1}, {.max_length = 128});
  const std::string text = "First sentence here. Second one, a bit longer! And a third?";
  const std::string_view view = text;
  const auto v = by_sentence.classify({&view, 1})[0];
  EXPECT_EQ(v.segments, 3u);
  std::vector<std::string> sentences = {"First sentence here.", "Second one, a bit longer!",
                                        "And a third?"};
  double best = -1.0;
  std::string best_text;
  for (const auto& s : sentences) {
    const std::string_view sv = s;
    const double score = full.classify({&sv, 1})[0].score;
    if (score > best) best = score, best_text = s;
  }
  EXPECT_NEAR(v.score, best, 1e-6);
  EXPECT_EQ(v.evidence.text, best_text);
  EXPECT_EQ(text.substr(v.evidence.char_begin, v.evidence.char_end - v.evidence.char_begin),
            best_text);
}

TEST(Classifier, LlmGuardModeRoundsAndScoresRisk) {
  const Classifier guard = Classifier::load(
      kModel, {.threads = 1}, {.preset = Preset::kLlmGuard, .max_length = 128, .threshold = 0.75});
  const std::vector<std::string_view> texts = {"", "   \n", "Some answer text."};
  const auto v = guard.classify(texts);
  EXPECT_TRUE(v[0].is_valid);
  EXPECT_EQ(v[0].risk_score, -1.0);
  EXPECT_EQ(v[0].windows, 0u);
  EXPECT_TRUE(v[1].is_valid);
  EXPECT_EQ(v[1].risk_score, -1.0);
  // The score is a 2-decimal number and the risk follows calculate_risk_score.
  EXPECT_EQ(v[2].score, python_round(v[2].score, 2));
  EXPECT_EQ(v[2].risk_score, calculate_risk_score(v[2].score, 0.75));
  EXPECT_EQ(v[2].is_valid, !(v[2].score > 0.75));
}

}  // namespace
}  // namespace refusal
