// Per-ISA versions of element-wise kernels (see kernels.h for what each computes).
#pragma once

#include <cstddef>

namespace refusal::kernels::avx512 {

void gelu_erf(float* x, std::size_t n);
// Rows `ld` floats apart.
void softmax_rows(float* x, std::size_t rows, std::size_t width, std::size_t ld);
void add_layer_norm(float* x, const float* residual, std::size_t rows, std::size_t width,
                    const float* gamma, const float* beta, float eps);
// head_dim 32 or 64 only.
std::size_t attention_scratch_floats(std::size_t len, std::size_t head_dim);
void attention_head(std::size_t queries, std::size_t len, std::size_t head_dim, float scale,
                    const float* q, const float* k, const float* v, std::size_t ld, float* out,
                    std::size_t ldo, float* scratch);

}  // namespace refusal::kernels::avx512
