// The operations of ops.h. The forwards with per-level versions (GELU, softmax, LayerNorm, the
// fused attention head) call through the kernel table chosen once (dispatch.h); matrix products
// go through OpenBLAS (blas.h); everything else, backward passes included, is plain loops here.
#include "kernels/ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/blas.h"
#include "kernels/dispatch.h"

namespace refusal::kernels {

using blas::Op;

void linear_forward(std::size_t m, std::size_t n, std::size_t k, const float* x, std::size_t ldx,
                    const float* w, const float* b, float* y, std::size_t ldy) {
  float beta = 0.0f;
  if (b != nullptr) {
    for (std::size_t r = 0; r < m; ++r) std::memcpy(y + r * ldy, b, n * sizeof(float));
    beta = 1.0f;
  }
  blas::gemm(Op::kN, Op::kT, m, n, k, 1.0f, x, ldx, w, k, beta, y, ldy);
}

void linear_backward(std::size_t m, std::size_t n, std::size_t k, const float* x, std::size_t ldx,
                     const float* w, const float* dy, std::size_t lddy, float* dw, float* db,
                     float* dx, std::size_t lddx, bool accumulate_dx) {
  if (dw != nullptr) blas::gemm(Op::kT, Op::kN, n, k, m, 1.0f, dy, lddy, x, ldx, 1.0f, dw, k);
  if (db != nullptr) {
    for (std::size_t o = 0; o < n; ++o) {
      double s = 0;
      for (std::size_t r = 0; r < m; ++r) s += dy[r * lddy + o];
      db[o] += static_cast<float>(s);
    }
  }
  if (dx != nullptr) {
    blas::gemm(Op::kN, Op::kN, m, k, n, 1.0f, dy, lddy, w, k, accumulate_dx ? 1.0f : 0.0f, dx,
               lddx);
  }
}

void embeddings_forward(std::size_t n, std::size_t width, const std::int32_t* ids,
                        const std::int32_t* positions, const float* word, const float* type,
                        const float* position, float* out) {
  for (std::size_t i = 0; i < n; ++i) {
    const float* w = word + static_cast<std::size_t>(ids[i]) * width;
    const float* p = position + static_cast<std::size_t>(positions[i]) * width;
    float* row = out + i * width;
    for (std::size_t j = 0; j < width; ++j) row[j] = w[j] + type[j] + p[j];
  }
}

void embeddings_backward(std::size_t n, std::size_t width, const std::int32_t* ids,
                         const std::int32_t* positions, const float* dout,
                         std::int32_t skip_word_id, std::int32_t skip_position_id, float* dword,
                         float* dtype, float* dposition) {
  for (std::size_t i = 0; i < n; ++i) {
    const float* d = dout + i * width;
    if (ids[i] != skip_word_id) {
      float* w = dword + static_cast<std::size_t>(ids[i]) * width;
      for (std::size_t j = 0; j < width; ++j) w[j] += d[j];
    }
    if (positions[i] != skip_position_id) {
      float* p = dposition + static_cast<std::size_t>(positions[i]) * width;
      for (std::size_t j = 0; j < width; ++j) p[j] += d[j];
    }
    for (std::size_t j = 0; j < width; ++j) dtype[j] += d[j];
  }
}

void layernorm_forward(float* x, const float* residual, std::size_t rows, std::size_t width,
                       const float* gamma, const float* beta, float eps, float* out, float* mean,
                       float* rstd) {
  active_kernels().layernorm(x, residual, rows, width, gamma, beta, eps, out, mean, rstd);
}

void layernorm_backward(std::size_t rows, std::size_t width, const float* x, const float* mean,
                        const float* rstd, const float* gamma, const float* dout, float* dx,
                        double* dgamma, double* dbeta) {
  for (std::size_t r = 0; r < rows; ++r) {
    const float* xr = x + r * width;
    const float* dr = dout + r * width;
    // x̂ exactly as the forward computed it; the sums in double.
    double m1 = 0, m2 = 0;
    for (std::size_t j = 0; j < width; ++j) {
      const float xhat = (xr[j] - mean[r]) * rstd[r];
      const double d = static_cast<double>(dr[j]) * gamma[j];
      m1 += d;
      m2 += d * xhat;
      dgamma[j] += static_cast<double>(dr[j]) * xhat;
      dbeta[j] += dr[j];
    }
    m1 /= static_cast<double>(width);
    m2 /= static_cast<double>(width);
    float* o = dx + r * width;
    for (std::size_t j = 0; j < width; ++j) {
      const float xhat = (xr[j] - mean[r]) * rstd[r];
      const double d = static_cast<double>(dr[j]) * gamma[j];
      o[j] = static_cast<float>(rstd[r] * (d - m1 - xhat * m2));
    }
  }
}

void gelu_erf_forward(const float* x, float* out, std::size_t n) {
  active_kernels().gelu_erf(x, out, n);
}

void gelu_erf_backward(const float* x, const float* dout, float* dx, std::size_t n) {
  constexpr float kInvSqrt2 = 0.70710678118654752f;
  constexpr float kInvSqrt2Pi = 0.39894228040143268f;
  for (std::size_t i = 0; i < n; ++i) {
    const float cdf = 0.5f * (1.0f + std::erf(x[i] * kInvSqrt2));
    const float pdf = kInvSqrt2Pi * std::exp(-0.5f * x[i] * x[i]);
    dx[i] = dout[i] * (cdf + x[i] * pdf);
  }
}

void gelu_tanh_forward(const float* x, float* out, std::size_t n) {
  constexpr float kSqrt2OverPi = 0.79788456080286535588f;
  for (std::size_t j = 0; j < n; ++j) {
    const float v = x[j];
    out[j] = 0.5f * v * (1.0f + std::tanh(kSqrt2OverPi * (v + 0.044715f * v * v * v)));
  }
}

void relu_forward(const float* x, float* out, std::size_t n) {
  for (std::size_t j = 0; j < n; ++j) out[j] = std::max(x[j], 0.0f);
}

void silu_forward(const float* x, float* out, std::size_t n) {
  for (std::size_t j = 0; j < n; ++j) out[j] = x[j] / (1.0f + std::exp(-x[j]));
}

void tanh_forward(const float* x, float* out, std::size_t n) {
  for (std::size_t j = 0; j < n; ++j) out[j] = std::tanh(x[j]);
}

void tanh_backward(const float* out, const float* dout, float* dx, std::size_t n) {
  for (std::size_t j = 0; j < n; ++j) dx[j] = dout[j] * (1.0f - out[j] * out[j]);
}

void softmax_forward(float* x, std::size_t rows, std::size_t width) {
  active_kernels().softmax_rows(x, rows, width, width);
}

void softmax_backward(const float* p, float* dp, std::size_t rows, std::size_t width) {
  for (std::size_t r = 0; r < rows; ++r) {
    const float* pr = p + r * width;
    float* dr = dp + r * width;
    double dot = 0;
    for (std::size_t j = 0; j < width; ++j) dot += static_cast<double>(dr[j]) * pr[j];
    for (std::size_t j = 0; j < width; ++j) dr[j] = pr[j] * (dr[j] - static_cast<float>(dot));
  }
}

namespace {

bool fused_attention(const KernelTable& t, std::size_t head_dim) {
  return t.attention_head != nullptr && (head_dim == 32 || head_dim == 64);
}

// probs[queries, len] = softmax(scale · Q·Kᵀ).
void attention_probs(std::size_t queries, std::size_t len, std::size_t head_dim, float scale,
                     const float* q, const float* k, std::size_t ld, float* probs) {
  blas::gemm(Op::kN, Op::kT, queries, len, head_dim, scale, q, ld, k, ld, 0.0f, probs, len);
  softmax_forward(probs, queries, len);
}

}  // namespace

std::size_t attention_scratch_floats(std::size_t queries, std::size_t len, std::size_t head_dim) {
  const KernelTable& t = active_kernels();
  if (fused_attention(t, head_dim)) return t.attention_scratch_floats(len, head_dim);
  return queries * len;
}

void attention_forward(std::size_t queries, std::size_t len, std::size_t head_dim, float scale,
                       const float* q, const float* k, const float* v, std::size_t ld, float* out,
                       std::size_t ldo, float* scratch) {
  const KernelTable& t = active_kernels();
  if (fused_attention(t, head_dim)) {
    return t.attention_head(queries, len, head_dim, scale, q, k, v, ld, out, ldo, scratch);
  }
  attention_probs(queries, len, head_dim, scale, q, k, ld, scratch);
  blas::gemm(Op::kN, Op::kN, queries, head_dim, len, 1.0f, scratch, len, v, ld, 0.0f, out, ldo);
}

void attention_forward_keep(std::size_t len, std::size_t head_dim, float scale, const float* q,
                            const float* k, const float* v, std::size_t ld, const float* mask,
                            float* probs, float* dropped, float* out, std::size_t ldo) {
  attention_probs(len, len, head_dim, scale, q, k, ld, probs);
  const float* p = probs;
  if (mask != nullptr) {
    for (std::size_t i = 0; i < len * len; ++i) dropped[i] = probs[i] * mask[i];
    p = dropped;
  }
  blas::gemm(Op::kN, Op::kN, len, head_dim, len, 1.0f, p, len, v, ld, 0.0f, out, ldo);
}

void attention_backward(std::size_t len, std::size_t head_dim, float scale, const float* q,
                        const float* k, const float* v, std::size_t ld, const float* probs,
                        const float* mask, const float* dout, std::size_t lddo, float* dq,
                        float* dk, float* dv, std::size_t ldd, float* scratch) {
  float* dp = scratch;
  const float* p = probs;
  if (mask != nullptr) {
    float* dropped = scratch + len * len;
    for (std::size_t i = 0; i < len * len; ++i) dropped[i] = probs[i] * mask[i];
    p = dropped;
  }
  // dV = P̃ᵀ·dO and dP̃ = dO·Vᵀ, with P̃ the probabilities after dropout.
  blas::gemm(Op::kT, Op::kN, len, head_dim, len, 1.0f, p, len, dout, lddo, 0.0f, dv, ldd);
  blas::gemm(Op::kN, Op::kT, len, len, head_dim, 1.0f, dout, lddo, v, ld, 0.0f, dp, len);
  if (mask != nullptr) dropout_backward(dp, mask, len * len);
  softmax_backward(probs, dp, len, len);
  // dQ = scale · dS·K and dK = scale · dSᵀ·Q.
  blas::gemm(Op::kN, Op::kN, len, head_dim, len, scale, dp, len, k, ld, 0.0f, dq, ldd);
  blas::gemm(Op::kT, Op::kN, len, head_dim, len, scale, dp, len, q, ld, 0.0f, dk, ldd);
}

void cross_entropy_forward(std::size_t rows, std::size_t classes, const float* logits,
                           const int* labels, float* probs, double* nll) {
  for (std::size_t r = 0; r < rows; ++r) {
    const float* lg = logits + r * classes;
    double top = lg[0];
    for (std::size_t j = 1; j < classes; ++j) top = std::max(top, static_cast<double>(lg[j]));
    double sum = 0;
    for (std::size_t j = 0; j < classes; ++j) sum += std::exp(lg[j] - top);
    for (std::size_t j = 0; j < classes; ++j) {
      probs[r * classes + j] = static_cast<float>(std::exp(lg[j] - top) / sum);
    }
    nll[r] = -(lg[labels[r]] - top - std::log(sum));
  }
}

void cross_entropy_backward(std::size_t rows, std::size_t classes, const float* probs,
                            const int* labels, const float* row_scale, float* dlogits) {
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t j = 0; j < classes; ++j) {
      const float target = static_cast<int>(j) == labels[r] ? 1.0f : 0.0f;
      dlogits[r * classes + j] = row_scale[r] * (probs[r * classes + j] - target);
    }
  }
}

namespace {
std::uint64_t splitmix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
}  // namespace

std::uint64_t dropout_stream(std::uint64_t seed, std::uint64_t key, std::uint64_t site) {
  return splitmix(splitmix(splitmix(seed) ^ key) ^ site);
}

void dropout_mask(std::uint64_t stream, std::uint64_t index, float p, float* mask, std::size_t n) {
  const float keep_scale = 1.0f / (1.0f - p);
  const std::uint64_t base = stream ^ (index * 0x632be59bd9b4e019ULL);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t r = splitmix(base + i);
    const float u = static_cast<float>(r >> 40) * (1.0f / 16777216.0f);  // [0, 1), 24 bits
    mask[i] = u >= p ? keep_scale : 0.0f;
  }
}

void dropout_forward(float* x, const float* mask, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) x[i] *= mask[i];
}

void dropout_backward(float* dx, const float* mask, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) dx[i] *= mask[i];
}

}  // namespace refusal::kernels
