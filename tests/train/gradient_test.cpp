// Gradients of every parameter tensor against PyTorch autograd (float64 reference, dropout
// off) on tests/data/models/tiny-roberta-f32 and tiny-bert-f32 (BERT: token-type embeddings,
// positions from 0, pooler + classifier): scripts/vectors/make_train_vectors.py wrote the vectors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/safetensors.h"
#include "refusal/error.h"
#include "train/train_model.h"

namespace refusal::train {
namespace {

const std::filesystem::path kModel = "tests/data/models/tiny-roberta-f32";
const std::filesystem::path kVectors = "tests/data/train";

TrainModel load_tiny(const std::filesystem::path& model = kModel) {
  auto config = load_train_config(model / "config.json");
  auto params = Params::layout(config.model);
  load_params(params, {model / "model.safetensors"});
  return TrainModel(config, std::move(params));
}

struct GradCase {
  std::string model;    // folder under tests/data/models
  std::string vectors;  // file stem under tests/data/train
  std::string kase;     // "plain" or "weighted"
};

void PrintTo(const GradCase& c, std::ostream* os) { *os << c.model << "/" << c.kase; }

class GradientTest : public ::testing::TestWithParam<GradCase> {};

TEST_P(GradientTest, EveryTensorMatchesAutograd) {
  const auto& param = GetParam();
  std::ifstream in(kVectors / (param.vectors + ".json"));
  const auto j = nlohmann::json::parse(in);
  const auto seqs = j["sequences"].get<std::vector<std::vector<std::int32_t>>>();
  const auto labels = j["labels"].get<std::vector<int>>();
  const auto& kase = j["cases"][param.kase];
  std::vector<float> weights;
  if (!kase["class_weights"].is_null()) weights = kase["class_weights"].get<std::vector<float>>();
  model::SafetensorsFile ref(kVectors / (param.vectors + ".safetensors"));

  for (int threads : {1, 2}) {
    base::ThreadPool pool(threads);
    TrainModel m = load_tiny("tests/data/models/" + param.model);
    const auto r = m.forward(seqs, labels, weights, {}, pool);
    EXPECT_NEAR(r.loss, kase["loss"].get<double>(), 1e-5);
    const auto logits = kase["logits"].get<std::vector<double>>();
    ASSERT_EQ(r.logits.size(), logits.size());
    for (std::size_t i = 0; i < logits.size(); ++i) EXPECT_NEAR(r.logits[i], logits[i], 1e-5);
    std::vector<float> grad(m.params().data.size(), 0.0f);
    m.backward(1.0f, grad, pool);
    int checked = 0;
    double worst = 0;
    std::string worst_name;
    for (const auto& t : m.params().tensors) {
      const auto it = ref.tensors().find(param.kase + "." + t.name);
      ASSERT_NE(it, ref.tensors().end()) << t.name;
      std::vector<float> owned;
      const auto g_ref = model::as_float(it->second, owned);
      ASSERT_EQ(g_ref.size(), t.size) << t.name;
      double diff = 0, norm = 0;
      for (std::size_t i = 0; i < t.size; ++i) {
        const double d = static_cast<double>(grad[t.offset + i]) - g_ref[i];
        diff += d * d;
        norm += static_cast<double>(g_ref[i]) * g_ref[i];
      }
      const double rel = std::sqrt(diff) / std::sqrt(norm);
      if (norm < 1e-20) {
        // Mathematically zero (the key bias: softmax ignores a per-query constant); autograd's
        // float64 gives ~1e-17, fp32 rounding ~1e-9.
        EXPECT_LE(std::sqrt(diff), 1e-6) << t.name;
      } else {
        if (rel > worst) {
          worst = rel;
          worst_name = t.name;
        }
        EXPECT_LE(rel, 1e-4) << t.name << " (threads " << threads << ")";
      }
      ++checked;
    }
    EXPECT_EQ(checked, 41);
    std::printf("%s %s, %d threads: worst relative error %.3g (%s)\n", param.model.c_str(),
                param.kase.c_str(), threads, worst, worst_name.c_str());
  }
}

// With dropout on, the masks are drawn per (seed, key, site, index), never per thread: the
// loss and the gradients agree on any thread count (to rounding), so a run can resume on
// another machine.
TEST(Dropout, SameMasksOnEveryThreadCount) {
  std::ifstream in(kVectors / "grad_vectors.json");
  const auto j = nlohmann::json::parse(in);
  const auto seqs = j["sequences"].get<std::vector<std::vector<std::int32_t>>>();
  const auto labels = j["labels"].get<std::vector<int>>();
  const DropoutSpec dropout{.enabled = true, .seed = 42, .key = 3};
  double want_loss = 0;
  std::vector<float> want_grad;
  for (int threads : {1, 2, 3, 4}) {
    base::ThreadPool pool(threads);
    TrainModel m = load_tiny();
    const auto r = m.forward(seqs, labels, {}, dropout, pool);
    std::vector<float> grad(m.params().data.size(), 0.0f);
    m.backward(1.0f, grad, pool);
    if (want_grad.empty()) {
      want_loss = r.loss;
      want_grad = grad;
      TrainModel plain = load_tiny();
      EXPECT_NE(plain.forward(seqs, labels, {}, {}, pool).loss, r.loss) << "dropout had no effect";
    } else {
      // Not bit-equal: some sums are split by thread. A different mask would move the loss by
      // ~1e-2 and the gradients by far more than this.
      EXPECT_NEAR(r.loss, want_loss, 1e-6) << threads << " threads";
      double diff = 0, norm = 0;
      for (std::size_t i = 0; i < grad.size(); ++i) {
        diff += (static_cast<double>(grad[i]) - want_grad[i]) * (grad[i] - want_grad[i]);
        norm += static_cast<double>(want_grad[i]) * want_grad[i];
      }
      EXPECT_LE(std::sqrt(diff / norm), 1e-5) << threads << " threads";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, GradientTest,
                         ::testing::Values(GradCase{"tiny-roberta-f32", "grad_vectors", "plain"},
                                           GradCase{"tiny-roberta-f32", "grad_vectors", "weighted"},
                                           GradCase{"tiny-bert-f32", "bert_grad_vectors", "plain"},
                                           GradCase{"tiny-bert-f32", "bert_grad_vectors",
                                                    "weighted"}),
                         [](const ::testing::TestParamInfo<GradCase>& test) {
                           return (test.param.model == "tiny-bert-f32" ? std::string("bert_")
                                                                       : std::string("roberta_")) +
                                  test.param.kase;
                         });

// Dropout is deterministic in (seed, key) and scales kept units by 1/(1-p).
TEST(Dropout, DeterministicAndDifferentPerKey) {
  base::ThreadPool pool(2);
  TrainModel m = load_tiny();
  const std::vector<std::vector<std::int32_t>> seqs = {{0, 5, 6, 7, 2}, {0, 9, 2}};
  const std::vector<int> labels = {0, 1};
  const auto a = m.forward(seqs, labels, {}, {.enabled = true, .seed = 7, .key = 1}, pool);
  const auto b = m.forward(seqs, labels, {}, {.enabled = true, .seed = 7, .key = 1}, pool);
  const auto c = m.forward(seqs, labels, {}, {.enabled = true, .seed = 7, .key = 2}, pool);
  const auto off = m.forward(seqs, labels, {}, {}, pool);
  EXPECT_EQ(a.logits, b.logits);
  EXPECT_NE(a.logits, c.logits);
  EXPECT_NE(a.logits, off.logits);
}

// A bad label is an error that says which one and why; backward refuses a forward without
// labels.
TEST(TrainModel, BadLabelsSayWhichSequence) {
  base::ThreadPool pool(1);
  TrainModel m = load_tiny();
  const std::vector<std::vector<std::int32_t>> seqs = {{0, 5, 6, 7, 2}, {0, 9, 2}};
  auto message = [&](const std::vector<int>& labels) {
    try {
      m.forward(seqs, labels, {}, {}, pool);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message({0, 2}), "label 2 of sequence 1 is out of range: the model has 2 labels");
  EXPECT_EQ(message({-1, 0}), "label -1 of sequence 0 is out of range: the model has 2 labels");
  EXPECT_EQ(message({0}), "label count 1 does not match the batch's 2 sequences");
  EXPECT_EQ(message(std::vector<int>{}), "no error");  // no labels: logits only
  std::vector<float> grad;
  EXPECT_THROW(m.backward(1.0f, grad, pool), Error);
}

}  // namespace
}  // namespace refusal::train
