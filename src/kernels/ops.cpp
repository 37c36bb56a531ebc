// Element-wise and row-wise kernels: plain loops the compiler vectorises.
#include <algorithm>
#include <cmath>

#include "kernels/cpu_features.h"
#include "kernels/kernels.h"
#include "kernels/ops_isa.h"

namespace refusal::kernels {

void add_layer_norm(float* x, const float* residual, std::size_t rows, std::size_t width,
                    const float* gamma, const float* beta, float eps) {
  if (active_isa() == Isa::kAvx512)
    return avx512::add_layer_norm(x, residual, rows, width, gamma, beta, eps);
  for (std::size_t r = 0; r < rows; ++r) {
    float* row = x + r * width;
    if (residual != nullptr) {
      const float* res = residual + r * width;
      for (std::size_t j = 0; j < width; ++j) row[j] += res[j];
    }
    // Two passes in double: the mean first, then the variance around it, as PyTorch does.
    double sum = 0.0;
    for (std::size_t j = 0; j < width; ++j) sum += row[j];
    const double mean = sum / static_cast<double>(width);
    double sq = 0.0;
    for (std::size_t j = 0; j < width; ++j) {
      const double d = row[j] - mean;
      sq += d * d;
    }
    const double var = sq / static_cast<double>(width);
    const float inv = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(eps)));
    const float m = static_cast<float>(mean);
    for (std::size_t j = 0; j < width; ++j) row[j] = (row[j] - m) * inv * gamma[j] + beta[j];
  }
}

void gelu_erf(float* x, std::size_t n) {
  if (active_isa() == Isa::kAvx512) return avx512::gelu_erf(x, n);
  constexpr float kInvSqrt2 = 0.70710678118654752440f;
  for (std::size_t j = 0; j < n; ++j) x[j] = 0.5f * x[j] * (1.0f + std::erf(x[j] * kInvSqrt2));
}

void gelu_tanh(float* x, std::size_t n) {
  constexpr float kSqrt2OverPi = 0.79788456080286535588f;
  for (std::size_t j = 0; j < n; ++j) {
    const float v = x[j];
    x[j] = 0.5f * v * (1.0f + std::tanh(kSqrt2OverPi * (v + 0.044715f * v * v * v)));
  }
}

void relu(float* x, std::size_t n) {
  for (std::size_t j = 0; j < n; ++j) x[j] = std::max(x[j], 0.0f);
}

void silu(float* x, std::size_t n) {
  for (std::size_t j = 0; j < n; ++j) x[j] = x[j] / (1.0f + std::exp(-x[j]));
}

void tanh_inplace(float* x, std::size_t n) {
  for (std::size_t j = 0; j < n; ++j) x[j] = std::tanh(x[j]);
}

void softmax_rows(float* x, std::size_t rows, std::size_t width) {
  if (active_isa() == Isa::kAvx512) return avx512::softmax_rows(x, rows, width, width);
  for (std::size_t r = 0; r < rows; ++r) {
    float* row = x + r * width;
    const float top = *std::max_element(row, row + width);
    float sum = 0.0f;
    for (std::size_t j = 0; j < width; ++j) {
      row[j] = std::exp(row[j] - top);
      sum += row[j];
    }
    const float inv = 1.0f / sum;
    for (std::size_t j = 0; j < width; ++j) row[j] *= inv;
  }
}

namespace {
bool fast_attention(std::size_t head_dim) {
  return active_isa() == Isa::kAvx512 && (head_dim == 32 || head_dim == 64);
}
}  // namespace

std::size_t attention_scratch_floats(std::size_t queries, std::size_t len, std::size_t head_dim) {
  if (fast_attention(head_dim)) return avx512::attention_scratch_floats(len, head_dim);
  return queries * len;
}

void attention_head(std::size_t queries, std::size_t len, std::size_t head_dim, float scale,
                    const float* q, const float* k, const float* v, std::size_t ld, float* out,
                    std::size_t ldo, float* scratch) {
  if (fast_attention(head_dim)) {
    return avx512::attention_head(queries, len, head_dim, scale, q, k, v, ld, out, ldo, scratch);
  }
  gemm_nt(queries, len, head_dim, scale, q, ld, k, ld, scratch, len);
  softmax_rows(scratch, queries, len);
  gemm_nn(queries, head_dim, len, scratch, len, v, ld, out, ldo);
}

}  // namespace refusal::kernels
