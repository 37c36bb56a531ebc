// Element-wise and row-wise kernels: the ones with per-level versions (GELU, softmax,
// LayerNorm, the fused attention head) through the kernel table chosen once (dispatch.h), the
// others plain loops.
#include <algorithm>
#include <cmath>

#include "kernels/dispatch.h"
#include "kernels/kernels.h"

namespace refusal::kernels {

void add_layer_norm(float* x, const float* residual, std::size_t rows, std::size_t width,
                    const float* gamma, const float* beta, float eps) {
  active_kernels().layernorm(x, residual, rows, width, gamma, beta, eps, x, nullptr, nullptr);
}

void gelu_erf(float* x, std::size_t n) { active_kernels().gelu_erf(x, x, n); }

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
  active_kernels().softmax_rows(x, rows, width, width);
}

namespace {
bool fused_attention(const KernelTable& t, std::size_t head_dim) {
  return t.attention_head != nullptr && (head_dim == 32 || head_dim == 64);
}
}  // namespace

std::size_t attention_scratch_floats(std::size_t queries, std::size_t len, std::size_t head_dim) {
  const KernelTable& t = active_kernels();
  if (fused_attention(t, head_dim)) return t.attention_scratch_floats(len, head_dim);
  return queries * len;
}

void attention_head(std::size_t queries, std::size_t len, std::size_t head_dim, float scale,
                    const float* q, const float* k, const float* v, std::size_t ld, float* out,
                    std::size_t ldo, float* scratch) {
  const KernelTable& t = active_kernels();
  if (fused_attention(t, head_dim)) {
    return t.attention_head(queries, len, head_dim, scale, q, k, v, ld, out, ldo, scratch);
  }
  gemm_nt(queries, len, head_dim, scale, q, ld, k, ld, scratch, len);
  softmax_rows(scratch, queries, len);
  gemm_nn(queries, head_dim, len, scratch, len, v, ld, out, ldo);
}

}  // namespace refusal::kernels
