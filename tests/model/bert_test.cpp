// BERT in the engine: tiny BertForSequenceClassification folders against transformers
// (tests/data/models/tiny-bert.vectors.json, made by scripts/vectors/make_model_vectors.py bert),
// bare BertModel folders (with and without the `bert.` prefix) refused for classification, the
// ignorable position_ids buffer, and configs without `architectures`.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "model/safetensors.h"
#include "model/weights.h"
#include "refusal/engine.h"
#include "refusal/error.h"
#include "test_support.h"

namespace refusal {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using Batch = std::vector<std::vector<std::int32_t>>;
namespace fs = std::filesystem;
const fs::path kModels = "tests/data/models";

double max_diff(const std::vector<Classification>& got, const nlohmann::json& expected) {
  double worst = 0.0;
  EXPECT_EQ(got.size(), expected.size());
  for (std::size_t s = 0; s < got.size() && s < expected.size(); ++s) {
    const auto want = expected[s].get<std::vector<double>>();
    EXPECT_EQ(got[s].logits.size(), want.size());
    for (std::size_t j = 0; j < want.size() && j < got[s].logits.size(); ++j) {
      worst = std::max(worst, std::abs(static_cast<double>(got[s].logits[j]) - want[j]));
    }
  }
  return worst;
}

double max_diff(const std::vector<Classification>& a, const std::vector<Classification>& b) {
  double worst = 0.0;
  for (std::size_t s = 0; s < a.size(); ++s) {
    for (std::size_t j = 0; j < a[s].logits.size(); ++j) {
      worst = std::max(worst, static_cast<double>(std::abs(a[s].logits[j] - b[s].logits[j])));
    }
  }
  return worst;
}

std::vector<Classification> one_at_a_time(const Engine& engine, const Batch& batch) {
  std::vector<Classification> out;
  for (const auto& seq : batch) out.push_back(engine.classify(Batch{seq})[0]);
  return out;
}

std::string load_error(const fs::path& folder) {
  try {
    Engine::load(folder.string(), {.threads = 1});
  } catch (const Error& e) {
    return e.what();
  }
  return "loaded without error";
}

// Rewrites model.safetensors of `dir` after `edit` changes its tensor list.
void edit_tensors(const fs::path& dir,
                  const std::function<void(std::vector<model::TensorData>&)>& edit) {
  std::vector<model::TensorData> tensors;
  std::vector<std::vector<std::byte>> copies;
  copies.reserve(256);
  {
    model::SafetensorsFile file(dir / "model.safetensors");
    for (const auto& [name, t] : file.tensors()) {
      copies.emplace_back(t.data.begin(), t.data.end());
      tensors.push_back({name, t.dtype, t.shape, copies.back()});
    }
    edit(tensors);
    model::write_safetensors(dir / "rewritten.safetensors", tensors);
  }
  fs::rename(dir / "rewritten.safetensors", dir / "model.safetensors");
}

class TinyBert : public ::testing::TestWithParam<std::string> {};

TEST_P(TinyBert, MatchesTransformersInMixedBatchesAndAlone) {
  const auto vectors = testing::read_json(kModels / "tiny-bert.vectors.json");
  const auto batch = vectors.at("sequences").get<Batch>();
  const auto& expected = vectors.at("folders").at(GetParam());
  // Lengths 1 .. max_position_embeddings (512: BERT positions start at 0).
  std::size_t longest = 0;
  for (const auto& s : batch) longest = std::max(longest, s.size());
  EXPECT_EQ(longest, 512u);
  for (int threads : {1, 2, 3}) {
    const Engine engine = Engine::load((kModels / GetParam()).string(), {.threads = threads});
    const auto batched = engine.classify(batch);
    const auto alone = one_at_a_time(engine, batch);
    EXPECT_LE(max_diff(batched, expected.at("logits_batched")), 1e-4) << "threads " << threads;
    EXPECT_LE(max_diff(alone, expected.at("logits_alone")), 1e-4) << "threads " << threads;
    EXPECT_LE(max_diff(batched, alone), 1e-5) << "threads " << threads;
    for (const auto& r : batched) {
      ASSERT_EQ(r.probabilities.size(), 2u);
      EXPECT_NEAR(r.probabilities[0] + r.probabilities[1], 1.0f, 1e-6f);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(SavePretrainedFolders, TinyBert,
                         ::testing::Values("tiny-bert-f32", "tiny-bert-f16"));

TEST(Bert, ReportsWhatItLoaded) {
  const Engine e = Engine::load((kModels / "tiny-bert-f32").string(), {.threads = 1});
  EXPECT_EQ(e.config().model_type, "bert");
  EXPECT_EQ(e.config().max_tokens(), 512);
  EXPECT_EQ(e.config().pad_token_id, 0);
  EXPECT_EQ(e.config().labels, (std::vector<std::string>{"NORMAL", "REJECTION"}));
  // word + position + type + LN, 2 layers, pooler, classifier.
  EXPECT_EQ(e.parameter_count(),
            1000 * 32 + 512 * 32 + 2 * 32 + 64 +
                2 * (4 * (32 * 32 + 32) + 64 + 32 * 64 + 64 + 64 * 32 + 32 + 64) + 32 * 32 + 32 +
                2 * 32 + 2);
  EXPECT_EQ(Engine::load((kModels / "tiny-bert-f16").string()).weight_dtypes(),
            std::vector<std::string>{"F16"});
  const auto err = [&](const Batch& b) {
    try {
      e.classify(b);
    } catch (const Error& x) {
      return std::string(x.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(err({std::vector<std::int32_t>(513, 5)}),
            "sequence 0: 513 tokens, more than the model's 512 (truncate, or use windows)");
  EXPECT_EQ(e.classify(Batch{std::vector<std::int32_t>(512, 5)}).size(), 1u);
}

// A bare BertModel (what all-MiniLM-L6-v2 is) loads for training but is no classifier.
TEST(Bert, BareBertModelIsRefusedForClassification) {
  for (const char* folder : {"tiny-bert-base", "tiny-bert-base-prefixed"}) {
    EXPECT_THAT(
        load_error(kModels / folder),
        AllOf(HasSubstr(folder), HasSubstr("model.safetensors"), HasSubstr("a bare BertModel"),
              HasSubstr("no classification head"), HasSubstr("fine-tune it with refusal train")))
        << folder;
  }
}

// Both bare layouts bind the same encoder and pooler as the classifier they came from.
TEST(Bert, BareModelsWithAndWithoutPrefixBindTheSameEncoder) {
  const auto config = load_model_config(kModels / "tiny-bert-base/config.json");
  const model::WeightStore full(config, {kModels / "tiny-bert-f32/model.safetensors"});
  for (const char* folder : {"tiny-bert-base", "tiny-bert-base-prefixed"}) {
    const model::WeightStore bare(config, {kModels / folder / "model.safetensors"},
                                  /*require_head=*/false);
    EXPECT_FALSE(bare.weights().has_head);
    const auto& a = bare.weights();
    const auto& b = full.weights();
    ASSERT_EQ(a.layers.size(), 2u);
    EXPECT_TRUE(
        std::equal(a.word_embeddings.begin(), a.word_embeddings.end(), b.word_embeddings.begin()));
    EXPECT_TRUE(std::equal(a.layers[1].output.weight.begin(), a.layers[1].output.weight.end(),
                           b.layers[1].output.weight.begin()));
    ASSERT_FALSE(a.classifier_dense.weight.empty()) << "the pooler";
    EXPECT_TRUE(std::equal(a.classifier_dense.weight.begin(), a.classifier_dense.weight.end(),
                           b.classifier_dense.weight.begin()));
  }
}

TEST(Bert, ClassifiesWithoutArchitecturesAndIgnoresThePositionIdsBuffer) {
  const auto vectors = testing::read_json(kModels / "tiny-bert.vectors.json");
  const auto batch = vectors.at("sequences").get<Batch>();
  testing::TempDir dir;
  testing::copy_folder(kModels / "tiny-bert-f32", dir.path());
  auto config = testing::read_json(dir / "config.json");
  config.erase("architectures");
  testing::write_text(dir / "config.json", config.dump(2));
  std::vector<std::int64_t> ids(512);
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::int64_t>(i);
  edit_tensors(dir.path(), [&](auto& tensors) {
    tensors.push_back({"bert.embeddings.position_ids",
                       model::DType::I64,
                       {1, 512},
                       std::as_bytes(std::span<const std::int64_t>(ids))});
  });
  const Engine engine = Engine::load(dir.path().string(), {.threads = 2});
  EXPECT_LE(max_diff(engine.classify(batch),
                     vectors.at("folders").at("tiny-bert-f32").at("logits_batched")),
            1e-4);
}

TEST(Bert, ErrorsNameTheFileAndTensor) {
  testing::TempDir dir;
  testing::copy_folder(kModels / "tiny-bert-f32", dir.path());
  edit_tensors(dir.path(), [](auto& tensors) {
    std::erase_if(tensors, [](const auto& t) { return t.name == "bert.pooler.dense.bias"; });
  });
  EXPECT_THAT(load_error(dir.path()), AllOf(HasSubstr("missing tensor 'bert.pooler.dense.bias'"),
                                            HasSubstr("model.safetensors")));
  testing::TempDir extra;
  testing::copy_folder(kModels / "tiny-bert-f32", extra.path());
  static const std::vector<float> four(4, 0.0f);
  edit_tensors(extra.path(), [](auto& tensors) {
    tensors.push_back(
        {"cls.predictions.bias", model::DType::F32, {4}, std::as_bytes(std::span(four))});
  });
  EXPECT_THAT(load_error(extra.path()),
              AllOf(HasSubstr("unexpected tensor 'cls.predictions.bias'"),
                    HasSubstr("not part of BertForSequenceClassification")));
  // A RoBERTa config over BERT weights: the first tensor it looks for is missing.
  testing::TempDir mixed;
  testing::copy_folder(kModels / "tiny-bert-f32", mixed.path());
  auto config = testing::read_json(mixed / "config.json");
  config["model_type"] = "roberta";
  config["architectures"] = {"RobertaForSequenceClassification"};
  config["pad_token_id"] = 1;
  testing::write_text(mixed / "config.json", config.dump(2));
  EXPECT_THAT(load_error(mixed.path()),
              HasSubstr("missing tensor 'roberta.embeddings.word_embeddings.weight'"));
  // A BERT architecture name under model_type roberta is refused by the config check.
  config["architectures"] = {"BertForSequenceClassification"};
  testing::write_text(mixed / "config.json", config.dump(2));
  EXPECT_THAT(load_error(mixed.path()),
              AllOf(HasSubstr("field 'architectures'"),
                    HasSubstr("unsupported architecture [\"BertForSequenceClassification\"] for "
                              "model_type 'roberta'")));
}

TEST(Bert, PositionIdsStartAtZero) {
  ModelConfig bert;
  bert.model_type = "bert";
  bert.pad_token_id = 0;
  EXPECT_EQ(position_ids(bert, {2, 0, 7, 3}), (std::vector<std::int32_t>{0, 1, 2, 3}));
  ModelConfig roberta;
  roberta.model_type = "roberta";
  roberta.pad_token_id = 1;
  EXPECT_EQ(position_ids(roberta, {0, 1, 7, 2}), (std::vector<std::int32_t>{2, 1, 3, 4}));
}

}  // namespace
}  // namespace refusal
