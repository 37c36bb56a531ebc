// Training BERT: a bare BertModel (with or without the `bert.` prefix) or a bare RobertaModel
// gets its classification head like transformers gives it; the folder the trainer saves from
// BERT loads in transformers with the same logits (tests/data/train/tiny-bert-trained and its
// .logits.json, from scripts/vectors/make_train_vectors.py bert); tokenizer files are copied with
// tokenizer.json's truncation and padding set to null; dropout sits where BERT has it.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "model/safetensors.h"
#include "refusal/engine.h"
#include "refusal/error.h"
#include "test_support.h"
#include "train/tiny_runs.h"
#include "train/trainer.h"

namespace refusal::train {
namespace {

namespace fs = std::filesystem;
using tiny::bert_options;
using tiny::bert_toy_data;
using tiny::bert_trainer_from_base;
const fs::path kModels = "tests/data/models";
const fs::path kBase = tiny::kBertBase;

std::vector<float> tensor_values(const fs::path& file, const std::string& name) {
  model::SafetensorsFile f(file);
  const auto it = f.tensors().find(name);
  if (it == f.tensors().end()) throw Error("test: no tensor " + name + " in " + file.string());
  std::vector<float> owned;
  const auto v = model::as_float(it->second, owned);
  return {v.begin(), v.end()};
}

std::vector<float> param_values(const Params& p, const std::string& name) {
  const auto& t = p.tensor(name);
  return {p.data.begin() + static_cast<std::ptrdiff_t>(t.offset),
          p.data.begin() + static_cast<std::ptrdiff_t>(t.offset + t.size)};
}

TEST(BertInit, BareBertModelGetsAHeadLikeTransformers) {
  for (const char* folder : {"tiny-bert-base", "tiny-bert-base-prefixed"}) {
    const auto config = load_train_config(kModels / folder / "config.json");
    auto params = Params::layout(config.model);
    EXPECT_EQ(params.tensors.front().name, "bert.embeddings.word_embeddings.weight");
    EXPECT_EQ(params.tensors.back().name, "classifier.bias");
    const auto fresh = load_params(params, {kModels / folder / "model.safetensors"}, &config, 42);
    EXPECT_EQ(fresh, (std::vector<std::string>{"classifier.weight", "classifier.bias"})) << folder;
    // The pooler and the encoder come from the checkpoint...
    EXPECT_EQ(
        param_values(params, "bert.pooler.dense.weight"),
        tensor_values(kModels / "tiny-bert-f32/model.safetensors", "bert.pooler.dense.weight"));
    EXPECT_EQ(param_values(params, "bert.encoder.layer.1.output.dense.weight"),
              tensor_values(kModels / "tiny-bert-f32/model.safetensors",
                            "bert.encoder.layer.1.output.dense.weight"));
    // ... the classifier is normal(0, initializer_range), bias 0, the same for the same seed.
    const auto w = param_values(params, "classifier.weight");
    double sum = 0, sq = 0;
    for (float v : w) {
      sum += v;
      sq += static_cast<double>(v) * v;
    }
    const double mean = sum / static_cast<double>(w.size());
    const double sd = std::sqrt(sq / static_cast<double>(w.size()) - mean * mean);
    EXPECT_NEAR(sd, config.initializer_range, 0.006);
    EXPECT_NEAR(mean, 0.0, 0.01);
    EXPECT_EQ(param_values(params, "classifier.bias"), std::vector<float>(2, 0.0f));
    auto again = Params::layout(config.model);
    load_params(again, {kModels / folder / "model.safetensors"}, &config, 42);
    EXPECT_EQ(again.data, params.data);
    auto other_seed = Params::layout(config.model);
    load_params(other_seed, {kModels / folder / "model.safetensors"}, &config, 43);
    EXPECT_NE(other_seed.data, params.data);
  }
  // A classifier folder needs nothing new.
  const auto config = load_train_config(kModels / "tiny-bert-f32/config.json");
  auto params = Params::layout(config.model);
  EXPECT_TRUE(
      load_params(params, {kModels / "tiny-bert-f32/model.safetensors"}, &config, 1).empty());
}

// --config: a fresh BERT is initialised like transformers' _init_weights (the word
// embeddings' padding row 0; BERT's position embeddings have no padding row).
TEST(BertInit, FreshConfig) {
  const auto config = load_train_config(kModels / "tiny-bert-f32/config.json");
  auto params = Params::layout(config.model);
  init_params(params, config, 7);
  const auto word = param_values(params, "bert.embeddings.word_embeddings.weight");
  const auto pos = param_values(params, "bert.embeddings.position_embeddings.weight");
  EXPECT_EQ(std::vector<float>(word.begin(), word.begin() + 32), std::vector<float>(32, 0.0f));
  EXPECT_NE(std::vector<float>(pos.begin(), pos.begin() + 32), std::vector<float>(32, 0.0f));
  EXPECT_EQ(param_values(params, "bert.embeddings.LayerNorm.weight"), std::vector<float>(32, 1.0f));
  EXPECT_EQ(param_values(params, "bert.pooler.dense.bias"), std::vector<float>(32, 0.0f));
  EXPECT_NE(param_values(params, "bert.pooler.dense.weight"), std::vector<float>(32 * 32, 0.0f));
  EXPECT_EQ(params.tensors.size(), 41u);
}

// A bare BertModel without a pooler (add_pooling_layer=False) gets a fresh pooler too.
TEST(BertInit, MissingPoolerIsInitialised) {
  testing::TempDir dir;
  testing::copy_folder(kBase, dir.path());
  std::vector<model::TensorData> tensors;
  std::vector<std::vector<std::byte>> copies;
  copies.reserve(64);
  {
    model::SafetensorsFile file(dir / "model.safetensors");
    for (const auto& [name, t] : file.tensors()) {
      if (name.rfind("pooler.", 0) == 0) continue;
      copies.emplace_back(t.data.begin(), t.data.end());
      tensors.push_back({name, t.dtype, t.shape, copies.back()});
    }
    model::write_safetensors(dir / "w.safetensors", tensors);
  }
  const auto config = load_train_config(dir / "config.json");
  auto params = Params::layout(config.model);
  const auto fresh = load_params(params, {dir / "w.safetensors"}, &config, 5);
  EXPECT_EQ(fresh, (std::vector<std::string>{"bert.pooler.dense.weight", "bert.pooler.dense.bias",
                                             "classifier.weight", "classifier.bias"}));
}

// The same for RoBERTa: a bare RobertaModel (no prefix) gets classifier.dense and out_proj.
TEST(BertInit, BareRobertaModelGetsAHeadToo) {
  testing::TempDir dir;
  testing::copy_folder(kModels / "tiny-roberta-f32", dir.path());
  auto cfg = testing::read_json(dir / "config.json");
  cfg["architectures"] = {"RobertaModel"};
  testing::write_text(dir / "config.json", cfg.dump(2));
  std::vector<model::TensorData> tensors;
  std::vector<std::vector<std::byte>> copies;
  copies.reserve(64);
  {
    model::SafetensorsFile file(dir / "model.safetensors");
    for (const auto& [name, t] : file.tensors()) {
      if (name.rfind("classifier.", 0) == 0) continue;
      copies.emplace_back(t.data.begin(), t.data.end());
      tensors.push_back(
          {name.substr(std::string("roberta.").size()), t.dtype, t.shape, copies.back()});
    }
    model::write_safetensors(dir / "w.safetensors", tensors);
  }
  fs::rename(dir / "w.safetensors", dir / "model.safetensors");
  try {
    Engine::load(dir.path().string());
    ADD_FAILURE() << "a bare RobertaModel classified";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("a bare RobertaModel"), std::string::npos) << e.what();
  }
  const auto config = load_train_config(dir / "config.json");
  auto params = Params::layout(config.model);
  const auto fresh = load_params(params, {dir / "model.safetensors"}, &config, 5);
  EXPECT_EQ(fresh,
            (std::vector<std::string>{"classifier.dense.weight", "classifier.dense.bias",
                                      "classifier.out_proj.weight", "classifier.out_proj.bias"}));
  EXPECT_EQ(param_values(params, "roberta.encoder.layer.0.attention.self.key.weight"),
            tensor_values(kModels / "tiny-roberta-f32/model.safetensors",
                          "roberta.encoder.layer.0.attention.self.key.weight"));
}

// transformers loads the BertForSequenceClassification the trainer saved (fine-tuned from a
// bare BertModel; tests/data/train/tiny-bert-trained, written by write_tiny_trained) with the
// logits our engine gives (<= 1e-4); retraining gives the same model.
TEST(BertTrainer, SavedFolderMatchesTransformers) {
  std::ifstream in("tests/data/train/tiny-bert-trained.logits.json");
  ASSERT_TRUE(in) << "tests/data/train/tiny-bert-trained.logits.json";
  const auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j["architectures"], nlohmann::json::array({"BertForSequenceClassification"}));
  const auto seqs = j["sequences"].get<std::vector<std::vector<std::int32_t>>>();
  const auto ref = j["logits"].get<std::vector<std::vector<double>>>();
  const Engine engine = Engine::load("tests/data/train/tiny-bert-trained", {.threads = 1});
  EXPECT_EQ(engine.config().model_type, "bert");
  const auto ours = engine.classify(seqs);
  Trainer t = bert_trainer_from_base(bert_options());
  tiny::train_tiny_bert(t);
  const auto retrained = t.model().forward(seqs, {}, {}, {}, t.pool());
  double worst_engine = 0, worst_retrained = 0;
  for (std::size_t i = 0; i < seqs.size(); ++i) {
    for (std::size_t k = 0; k < 2; ++k) {
      worst_engine = std::max(worst_engine, std::abs(ours[i].logits[k] - ref[i][k]));
      worst_retrained =
          std::max(worst_retrained, std::abs(retrained.logits[i * 2 + k] - ref[i][k]));
    }
  }
  std::printf("BERT: max |logit - transformers|: engine %.3g, retrained %.3g\n", worst_engine,
              worst_retrained);
  EXPECT_LE(worst_engine, 1e-4);
  EXPECT_LE(worst_retrained, 1e-3);
}

// What save_hf_folder writes for BERT: a standard BertForSequenceClassification folder, in F32
// and F16, with the tokenizer files, tokenizer.json's truncation and padding set to null.
TEST(BertTrainer, SavesAStandardFolder) {
  testing::TempDir tok;
  testing::write_text(
      tok / "tokenizer.json",
      R"({"version": "1.0", "truncation": {"max_length": 128, "strategy": "LongestFirst", "stride": 0},)"
      R"( "padding": {"strategy": {"Fixed": 128}, "pad_id": 0}, "model": {"type": "WordPiece", "vocab": {"[PAD]": 0, "b": 2, "a": 1}}})");
  testing::write_text(tok / "vocab.txt", "[PAD]\na\nb\n");
  testing::write_text(tok / "tokenizer_config.json", R"({"tokenizer_class": "BertTokenizer"})");
  testing::write_text(tok / "special_tokens_map.json", R"({"pad_token": "[PAD]"})");
  TrainOptions o = bert_options();
  o.epochs = 1;
  Trainer t = bert_trainer_from_base(o);
  const auto data = bert_toy_data(16);
  t.fit(data, {});
  testing::TempDir out;
  std::vector<std::vector<std::int32_t>> batch;
  for (std::size_t i = 0; i < 6; ++i) batch.push_back(data[i].ids);
  const auto want = t.model().forward(batch, {}, {}, {}, t.pool());
  for (const std::string dtype : {"f32", "f16"}) {
    const fs::path dir = out / dtype;
    save_hf_folder(dir, t.model().params(), kBase / "config.json", {"NORMAL", "REJECTION"}, dtype,
                   tok.path(), t.model().config().model);
    const auto config = testing::read_json(dir / "config.json");
    EXPECT_EQ(config["architectures"], nlohmann::json::array({"BertForSequenceClassification"}));
    EXPECT_EQ(config["model_type"], "bert");
    EXPECT_EQ(config["id2label"]["1"], "REJECTION");
    EXPECT_EQ(config["label2id"]["NORMAL"], 0);
    EXPECT_EQ(config["problem_type"], "single_label_classification");
    for (const char* f : {"vocab.txt", "tokenizer_config.json", "special_tokens_map.json"}) {
      EXPECT_EQ(testing::read_text(dir / f), testing::read_text(tok / f)) << f;
    }
    const auto tj = testing::read_json(dir / "tokenizer.json");
    EXPECT_TRUE(tj.contains("truncation") && tj["truncation"].is_null());
    EXPECT_TRUE(tj.contains("padding") && tj["padding"].is_null());
    EXPECT_EQ(tj["model"]["vocab"]["b"], 2);
    model::SafetensorsFile weights(dir / "model.safetensors");
    EXPECT_EQ(weights.tensors().size(), 41u);
    EXPECT_TRUE(weights.tensors().count("bert.embeddings.token_type_embeddings.weight"));
    EXPECT_TRUE(weights.tensors().count("bert.pooler.dense.weight"));
    EXPECT_TRUE(weights.tensors().count("classifier.weight"));
    const Engine engine = Engine::load(dir.string(), {.threads = 1});
    EXPECT_EQ(engine.weight_dtypes(), std::vector<std::string>{dtype == "f16" ? "F16" : "F32"});
    const auto got = engine.classify(batch);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      for (std::size_t k = 0; k < 2; ++k) {
        EXPECT_NEAR(got[i].logits[k], want.logits[i * 2 + k], dtype == "f16" ? 2e-2 : 1e-4);
      }
    }
  }
}

// BERT's head drops out after the pooler only (RoBERTa: before and after its dense layer); the
// backward pass with dropout on agrees with finite differences of the forward pass.
TEST(BertTrainer, DropoutGradientsMatchFiniteDifferences) {
  const auto config = load_train_config(kModels / "tiny-bert-f32/config.json");
  auto params = Params::layout(config.model);
  load_params(params, {kModels / "tiny-bert-f32/model.safetensors"});
  TrainModel m(config, params);
  base::ThreadPool pool(2);
  const auto data = bert_toy_data(4);
  std::vector<std::vector<std::int32_t>> seqs;
  std::vector<int> labels;
  for (const auto& e : data) {
    seqs.push_back(e.ids);
    labels.push_back(e.label);
  }
  const DropoutSpec drop{.enabled = true, .seed = 3, .key = 9};
  m.forward(seqs, labels, {}, drop, pool);
  std::vector<float> grad(m.params().data.size(), 0.0f);
  m.backward(1.0f, grad, pool);
  int checked = 0;
  for (const char* name :
       {"classifier.weight", "bert.pooler.dense.weight", "bert.encoder.layer.1.output.dense.bias",
        "bert.embeddings.token_type_embeddings.weight",
        "bert.embeddings.position_embeddings.weight"}) {
    const auto& t = m.params().tensor(name);
    // The element with the largest gradient: finite differences in fp32 need a big signal.
    std::size_t best = 0;
    for (std::size_t i = 0; i < t.size; ++i) {
      if (std::abs(grad[t.offset + i]) > std::abs(grad[t.offset + best])) best = i;
    }
    float& w = m.params().data[t.offset + best];
    const float saved = w, h = 1e-2f;
    w = saved + h;
    const double up = m.forward(seqs, labels, {}, drop, pool).loss;
    w = saved - h;
    const double down = m.forward(seqs, labels, {}, drop, pool).loss;
    w = saved;
    const double numeric = (up - down) / (2.0 * h);
    const double analytic = grad[t.offset + best];
    EXPECT_NEAR(analytic, numeric, 0.02 * std::abs(numeric) + 1e-5) << name;
    ++checked;
  }
  EXPECT_EQ(checked, 5);
  // Dropout changes the logits, and the same key gives the same masks.
  const auto off = m.forward(seqs, labels, {}, {}, pool);
  const auto a = m.forward(seqs, labels, {}, drop, pool);
  const auto b = m.forward(seqs, labels, {}, drop, pool);
  EXPECT_NE(off.logits, a.logits);
  EXPECT_EQ(a.logits, b.logits);
}

}  // namespace
}  // namespace refusal::train
