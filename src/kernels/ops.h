// The model's operations, each forward next to its backward (as llm.c pairs them), shared by
// inference (src/model/encoder.cpp) and training (src/train/train_model.cpp). They take pointers
// and sizes, know nothing of RoBERTa or BERT, and run on the calling thread: the model splits
// the work (by rows, output features, or (sequence, head)) over its pool. Element-wise and
// row-wise forwards have AVX-512 versions, picked once through the kernel table (dispatch.h);
// the matrix products go through OpenBLAS (blas.h), except the encoder's linear layers, which
// use kernels::PackedLinear.
//
// Backward functions compute what the forward's inputs contribute to the loss: `d*` names a
// gradient; parameter gradients are accumulated (+=), input gradients written unless a flag
// says otherwise.
#pragma once

#include <cstddef>
#include <cstdint>

namespace refusal::kernels {

// --- Linear: y = x·Wᵀ + b, W in PyTorch's [out, in] layout, fp32 (OpenBLAS) -------------------

// y[m, n] (row stride ldy) = x[m, k] (ldx) · W[n, k]ᵀ + b[n]. b may be null.
void linear_forward(std::size_t m, std::size_t n, std::size_t k, const float* x, std::size_t ldx,
                    const float* w, const float* b, float* y, std::size_t ldy);
// Given dy[m, n] (lddy): dw[n, k] += dyᵀ·x and db[n] += Σ_rows dy (sums in double), when not
// null; dx[m, k] (lddx) = dy·W, or += with accumulate_dx, when not null. To split the work, call
// it per range of output features for dw and db (dy + o0, w + o0·k, n = o1 − o0, dx null) and
// per range of rows for dx (dw and db null).
void linear_backward(std::size_t m, std::size_t n, std::size_t k, const float* x, std::size_t ldx,
                     const float* w, const float* dy, std::size_t lddy, float* dw, float* db,
                     float* dx, std::size_t lddx, bool accumulate_dx);

// --- Embeddings: word + token type 0 + position, rows of `width` ------------------------------

// out[i] = word[ids[i]] + type + position[positions[i]] for i < n, summed in that order (as
// transformers does). `type` is the one token-type row every token uses.
void embeddings_forward(std::size_t n, std::size_t width, const std::int32_t* ids,
                        const std::int32_t* positions, const float* word, const float* type,
                        const float* position, float* out);
// Scatter-adds dout[i] into the rows forward read. Rows whose index equals skip_word_id or
// skip_position_id get nothing (nn.Embedding's padding_idx; −1: none). Rows may repeat, so one
// thread only.
void embeddings_backward(std::size_t n, std::size_t width, const std::int32_t* ids,
                         const std::int32_t* positions, const float* dout,
                         std::int32_t skip_word_id, std::int32_t skip_position_id, float* dword,
                         float* dtype, float* dposition);

// --- LayerNorm over rows of `width`, with the post-LayerNorm residual of BERT layers ----------

// When residual is given, x += residual first (x then holds the LayerNorm's input); then
// out = (x − mean) · rstd · γ + β with mean and variance in double (two passes, as PyTorch) and
// rstd = 1/√(var + eps). out may be x. mean and rstd, when not null, receive each row's
// statistics as float, exactly as used, for layernorm_backward.
void layernorm_forward(float* x, const float* residual, std::size_t rows, std::size_t width,
                       const float* gamma, const float* beta, float eps, float* out, float* mean,
                       float* rstd);
// Given dout and the forward's input x, mean and rstd: dx = ∂/∂x (also the residual's gradient),
// written; dgamma += Σ dout·x̂ and dbeta += Σ dout, accumulated in double, so that a caller who
// splits the rows can add its blocks' sums in a fixed order. dx may be dout.
void layernorm_backward(std::size_t rows, std::size_t width, const float* x, const float* mean,
                        const float* rstd, const float* gamma, const float* dout, float* dx,
                        double* dgamma, double* dbeta);

// --- Activations, element-wise; out (or dx) may be the input --------------------------------

// GELU, exact: 0.5 x (1 + erf(x / √2)) (PyTorch's "gelu").
void gelu_erf_forward(const float* x, float* out, std::size_t n);
// dx = dout · GELU'(x), GELU'(x) = Φ(x) + x·φ(x).
void gelu_erf_backward(const float* x, const float* dout, float* dx, std::size_t n);
// Inference only (training supports hidden_act "gelu"): the tanh approximation (gelu_new,
// gelu_pytorch_tanh, gelu_fast), ReLU, SiLU.
void gelu_tanh_forward(const float* x, float* out, std::size_t n);
void relu_forward(const float* x, float* out, std::size_t n);
void silu_forward(const float* x, float* out, std::size_t n);
// tanh (the classification head's); the backward reads the forward's output.
void tanh_forward(const float* x, float* out, std::size_t n);
void tanh_backward(const float* out, const float* dout, float* dx, std::size_t n);

// --- Softmax over rows of `width`, in place -------------------------------------------------

void softmax_forward(float* x, std::size_t rows, std::size_t width);
// dscores = p ∘ (dp − Σ_j dp_j p_j) per row (the sum in double), in place over dp.
void softmax_backward(const float* p, float* dp, std::size_t rows, std::size_t width);

// --- Attention: one head of one sequence, no mask ------------------------------------------
// q, k and v are [len, head_dim] with row stride ld (they may interleave, as in a fused QKV
// buffer); out has row stride ldo.

// Inference: out_i = softmax(scale · q_i · Kᵀ) · V for the first `queries` rows, nothing kept
// (AVX-512 register tiles for head_dim 32 and 64). scratch holds
// attention_scratch_floats(queries, len, head_dim) floats.
std::size_t attention_scratch_floats(std::size_t queries, std::size_t len, std::size_t head_dim);
void attention_forward(std::size_t queries, std::size_t len, std::size_t head_dim, float scale,
                       const float* q, const float* k, const float* v, std::size_t ld, float* out,
                       std::size_t ldo, float* scratch);
// Training: every row, keeping probs[len, len] = softmax(scale · Q·Kᵀ) for the backward pass.
// With a dropout mask (multipliers, [len, len]; null: none), out = (probs ∘ mask) · V and
// `dropped` ([len, len]) receives probs ∘ mask; without one, dropped may be null.
void attention_forward_keep(std::size_t len, std::size_t head_dim, float scale, const float* q,
                            const float* k, const float* v, std::size_t ld, const float* mask,
                            float* probs, float* dropped, float* out, std::size_t ldo);
// Given dout (row stride lddo): dq, dk, dv (row stride ldd), written. scratch holds 2·len·len
// floats.
void attention_backward(std::size_t len, std::size_t head_dim, float scale, const float* q,
                        const float* k, const float* v, std::size_t ld, const float* probs,
                        const float* mask, const float* dout, std::size_t lddo, float* dq,
                        float* dk, float* dv, std::size_t ldd, float* scratch);

// --- Cross-entropy over `classes` logits per row ---------------------------------------------

// probs[r] = softmax(logits[r]) and nll[r] = −log probs[r][labels[r]], both in double
// arithmetic. Labels must be in [0, classes).
void cross_entropy_forward(std::size_t rows, std::size_t classes, const float* logits,
                           const int* labels, float* probs, double* nll);
// dlogits[r] = row_scale[r] · (probs[r] − onehot(labels[r])), written.
void cross_entropy_backward(std::size_t rows, std::size_t classes, const float* probs,
                            const int* labels, const float* row_scale, float* dlogits);

// --- Dropout, counter-based ------------------------------------------------------------------

// The random stream of one dropout site in one step: a hash of (seed, key, site).
std::uint64_t dropout_stream(std::uint64_t seed, std::uint64_t key, std::uint64_t site);
// mask[i] = 0 with probability p, else 1/(1 − p), from (stream, index, i) only: any split of the
// work over threads draws the same mask.
void dropout_mask(std::uint64_t stream, std::uint64_t index, float p, float* mask, std::size_t n);
// x ∘= mask; the backward multiplies the gradient by the same mask.
void dropout_forward(float* x, const float* mask, std::size_t n);
void dropout_backward(float* dx, const float* mask, std::size_t n);

}  // namespace refusal::kernels
