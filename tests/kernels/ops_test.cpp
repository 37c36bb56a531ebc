// The ops of kernels/ops.h: the forwards at every ISA level against plain double-precision
// formulas, the backwards against central finite differences of double-precision forwards.
#include "kernels/ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/dispatch.h"
#include "kernels/gemm_kernels.h"
#include "kernels/ops_isa.h"

namespace refusal::kernels {
namespace {

std::vector<Isa> levels() {
  std::vector<Isa> out = {Isa::kReference};
  if (max_isa() >= Isa::kAvx2) out.push_back(Isa::kAvx2);
  if (max_isa() >= Isa::kAvx512) out.push_back(Isa::kAvx512);
  if (max_isa() >= Isa::kAmx) out.push_back(Isa::kAmx);
  return out;
}

struct IsaScope {
  explicit IsaScope(Isa isa) { detail::set_isa_override(isa); }
  ~IsaScope() { detail::set_isa_override(std::nullopt); }
};

// REFUSAL_ISA=avx2 must run AVX2 code in the hot path of fp32 and int8 inference, not the
// portable loops: the GEMMs, the input conversions and the element- and row-wise ops.
TEST(Ops, TheAvx2TableHoldsAvx2Kernels) {
  if (max_isa() < Isa::kAvx2) GTEST_SKIP() << "no AVX2 on this CPU";
  const KernelTable& t = kernel_table(Isa::kAvx2);
  EXPECT_EQ(t.isa, Isa::kAvx2);
  EXPECT_EQ(t.gemm_fp32, &avx2::gemm_fp32);
  EXPECT_EQ(t.gemm_bf16, &avx2::gemm_bf16);
  EXPECT_EQ(t.gemm_int8, &avx2::gemm_int8);
  EXPECT_EQ(t.prepare_bf16, &avx2::prepare_bf16);
  EXPECT_EQ(t.prepare_int8, &avx2::prepare_int8);
  EXPECT_EQ(t.gelu_erf, &avx2::gelu_erf);
  EXPECT_EQ(t.softmax_rows, &avx2::softmax_rows);
  EXPECT_EQ(t.layernorm, &avx2::layernorm);
  // Forcing the level makes the ops call that table.
  IsaScope scope(Isa::kAvx2);
  EXPECT_EQ(&active_kernels(), &t);
}

TEST(Ops, GeluMatchesErfAtEveryLevel) {
  std::vector<float> input;
  for (int i = -12000; i <= 12000; ++i) input.push_back(static_cast<float>(i) / 1000.0f);
  input.push_back(-100.0f);
  input.push_back(100.0f);
  for (Isa isa : levels()) {
    IsaScope scope(isa);
    for (std::size_t n : {input.size(), std::size_t{1}, std::size_t{15}, std::size_t{17}}) {
      std::vector<float> x(input.begin(), input.begin() + static_cast<std::ptrdiff_t>(n));
      gelu_erf_forward(x.data(), x.data(), x.size());
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
      softmax_forward(x.data(), rows, width);
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
        layernorm_forward(x.data(), with_residual ? res.data() : nullptr, rows, width, gamma.data(),
                          beta.data(), 1e-5f, x.data(), nullptr, nullptr);
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
          attention_forward(queries, len, head_dim, scale, q, k, v, ld, out.data() + 1, ldo,
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

std::vector<float> random_floats(std::size_t n, std::uint32_t seed, float mean = 0.0f,
                                 float sd = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(mean, sd);
  std::vector<float> v(n);
  for (auto& f : v) f = dist(rng);
  return v;
}

// ∂f/∂x_i by central differences of a double-precision function, for every i.
template <typename F>
std::vector<double> numeric_gradient(std::vector<double> x, F&& f, double h = 1e-5) {
  std::vector<double> g(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i];
    x[i] = saved + h;
    const double up = f(x);
    x[i] = saved - h;
    const double down = f(x);
    x[i] = saved;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

std::vector<double> to_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }

// Out of place, with the residual added into x and the statistics kept for the backward pass:
// the same output bits as in place, at every level.
TEST(Ops, LayerNormKeepsItsInputAndStatisticsAtEveryLevel) {
  for (Isa isa : levels()) {
    IsaScope scope(isa);
    for (std::size_t width : {7, 33, 384}) {
      const std::size_t rows = 3;
      const auto x0 = random_floats(rows * width, 21, 0.3f, 2.0f);
      const auto res = random_floats(rows * width, 22);
      const auto gamma = random_floats(width, 23), beta = random_floats(width, 24);
      std::vector<float> in_place = x0;
      layernorm_forward(in_place.data(), res.data(), rows, width, gamma.data(), beta.data(), 1e-12f,
                        in_place.data(), nullptr, nullptr);
      std::vector<float> x = x0, out(rows * width), mean(rows), rstd(rows);
      layernorm_forward(x.data(), res.data(), rows, width, gamma.data(), beta.data(), 1e-12f,
                        out.data(), mean.data(), rstd.data());
      EXPECT_EQ(out, in_place) << "width " << width << " isa " << isa_name(isa);
      for (std::size_t r = 0; r < rows; ++r) {
        double m = 0, var = 0;
        for (std::size_t j = 0; j < width; ++j) {
          EXPECT_EQ(x[r * width + j], x0[r * width + j] + res[r * width + j]);
          m += static_cast<double>(x[r * width + j]) / static_cast<double>(width);
        }
        for (std::size_t j = 0; j < width; ++j) {
          var += (x[r * width + j] - m) * (x[r * width + j] - m) / static_cast<double>(width);
        }
        EXPECT_NEAR(mean[r], m, 1e-6 * std::max(1.0, std::abs(m)));
        EXPECT_NEAR(rstd[r], 1.0 / std::sqrt(var + 1e-12), 1e-6 / std::sqrt(var));
      }
    }
  }
}

TEST(Ops, LayerNormBackwardMatchesFiniteDifferences) {
  const float eps = 1e-5f;
  for (std::size_t width : {1, 7, 33, 384}) {
    const std::size_t rows = 3;
    auto x = random_floats(rows * width, 31, 0.5f, 2.0f);
    const auto gamma = random_floats(width, 32), beta = random_floats(width, 33);
    const auto dout = random_floats(rows * width, 34);
    std::vector<float> out(rows * width), mean(rows), rstd(rows), dx(rows * width);
    layernorm_forward(x.data(), nullptr, rows, width, gamma.data(), beta.data(), eps, out.data(),
                      mean.data(), rstd.data());
    std::vector<double> dgamma(width, 0.5), dbeta(width, -0.25);  // accumulated into
    layernorm_backward(rows, width, x.data(), mean.data(), rstd.data(), gamma.data(), dout.data(),
                       dx.data(), dgamma.data(), dbeta.data());
    // loss = Σ dout ∘ LayerNorm(x), in double; its gradient in x, γ and β.
    auto normalized = [&](const std::vector<double>& v, std::size_t r, std::size_t j) {
      double m = 0, var = 0;
      for (std::size_t i = 0; i < width; ++i) m += v[r * width + i] / static_cast<double>(width);
      for (std::size_t i = 0; i < width; ++i) {
        var += (v[r * width + i] - m) * (v[r * width + i] - m) / static_cast<double>(width);
      }
      return (v[r * width + j] - m) / std::sqrt(var + eps);
    };
    auto loss = [&](const std::vector<double>& v) {
      double l = 0;
      for (std::size_t r = 0; r < rows; ++r) {
        for (std::size_t j = 0; j < width; ++j) {
          l += dout[r * width + j] * (normalized(v, r, j) * gamma[j] + beta[j]);
        }
      }
      return l;
    };
    const auto want_dx = numeric_gradient(to_double(x), loss);
    for (std::size_t i = 0; i < x.size(); ++i) {
      EXPECT_NEAR(dx[i], want_dx[i], 1e-4 * std::max(1.0, std::abs(want_dx[i])))
          << "width " << width << " element " << i;
    }
    for (std::size_t j = 0; j < width; ++j) {
      double want_g = 0.5, want_b = -0.25;
      for (std::size_t r = 0; r < rows; ++r) {
        want_g += dout[r * width + j] * normalized(to_double(x), r, j);
        want_b += dout[r * width + j];
      }
      EXPECT_NEAR(dgamma[j], want_g, 1e-5 * std::max(1.0, std::abs(want_g)));
      EXPECT_NEAR(dbeta[j], want_b, 1e-6 * std::max(1.0, std::abs(want_b)));
    }
  }
}

TEST(Ops, ActivationBackwardsMatchFiniteDifferences) {
  std::vector<float> x;
  for (int i = -8000; i <= 8000; i += 7) x.push_back(static_cast<float>(i) / 1000.0f);
  const auto dout = random_floats(x.size(), 41);
  std::vector<float> dx(x.size()), out(x.size());
  gelu_erf_backward(x.data(), dout.data(), dx.data(), x.size());
  auto gelu = [](double v) { return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))); };
  const double h = 1e-5;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double want = dout[i] * (gelu(x[i] + h) - gelu(x[i] - h)) / (2 * h);
    EXPECT_NEAR(dx[i], want, 1e-6 * std::max(1.0, std::abs(want))) << "gelu' at " << x[i];
  }
  tanh_forward(x.data(), out.data(), x.size());
  tanh_backward(out.data(), dout.data(), dx.data(), x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double want = dout[i] * (std::tanh(x[i] + h) - std::tanh(x[i] - h)) / (2 * h);
    EXPECT_NEAR(out[i], std::tanh(static_cast<double>(x[i])), 1e-7);
    EXPECT_NEAR(dx[i], want, 1e-6 * std::max(1.0, std::abs(want))) << "tanh' at " << x[i];
  }
  // In place, as the model calls them.
  std::vector<float> same = dout;
  gelu_erf_backward(x.data(), same.data(), same.data(), x.size());
  std::vector<float> apart(x.size());
  gelu_erf_backward(x.data(), dout.data(), apart.data(), x.size());
  EXPECT_EQ(same, apart);
}

TEST(Ops, SoftmaxBackwardMatchesFiniteDifferences) {
  for (std::size_t width : {1, 5, 33}) {
    const std::size_t rows = 2;
    const auto scores = random_floats(rows * width, 51, 0.0f, 3.0f);
    const auto dp = random_floats(rows * width, 52);
    std::vector<float> p = scores, ds = dp;
    softmax_forward(p.data(), rows, width);
    softmax_backward(p.data(), ds.data(), rows, width);
    auto loss = [&](const std::vector<double>& s) {
      double l = 0;
      for (std::size_t r = 0; r < rows; ++r) {
        double top = -INFINITY, sum = 0;
        for (std::size_t j = 0; j < width; ++j) top = std::max(top, s[r * width + j]);
        for (std::size_t j = 0; j < width; ++j) sum += std::exp(s[r * width + j] - top);
        for (std::size_t j = 0; j < width; ++j) {
          l += dp[r * width + j] * std::exp(s[r * width + j] - top) / sum;
        }
      }
      return l;
    };
    const auto want = numeric_gradient(to_double(scores), loss);
    for (std::size_t i = 0; i < want.size(); ++i) {
      EXPECT_NEAR(ds[i], want[i], 1e-6 * std::max(1.0, std::abs(want[i]))) << "width " << width;
    }
  }
}

// y = x·Wᵀ + b with row strides, and its gradients, against double sums.
TEST(Ops, LinearForwardAndBackwardMatchDouble) {
  const std::size_t m = 5, n = 7, k = 9, ldx = 11, ldy = 8;
  const auto x = random_floats(m * ldx, 61), w = random_floats(n * k, 62);
  const auto b = random_floats(n, 63), dy = random_floats(m * ldy, 64);
  std::vector<float> y(m * ldy, -7.0f);
  linear_forward(m, n, k, x.data(), ldx, w.data(), b.data(), y.data(), ldy);
  for (std::size_t r = 0; r < m; ++r) {
    for (std::size_t o = 0; o < n; ++o) {
      double want = b[o];
      for (std::size_t i = 0; i < k; ++i)
        want += static_cast<double>(x[r * ldx + i]) * w[o * k + i];
      EXPECT_NEAR(y[r * ldy + o], want, 1e-5);
    }
    EXPECT_EQ(y[r * ldy + n], -7.0f);  // nothing past n columns
  }
  for (bool accumulate : {false, true}) {
    std::vector<float> dw(n * k, 0.5f), db(n, -1.0f), dx(m * ldx, 2.0f);
    linear_backward(m, n, k, x.data(), ldx, w.data(), dy.data(), ldy, dw.data(), db.data(),
                    dx.data(), ldx, accumulate);
    for (std::size_t o = 0; o < n; ++o) {
      double want_b = -1.0;
      for (std::size_t r = 0; r < m; ++r) want_b += dy[r * ldy + o];
      EXPECT_NEAR(db[o], want_b, 1e-5);
      for (std::size_t i = 0; i < k; ++i) {
        double want = 0.5;
        for (std::size_t r = 0; r < m; ++r) {
          want += static_cast<double>(dy[r * ldy + o]) * x[r * ldx + i];
        }
        EXPECT_NEAR(dw[o * k + i], want, 1e-5);
      }
    }
    for (std::size_t r = 0; r < m; ++r) {
      for (std::size_t i = 0; i < k; ++i) {
        double want = accumulate ? 2.0 : 0.0;
        for (std::size_t o = 0; o < n; ++o) {
          want += static_cast<double>(dy[r * ldy + o]) * w[o * k + i];
        }
        EXPECT_NEAR(dx[r * ldx + i], want, 1e-5);
      }
      EXPECT_EQ(dx[r * ldx + k], 2.0f);  // nothing past k columns
    }
  }
}

// One head of a fused QKV buffer, with and without a dropout mask on the probabilities: the
// probabilities kept, the output, and dq, dk, dv against finite differences in double.
TEST(Ops, AttentionBackwardMatchesFiniteDifferences) {
  for (std::size_t head_dim : {4, 32}) {
    for (std::size_t len : {1, 5, 9}) {
      for (bool with_mask : {false, true}) {
        const std::size_t ld = 3 * head_dim + 2, ldo = head_dim + 1;
        const auto qkv = random_floats(len * ld, 71);
        const auto dout = random_floats(len * ldo, 72);
        std::vector<float> mask;
        if (with_mask) {
          mask.resize(len * len);
          dropout_mask(dropout_stream(1, 2, 3), 0, 0.3f, mask.data(), mask.size());
        }
        const float* m = with_mask ? mask.data() : nullptr;
        const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
        const float* q = qkv.data();
        const float* k = q + head_dim;
        const float* v = q + 2 * head_dim;
        std::vector<float> probs(len * len), dropped(len * len), out(len * ldo, -7.0f);
        attention_forward_keep(len, head_dim, scale, q, k, v, ld, m, probs.data(), dropped.data(),
                               out.data(), ldo);
        std::vector<float> dqkv(len * ld, -7.0f), scratch(2 * len * len);
        attention_backward(len, head_dim, scale, q, k, v, ld, probs.data(), m, dout.data(), ldo,
                           dqkv.data(), dqkv.data() + head_dim, dqkv.data() + 2 * head_dim, ld,
                           scratch.data());
        // Double-precision attention over a [len, ld] buffer; loss = Σ dout ∘ out.
        auto attend = [&](const std::vector<double>& b, std::vector<double>* p_out) {
          double l = 0;
          for (std::size_t i = 0; i < len; ++i) {
            std::vector<double> p(len);
            double top = -INFINITY, sum = 0;
            for (std::size_t j = 0; j < len; ++j) {
              double dot = 0;
              for (std::size_t d = 0; d < head_dim; ++d) {
                dot += b[i * ld + d] * b[j * ld + head_dim + d];
              }
              p[j] = dot * scale;
              top = std::max(top, p[j]);
            }
            for (auto& e : p) sum += (e = std::exp(e - top));
            for (std::size_t j = 0; j < len; ++j) {
              p[j] /= sum;
              if (p_out) (*p_out)[i * len + j] = p[j];
            }
            for (std::size_t d = 0; d < head_dim; ++d) {
              double o = 0;
              for (std::size_t j = 0; j < len; ++j) {
                o += p[j] * (with_mask ? mask[i * len + j] : 1.0f) * b[j * ld + 2 * head_dim + d];
              }
              l += dout[i * ldo + d] * o;
            }
          }
          return l;
        };
        std::vector<double> want_probs(len * len);
        attend(to_double(qkv), &want_probs);
        for (std::size_t i = 0; i < len * len; ++i) EXPECT_NEAR(probs[i], want_probs[i], 1e-6);
        const auto want = numeric_gradient(
            to_double(qkv), [&](const std::vector<double>& b) { return attend(b, nullptr); });
        for (std::size_t r = 0; r < len; ++r) {
          for (std::size_t c = 0; c < 3 * head_dim; ++c) {
            EXPECT_NEAR(dqkv[r * ld + c], want[r * ld + c], 1e-4)
                << "head_dim " << head_dim << " len " << len << " mask " << with_mask << " row "
                << r << " column " << c;
          }
          EXPECT_EQ(dqkv[r * ld + 3 * head_dim], -7.0f);  // nothing outside q, k, v
        }
      }
    }
  }
}

TEST(Ops, CrossEntropyMatchesDouble) {
  const std::size_t rows = 4, classes = 3;
  const auto logits = random_floats(rows * classes, 81, 0.0f, 4.0f);
  const std::vector<int> labels = {0, 2, 1, 2};
  const std::vector<float> row_scale = {0.5f, 1.0f, 0.25f, 2.0f};
  std::vector<float> probs(rows * classes), dlogits(rows * classes);
  std::vector<double> nll(rows);
  cross_entropy_forward(rows, classes, logits.data(), labels.data(), probs.data(), nll.data());
  cross_entropy_backward(rows, classes, probs.data(), labels.data(), row_scale.data(),
                         dlogits.data());
  auto loss = [&](const std::vector<double>& lg) {
    double l = 0;
    for (std::size_t r = 0; r < rows; ++r) {
      double sum = 0;
      for (std::size_t j = 0; j < classes; ++j) sum += std::exp(lg[r * classes + j]);
      l += row_scale[r] * (std::log(sum) - lg[r * classes + static_cast<std::size_t>(labels[r])]);
    }
    return l;
  };
  const auto want = numeric_gradient(to_double(logits), loss);
  for (std::size_t r = 0; r < rows; ++r) {
    double sum = 0;
    for (std::size_t j = 0; j < classes; ++j) sum += std::exp(double{logits[r * classes + j]});
    const auto y = static_cast<std::size_t>(labels[r]);
    EXPECT_NEAR(nll[r], std::log(sum) - logits[r * classes + y], 1e-12);
    for (std::size_t j = 0; j < classes; ++j) {
      EXPECT_NEAR(probs[r * classes + j], std::exp(double{logits[r * classes + j]}) / sum, 1e-7);
      EXPECT_NEAR(dlogits[r * classes + j], want[r * classes + j], 1e-6);
    }
  }
}

TEST(Ops, EmbeddingsSumAndScatterTheirRows) {
  const std::size_t width = 3, vocab = 6, max_pos = 5;
  const auto word = random_floats(vocab * width, 91), position = random_floats(max_pos * width, 92);
  const auto type = random_floats(width, 93);
  const std::vector<std::int32_t> ids = {0, 4, 1, 4, 1}, positions = {1, 2, 3, 4, 1};
  std::vector<float> out(ids.size() * width);
  embeddings_forward(ids.size(), width, ids.data(), positions.data(), word.data(), type.data(),
                     position.data(), out.data());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    for (std::size_t j = 0; j < width; ++j) {
      // transformers' order: (word + token type) + position.
      const float want = word[static_cast<std::size_t>(ids[i]) * width + j] + type[j] +
                         position[static_cast<std::size_t>(positions[i]) * width + j];
      EXPECT_EQ(out[i * width + j], want);
    }
  }
  const auto dout = random_floats(ids.size() * width, 94);
  std::vector<float> dword(vocab * width, 0.0f), dposition(max_pos * width, 0.0f), dtype(width);
  // Word 1 and position 1 are padding rows: they get nothing.
  embeddings_backward(ids.size(), width, ids.data(), positions.data(), dout.data(), 1, 1,
                      dword.data(), dtype.data(), dposition.data());
  for (std::size_t j = 0; j < width; ++j) {
    EXPECT_EQ(dword[0 * width + j], dout[0 * width + j]);
    EXPECT_EQ(dword[1 * width + j], 0.0f);
    EXPECT_EQ(dword[4 * width + j], dout[1 * width + j] + dout[3 * width + j]);
    EXPECT_EQ(dposition[1 * width + j], 0.0f);
    EXPECT_EQ(dposition[2 * width + j], dout[1 * width + j]);
    EXPECT_EQ(dposition[4 * width + j], dout[3 * width + j]);
    float all = 0.0f;
    for (std::size_t i = 0; i < ids.size(); ++i) all += dout[i * width + j];
    EXPECT_EQ(dtype[j], all);
  }
}

TEST(Ops, DropoutMasksDependOnlyOnStreamIndexAndPosition) {
  const float p = 0.25f;
  const std::size_t n = 100000;
  const auto stream = dropout_stream(7, 1, 3);
  std::vector<float> mask(n), again(n), other(n);
  dropout_mask(stream, 5, p, mask.data(), n);
  dropout_mask(stream, 5, p, again.data(), n);
  EXPECT_EQ(mask, again);
  std::size_t dropped = 0;
  for (float f : mask) {
    EXPECT_TRUE(f == 0.0f || f == 1.0f / (1.0f - p)) << f;
    dropped += f == 0.0f;
  }
  EXPECT_NEAR(static_cast<double>(dropped) / n, p, 0.01);
  dropout_mask(stream, 6, p, other.data(), n);
  EXPECT_NE(mask, other);
  dropout_mask(dropout_stream(7, 2, 3), 5, p, other.data(), n);
  EXPECT_NE(mask, other);
  EXPECT_NE(dropout_stream(7, 1, 3), dropout_stream(7, 1, 4));
  std::vector<float> x(n, 2.0f);
  dropout_forward(x.data(), mask.data(), n);
  for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(x[i], 2.0f * mask[i]);
  dropout_backward(x.data(), mask.data(), n);
  for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(x[i], 2.0f * mask[i] * mask[i]);
}

}  // namespace
}  // namespace refusal::kernels
