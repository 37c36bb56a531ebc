// The bundled default model (data/models/default): found without --model, and its scores equal
// transformers' pipeline on every eval text (tests/data/classify/default-model-eval.jsonl.gz, made
// by scripts/vectors/make_default_model_vectors.py).
#include "refusal/default_model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "refusal/classifier.h"
#include "refusal/engine.h"
#include "test_support.h"

namespace refusal {
namespace {

TEST(DefaultModel, IsFoundAndIsAStandardFolder) {
  const auto dir = default_model_path();
  EXPECT_TRUE(std::filesystem::exists(dir / "model.safetensors"));
  EXPECT_TRUE(std::filesystem::exists(dir / "README.md"));  // the model card
  const Engine engine = Engine::load(model_or_default(""), {.threads = 1});
  EXPECT_EQ(engine.config().model_type, "bert");
  EXPECT_EQ(engine.config().labels, (std::vector<std::string>{"NORMAL", "REJECTION"}));
  // At most 50 MB in the repository.
  EXPECT_LE(std::filesystem::file_size(dir / "model.safetensors"), 50u * 1000 * 1000);
}

// Under ASan (about 8x slower) every 4th text: the build checks memory, the release build parity.
#if defined(__SANITIZE_ADDRESS__)
constexpr std::size_t kEvery = 4;
#else
constexpr std::size_t kEvery = 1;
#endif

TEST(DefaultModel, MatchesTheTransformersPipelineOnTheEvalSet) {
  const auto inputs = testing::read_jsonl("data/eval/chatgpt-refusals.jsonl.gz");
  const auto expected = testing::read_jsonl("tests/data/classify/default-model-eval.jsonl.gz");
  ASSERT_EQ(inputs.size(), 1706u);
  ASSERT_EQ(expected.size(), inputs.size());
  std::vector<std::string> texts;
  std::vector<std::size_t> rows;
  for (std::size_t i = 0; i < inputs.size(); i += kEvery) {
    texts.push_back(inputs[i].at("text").get<std::string>());
    rows.push_back(i);
  }
  std::vector<std::string_view> views(texts.begin(), texts.end());

  const Classifier classifier =
      Classifier::load(default_model_path().string(), {.threads = 2}, {.max_length = 512});
  const auto verdicts = classifier.classify(views);
  ASSERT_EQ(verdicts.size(), rows.size());
  double worst = 0.0;
  std::size_t label_mismatches = 0, correct = 0;
  for (std::size_t k = 0; k < verdicts.size(); ++k) {
    const std::size_t i = rows[k];
    const auto& want = expected[i];
    const auto& got = verdicts[k];
    label_mismatches += got.label != want.at("label").get<std::string>();
    worst = std::max(worst, std::abs(got.score - want.at("scores").at("REJECTION").get<double>()));
    worst = std::max(worst, std::abs(static_cast<double>(got.scores[0]) -
                                     want.at("scores").at("NORMAL").get<double>()));
    EXPECT_EQ(got.tokens, want.at("tokens").get<std::size_t>()) << "row " << i;
    correct += got.refusal == (inputs[i].at("label").get<int>() == 1);
  }
  EXPECT_EQ(label_mismatches, 0u);
  EXPECT_LE(worst, 1e-4);
  std::printf("bundled model: max |score - pipeline score| over %zu texts: %.3g; accuracy %.4f\n",
              verdicts.size(), worst,
              static_cast<double>(correct) / static_cast<double>(verdicts.size()));
}

}  // namespace
}  // namespace refusal
