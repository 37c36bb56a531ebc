// Portable versions of the ops that also have AVX-512 ones (ops_isa.h): the reference level's,
// and every level's that lacks its own. Plain loops for any x86-64 (or any CPU).
#include <algorithm>
#include <cmath>

#include "kernels/ops_isa.h"

namespace refusal::kernels::reference {

void gelu_erf(const float* x, float* out, std::size_t n) {
  constexpr float kInvSqrt2 = 0.70710678118654752440f;
  for (std::size_t j = 0; j < n; ++j) out[j] = 0.5f * x[j] * (1.0f + std::erf(x[j] * kInvSqrt2));
}

void softmax_rows(float* x, std::size_t rows, std::size_t width, std::size_t ld) {
  for (std::size_t r = 0; r < rows; ++r) {
    float* row = x + r * ld;
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

void layernorm(float* x, const float* residual, std::size_t rows, std::size_t width,
               const float* gamma, const float* beta, float eps, float* out, float* mean,
               float* rstd) {
  for (std::size_t r = 0; r < rows; ++r) {
    float* row = x + r * width;
    if (residual != nullptr) {
      const float* res = residual + r * width;
      for (std::size_t j = 0; j < width; ++j) row[j] += res[j];
    }
    // Two passes in double: the mean first, then the variance around it, as PyTorch does.
    double sum = 0.0;
    for (std::size_t j = 0; j < width; ++j) sum += row[j];
    const double mean_d = sum / static_cast<double>(width);
    double sq = 0.0;
    for (std::size_t j = 0; j < width; ++j) {
      const double d = row[j] - mean_d;
      sq += d * d;
    }
    const double var = sq / static_cast<double>(width);
    const float inv = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(eps)));
    const float m = static_cast<float>(mean_d);
    if (mean != nullptr) mean[r] = m;
    if (rstd != nullptr) rstd[r] = inv;
    float* o = out + r * width;
    for (std::size_t j = 0; j < width; ++j) o[j] = (row[j] - m) * inv * gamma[j] + beta[j];
  }
}

}  // namespace refusal::kernels::reference
