// Gradients of every parameter tensor against PyTorch autograd (float64 reference, dropout
// off) on tests/data/models/tiny-roberta-f32: scripts/make_train_vectors.py wrote the vectors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/safetensors.h"
#include "train/train_model.h"

namespace refusal::train {
namespace {

const std::filesystem::path kModel = "tests/data/models/tiny-roberta-f32";
const std::filesystem::path kVectors = "tests/data/train";

TrainModel load_tiny() {
  auto config = load_train_config(kModel / "config.json");
  auto params = Params::layout(config.model);
  load_params(params, {kModel / "model.safetensors"});
  return TrainModel(config, std::move(params));
}

class GradientTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GradientTest, EveryTensorMatchesAutograd) {
  std::ifstream in(kVectors / "grad_vectors.json");
  const auto j = nlohmann::json::parse(in);
  const auto seqs = j["sequences"].get<std::vector<std::vector<std::int32_t>>>();
  const auto labels = j["labels"].get<std::vector<int>>();
  const auto& kase = j["cases"][GetParam()];
  std::vector<float> weights;
  if (!kase["class_weights"].is_null()) weights = kase["class_weights"].get<std::vector<float>>();
  model::SafetensorsFile ref(kVectors / "grad_vectors.safetensors");

  for (int threads : {1, 2}) {
    base::ThreadPool pool(threads);
    TrainModel m = load_tiny();
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
      const auto it = ref.tensors().find(GetParam() + "." + t.name);
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
    std::printf("%s, %d threads: worst relative error %.3g (%s)\n", GetParam().c_str(), threads,
                worst, worst_name.c_str());
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, GradientTest, ::testing::Values("plain", "weighted"));

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

}  // namespace
}  // namespace refusal::train
