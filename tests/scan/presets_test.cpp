// Presets and per-text results: what every front end gets from the library.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "refusal/classifier.h"
#include "refusal/error.h"

namespace refusal {
namespace {

const std::string kModel = "tests/data/models/random-roberta-tok";

TEST(Presets, NamesRoundTripAndUnknownNamesSayWhatIsAccepted) {
  for (Preset p : {Preset::kDefault, Preset::kLlmGuard, Preset::kKeywords}) {
    EXPECT_EQ(parse_preset(preset_name(p)), p);
  }
  EXPECT_EQ(parse_match_mode("sentence"), MatchMode::kSentence);
  EXPECT_EQ(parse_long_text_mode(long_text_mode_name(LongTextMode::kWindows)),
            LongTextMode::kWindows);
  try {
    parse_preset("llm_guard");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "preset: 'llm_guard' is not one of 'default', 'llm-guard', 'keywords'");
  }
  EXPECT_THROW(parse_match_mode("word"), Error);
  EXPECT_THROW(parse_long_text_mode(""), Error);
}

TEST(Presets, ClassifierTakesUnsetOptionsFromThePreset) {
  const Classifier plain = Classifier::load(kModel, {.threads = 1}, {});
  EXPECT_EQ(plain.threshold(), 0.5);
  EXPECT_EQ(plain.max_length(), 512u);  // the model's
  EXPECT_EQ(plain.stride(), 128u);

  const Classifier guard = Classifier::load(kModel, {.threads = 1}, {.preset = Preset::kLlmGuard});
  EXPECT_EQ(guard.threshold(), 0.75);
  EXPECT_EQ(guard.max_length(), 128u);

  const Classifier set = Classifier::load(
      kModel, {.threads = 1}, {.preset = Preset::kLlmGuard, .max_length = 64, .threshold = 0.25});
  EXPECT_EQ(set.threshold(), 0.25);
  EXPECT_EQ(set.max_length(), 64u);
  EXPECT_EQ(set.options().max_length, std::optional<std::size_t>(64));
}

TEST(Presets, BadOptionsNameTheOption) {
  auto error_of = [](const ClassifierOptions& o) {
    try {
      Classifier::load(kModel, {.threads = 1}, o);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(error_of({.preset = Preset::kKeywords}),
            "preset: 'keywords' needs no model (NoRefusalLight: no_refusal_light)");
  EXPECT_EQ(error_of({.max_length = 2}), "max_length: 2 is below 3");
  EXPECT_EQ(error_of({.max_length = 600}),
            "max_length: 600 is more than the model's 512 positions allow");
  EXPECT_EQ(error_of({.threshold = 1.5}).rfind("threshold: 1.5", 0), 0u);
  EXPECT_EQ(error_of({.batch_tokens = 0}), "batch tokens: must be at least 1");
}

TEST(ClassifyEach, ABadTextGetsItsErrorAndTheOthersTheirVerdicts) {
  // LLM Guard's blank-output test reads the text as Python would: invalid UTF-8 is an error.
  const Classifier c = Classifier::load(kModel, {.threads = 1}, {.preset = Preset::kLlmGuard});
  const std::string bad = "broken \xff\xfe text";
  const std::vector<std::string_view> texts = {"I cannot help with that.", bad,
                                               "Here is the recipe you asked for."};
  EXPECT_THROW(c.classify(texts), Error);
  const auto each = c.classify_each(texts);
  ASSERT_EQ(each.size(), 3u);
  EXPECT_TRUE(each[0].ok());
  EXPECT_FALSE(each[1].ok());
  EXPECT_NE(each[1].error.find("UTF-8"), std::string::npos) << each[1].error;
  EXPECT_TRUE(each[2].ok());
  // The good texts get exactly the verdicts they get on their own.
  const std::vector<std::string_view> good = {texts[0], texts[2]};
  const auto alone = c.classify(good);
  EXPECT_EQ(each[0].verdict.scores, alone[0].scores);
  EXPECT_EQ(each[2].verdict.scores, alone[1].scores);
  EXPECT_EQ(each[2].verdict.label, alone[1].label);
}

}  // namespace
}  // namespace refusal
