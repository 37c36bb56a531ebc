// Per-level versions of the ops that have them (see ops.h for what each computes), gathered in
// the kernel table (dispatch.h). Internal.
#pragma once

#include <cstddef>

namespace refusal::kernels {
namespace reference {  // portable (ops_reference.cpp); also every level without its own
void gelu_erf(const float* x, float* out, std::size_t n);
// Rows `ld` floats apart.
void softmax_rows(float* x, std::size_t rows, std::size_t width, std::size_t ld);
void layernorm(float* x, const float* residual, std::size_t rows, std::size_t width,
               const float* gamma, const float* beta, float eps, float* out, float* mean,
               float* rstd);
}  // namespace reference
namespace avx2 {  // ops_avx2.cpp; attention at this level is OpenBLAS + softmax_rows
void gelu_erf(const float* x, float* out, std::size_t n);
void softmax_rows(float* x, std::size_t rows, std::size_t width, std::size_t ld);
void layernorm(float* x, const float* residual, std::size_t rows, std::size_t width,
               const float* gamma, const float* beta, float eps, float* out, float* mean,
               float* rstd);
}  // namespace avx2
namespace avx512 {  // ops_avx512.cpp
void gelu_erf(const float* x, float* out, std::size_t n);
void softmax_rows(float* x, std::size_t rows, std::size_t width, std::size_t ld);
void layernorm(float* x, const float* residual, std::size_t rows, std::size_t width,
               const float* gamma, const float* beta, float eps, float* out, float* mean,
               float* rstd);
// head_dim 32 or 64 only.
std::size_t attention_scratch_floats(std::size_t len, std::size_t head_dim);
void attention_head(std::size_t queries, std::size_t len, std::size_t head_dim, float scale,
                    const float* q, const float* k, const float* v, std::size_t ld, float* out,
                    std::size_t ldo, float* scratch);
}  // namespace avx512
}  // namespace refusal::kernels
