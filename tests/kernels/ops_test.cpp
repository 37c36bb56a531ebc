// Element-wise kernels: every ISA level against plain double-precision formulas.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/dispatch.h"
#include "kernels/kernels.h"

namespace refusal::kernels {
namespace {

std::vector<Isa> levels() {
  std::vector<Isa> out = {Isa::kReference};
  if (max_isa() >= Isa::kAvx2) out.push_back(Isa::kAvx2);
  if (max_isa() >= Isa::kAvx512) out.push_back(Isa::kAvx512);
  return out;
}

struct IsaScope {
  explicit IsaScope(Isa isa) { detail::set_isa_override(isa); }
  ~IsaScope() { detail::set_isa_override(std::nullopt); }
};

TEST(Ops, GeluMatchesErfAtEveryLevel) {
  std::vector<float> input;
  for (int i = -12000; i <= 12000; ++i) input.push_back(static_cast<float>(i) / 1000.0f);
  input.push_back(-100.0f);
  input.push_back(100.0f);
  for (Isa isa : levels()) {
    IsaScope scope(isa);
    for (std::size_t n : {input.size(), std::size_t{1}, std::size_t{15}, std::size_t{17}}) {
      std::vector<float> x(input.begin(), input.begin() + static_cast<std::ptrdiff_t>(n));
      gelu_erf(x.data(), x.size());
      for (std::size_t i = 0; i < n; ++i) {
        const double v = input[i];
        const double want = 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
        EXPECT_NEAR(x[i], want, 2e-7 * std::max(1.0, std::abs(v)))
            << "x=" << v << " isa " << isa_name(isa);
      }
    }
  }
}

TEST(Ops, SoftmaxMatchesAtEveryLevel) {
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 4.0f);
  for (Isa isa : levels()) {
    IsaScope scope(isa);
    for (std::size_t width : {1, 5, 16, 17, 64, 511}) {
      const std::size_t rows = 3;
      std::vector<float> x(rows * width);
      for (auto& v : x) v = dist(rng);
      x[0] = -1e30f;  // a masked-out score
      const std::vector<float> input = x;
      softmax_rows(x.data(), rows, width);
      for (std::size_t r = 0; r < rows; ++r) {
        double top = -INFINITY, sum = 0.0;
        for (std::size_t j = 0; j < width; ++j) top = std::max<double>(top, input[r * width + j]);
        for (std::size_t j = 0; j < width; ++j) sum += std::exp(input[r * width + j] - top);
        for (std::size_t j = 0; j < width; ++j) {
          const double want = std::exp(input[r * width + j] - top) / sum;
          EXPECT_NEAR(x[r * width + j], want, 1e-6 * std::max(1.0, want))
              << "width " << width << " isa " << isa_name(isa);
        }
      }
    }
  }
}

TEST(Ops, LayerNormMatchesAtEveryLevel) {
  std::mt19937 rng(5);
  std::normal_distribution<float> dist(0.3f, 2.0f);
  for (Isa isa : levels()) {
    IsaScope scope(isa);
    for (std::size_t width : {1, 7, 16, 33, 384, 768}) {
      for (bool with_residual : {false, true}) {
        const std::size_t rows = 3;
        std::vector<float> x(rows * width), res(rows * width), gamma(width), beta(width);
        for (auto* v : {&x, &res, &gamma, &beta}) {
          for (auto& f : *v) f = dist(rng);
        }
        const std::vector<float> input = x;
        add_layer_norm(x.data(), with_residual ? res.data() : nullptr, rows, width, gamma.data(),
                       beta.data(), 1e-5f);
        for (std::size_t r = 0; r < rows; ++r) {
          std::vector<double> v(width);
          double mean = 0.0, var = 0.0;
          for (std::size_t j = 0; j < width; ++j) {
            v[j] = static_cast<double>(input[r * width + j]) +
                   (with_residual ? static_cast<double>(res[r * width + j]) : 0.0);
            mean += v[j] / static_cast<double>(width);
          }
          for (std::size_t j = 0; j < width; ++j)
            var += (v[j] - mean) * (v[j] - mean) / static_cast<double>(width);
          for (std::size_t j = 0; j < width; ++j) {
            const double want = (v[j] - mean) / std::sqrt(var + 1e-5) * gamma[j] + beta[j];
            EXPECT_NEAR(x[r * width + j], want, 2e-5 * std::max(1.0, std::abs(want)))
                << "width " << width << " isa " << isa_name(isa);
          }
        }
      }
    }
  }
}

// One head of a fused QKV buffer (row stride 3·hidden), against double-precision attention.
TEST(Ops, AttentionHeadMatchesAtEveryLevel) {
  std::mt19937 rng(11);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (Isa isa : levels()) {
    IsaScope scope(isa);
    for (std::size_t head_dim : {16, 32, 64}) {
      for (std::size_t len : {1, 5, 6, 31, 33, 130}) {
        for (std::size_t queries : {std::size_t{1}, len}) {
          const std::size_t hidden = 2 * head_dim, ld = 3 * hidden;
          std::vector<float> qkv(len * ld);
          for (auto& f : qkv) f = dist(rng);
          const float* q = qkv.data() + head_dim;  // the second head
          const float* k = q + hidden;
          const float* v = q + 2 * hidden;
          const std::size_t ldo = hidden + 3;
          std::vector<float> out(queries * ldo, -7.0f);
          std::vector<float> scratch(attention_scratch_floats(queries, len, head_dim));
          const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
          attention_head(queries, len, head_dim, scale, q, k, v, ld, out.data() + 1, ldo,
                         scratch.data());
          for (std::size_t i = 0; i < queries; ++i) {
            std::vector<double> p(len);
            double top = -INFINITY, sum = 0.0;
            for (std::size_t j = 0; j < len; ++j) {
              double dot = 0.0;
              for (std::size_t d = 0; d < head_dim; ++d)
                dot += static_cast<double>(q[i * ld + d]) * k[j * ld + d];
              p[j] = dot * scale;
              top = std::max(top, p[j]);
            }
            for (auto& e : p) sum += (e = std::exp(e - top));
            for (std::size_t d = 0; d < head_dim; ++d) {
              double want = 0.0;
              for (std::size_t j = 0; j < len; ++j) want += p[j] / sum * v[j * ld + d];
              EXPECT_NEAR(out[i * ldo + 1 + d], want, 1e-5)
                  << "head_dim " << head_dim << " len " << len << " isa " << isa_name(isa);
            }
            EXPECT_EQ(out[i * ldo], -7.0f);  // nothing written outside the head's columns
            EXPECT_EQ(out[i * ldo + 1 + head_dim], -7.0f);
          }
        }
      }
    }
  }
}

// The ops reach the kernels of the forced level through one table, chosen once per level.
TEST(Ops, RunTheForcedLevelsTable) {
  for (Isa isa : levels()) {
    IsaScope scope(isa);
    EXPECT_EQ(&active_kernels(), &kernel_table(isa)) << isa_name(isa);
    EXPECT_EQ(active_kernels().isa, isa);
  }
  EXPECT_EQ(active_kernels().isa, max_isa());
  EXPECT_EQ(kernel_table(Isa::kReference).attention_head, nullptr);
}

}  // namespace
}  // namespace refusal::kernels
