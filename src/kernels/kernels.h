// Numerical kernels. They take pointers and sizes and know nothing of RoBERTa; threading is
// one level up, in the model.
#pragma once

#include <cstddef>

namespace refusal::kernels {

// C[m, n] = A[m, k] · W[n, k]ᵀ + bias[n]: a linear layer with PyTorch's [out, in] weight layout.
// lda, ldw and ldc are row strides in elements. bias may be null.
void linear(std::size_t m, std::size_t n, std::size_t k, const float* a, std::size_t lda,
            const float* w, std::size_t ldw, const float* bias, float* c, std::size_t ldc);

// C[m, n] = alpha · A[m, k] · B[n, k]ᵀ (attention scores).
void gemm_nt(std::size_t m, std::size_t n, std::size_t k, float alpha, const float* a,
             std::size_t lda, const float* b, std::size_t ldb, float* c, std::size_t ldc);

// C[m, n] = A[m, k] · B[k, n] (attention-weighted values).
void gemm_nn(std::size_t m, std::size_t n, std::size_t k, const float* a, std::size_t lda,
             const float* b, std::size_t ldb, float* c, std::size_t ldc);

// Row-wise LayerNorm in place over rows of `width`: x = (x - mean) / sqrt(var + eps) · γ + β.
// When `residual` is given, x += residual first (the post-LayerNorm residual of BERT layers).
void add_layer_norm(float* x, const float* residual, std::size_t rows, std::size_t width,
                    const float* gamma, const float* beta, float eps);

// Activations, in place.
void gelu_erf(float* x, std::size_t n);   // 0.5 x (1 + erf(x / √2)), PyTorch's exact GELU
void gelu_tanh(float* x, std::size_t n);  // the tanh approximation (gelu_new, gelu_pytorch_tanh)
void relu(float* x, std::size_t n);
void silu(float* x, std::size_t n);
void tanh_inplace(float* x, std::size_t n);

// Numerically stable softmax of each row of `width`, in place.
void softmax_rows(float* x, std::size_t rows, std::size_t width);

// One attention head of one sequence, no mask: out_i = softmax(scale · q_i · Kᵀ) · V for the
// first `queries` rows. q, k and v are [len, head_dim] with row stride ld (they may interleave,
// as in a fused QKV output); out has row stride ldo. scratch holds
// attention_scratch_floats(queries, len, head_dim) floats.
std::size_t attention_scratch_floats(std::size_t queries, std::size_t len, std::size_t head_dim);
void attention_head(std::size_t queries, std::size_t len, std::size_t head_dim, float scale,
                    const float* q, const float* k, const float* v, std::size_t ld, float* out,
                    std::size_t ldo, float* scratch);

}  // namespace refusal::kernels
