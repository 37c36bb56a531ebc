// AVX-512 versions of the ops around the GEMMs: exp in the attention softmax, erf in GELU,
// LayerNorm's double-precision sums, and one attention head. Compiled with AVX-512 flags;
// reached only through the AVX-512 kernel table (dispatch.cpp).
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/ops_isa.h"

namespace refusal::kernels::avx512 {
namespace {

// e^x, Cephes' expf scheme: x = n·ln2 + r, a degree-5 polynomial for e^r, scaled by 2^n.
// Relative error ~1e-7 over the clamped range.
__m512 exp_ps(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.7f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 y = _mm512_set1_ps(1.9875691500e-4f);
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.3981999507e-3f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(8.3334519073e-3f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(4.1665795894e-2f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.6666665459e-1f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(5.0000001201e-1f));
  y = _mm512_fmadd_ps(y, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(y, n);
}

// erf(x) by Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7), odd-extended.
__m512 erf_ps(__m512 x) {
  const __m512 ax = _mm512_abs_ps(x);
  const __m512 t = _mm512_div_ps(
      _mm512_set1_ps(1.0f), _mm512_fmadd_ps(ax, _mm512_set1_ps(0.3275911f), _mm512_set1_ps(1.0f)));
  __m512 p = _mm512_set1_ps(1.061405429f);
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.453152027f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.421413741f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.284496736f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.254829592f));
  p = _mm512_mul_ps(p, t);
  const __m512 e = exp_ps(_mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), ax), ax));
  const __m512 y = _mm512_fnmadd_ps(p, e, _mm512_set1_ps(1.0f));
  // Copy x's sign onto y.
  const __m512 sign = _mm512_and_ps(x, _mm512_set1_ps(-0.0f));
  return _mm512_or_ps(y, sign);
}

std::size_t round_up(std::size_t v, std::size_t m) { return (v + m - 1) / m * m; }

__mmask16 tail_mask(std::size_t left) {
  return left >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << left) - 1u);
}

// Scores of rows [i0, i0 + MR) against every key, scaled: s[i][j] = scale · q_i · k_j, from the
// transposed keys kt[d][j] (row stride ldk, zero beyond len). 32 keys per step: 2·MR sums.
template <int MR>
void scores(const float* q, std::size_t ld, const float* kt, std::size_t ldk, std::size_t len,
            std::size_t head_dim, float scale, float* s, std::size_t lds) {
  const __m512 vscale = _mm512_set1_ps(scale);
  for (std::size_t j = 0; j < len; j += 32) {
    __m512 acc[MR][2];
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (std::size_t d = 0; d < head_dim; ++d) {
      const __m512 k0 = _mm512_load_ps(kt + d * ldk + j);
      const __m512 k1 = _mm512_load_ps(kt + d * ldk + j + 16);
#pragma GCC unroll 6
      for (int i = 0; i < MR; ++i) {
        const __m512 b = _mm512_set1_ps(q[i * ld + d]);
        acc[i][0] = _mm512_fmadd_ps(b, k0, acc[i][0]);
        acc[i][1] = _mm512_fmadd_ps(b, k1, acc[i][1]);
      }
    }
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      _mm512_store_ps(s + i * lds + j, _mm512_mul_ps(acc[i][0], vscale));
      _mm512_store_ps(s + i * lds + j + 16, _mm512_mul_ps(acc[i][1], vscale));
    }
  }
}

// out_i = Σ_j p[i][j] · v_j for rows [0, MR), HD / 16 vectors of values per row.
template <int MR, int HD>
void weighted_values(const float* p, std::size_t ldp, const float* v, std::size_t ld,
                     std::size_t len, float* out, std::size_t ldo) {
  constexpr int kNv = HD / 16;
  __m512 acc[MR][kNv];
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 4
    for (int c = 0; c < kNv; ++c) acc[i][c] = _mm512_setzero_ps();
  }
  for (std::size_t j = 0; j < len; ++j) {
    __m512 vv[kNv];
#pragma GCC unroll 4
    for (int c = 0; c < kNv; ++c) vv[c] = _mm512_loadu_ps(v + j * ld + c * 16);
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      const __m512 b = _mm512_set1_ps(p[i * ldp + j]);
#pragma GCC unroll 4
      for (int c = 0; c < kNv; ++c) acc[i][c] = _mm512_fmadd_ps(b, vv[c], acc[i][c]);
    }
  }
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 4
    for (int c = 0; c < kNv; ++c) _mm512_storeu_ps(out + i * ldo + c * 16, acc[i][c]);
  }
}

template <int MR>
void attention_rows(const float* q, const float* v, std::size_t ld, const float* kt,
                    std::size_t ldk, std::size_t len, std::size_t head_dim, float scale, float* s,
                    float* out, std::size_t ldo) {
  scores<MR>(q, ld, kt, ldk, len, head_dim, scale, s, ldk);
  softmax_rows(s, MR, len, ldk);
  if (head_dim == 64) {
    weighted_values<MR, 64>(s, ldk, v, ld, len, out, ldo);
  } else {
    weighted_values<MR, 32>(s, ldk, v, ld, len, out, ldo);
  }
}

}  // namespace

std::size_t attention_scratch_floats(std::size_t len, std::size_t head_dim) {
  const std::size_t ldk = round_up(len, 32);
  return (head_dim + 6) * ldk + 16;  // keys transposed, 6 rows of scores, alignment slack
}

void attention_head(std::size_t queries, std::size_t len, std::size_t head_dim, float scale,
                    const float* q, const float* k, const float* v, std::size_t ld, float* out,
                    std::size_t ldo, float* scratch) {
  const std::size_t ldk = round_up(len, 32);
  const auto misalign = reinterpret_cast<std::uintptr_t>(scratch) % 64;
  float* kt = misalign ? scratch + (64 - misalign) / 4 : scratch;
  float* s = kt + head_dim * ldk;
  // Keys transposed so that 16 keys' d-th components are one vector; zero padding up to ldk.
  for (std::size_t d = 0; d < head_dim; ++d) {
    float* row = kt + d * ldk;
    for (std::size_t j = 0; j < len; ++j) row[j] = k[j * ld + d];
    std::memset(row + len, 0, (ldk - len) * sizeof(float));
  }
  std::size_t i = 0;
  for (; i + 6 <= queries; i += 6) {
    attention_rows<6>(q + i * ld, v, ld, kt, ldk, len, head_dim, scale, s, out + i * ldo, ldo);
  }
  const float* qi = q + i * ld;
  float* oi = out + i * ldo;
  switch (queries - i) {
    case 1:
      attention_rows<1>(qi, v, ld, kt, ldk, len, head_dim, scale, s, oi, ldo);
      break;
    case 2:
      attention_rows<2>(qi, v, ld, kt, ldk, len, head_dim, scale, s, oi, ldo);
      break;
    case 3:
      attention_rows<3>(qi, v, ld, kt, ldk, len, head_dim, scale, s, oi, ldo);
      break;
    case 4:
      attention_rows<4>(qi, v, ld, kt, ldk, len, head_dim, scale, s, oi, ldo);
      break;
    case 5:
      attention_rows<5>(qi, v, ld, kt, ldk, len, head_dim, scale, s, oi, ldo);
      break;
    default:
      break;
  }
}

// The portable version's arithmetic with vectors: sums in double (8 lanes, two accumulators),
// the normalisation in float without FMA, so results match it to the last bits of the sums.
void layernorm(float* x, const float* residual, std::size_t rows, std::size_t width,
               const float* gamma, const float* beta, float eps, float* out, float* mean,
               float* rstd) {
  for (std::size_t r = 0; r < rows; ++r) {
    float* row = x + r * width;
    float* o = out + r * width;
    __m512d sum0 = _mm512_setzero_pd(), sum1 = _mm512_setzero_pd();
    for (std::size_t j = 0; j < width; j += 16) {
      const __mmask16 m = tail_mask(width - j);
      __m512 v = _mm512_maskz_loadu_ps(m, row + j);
      if (residual != nullptr) {
        v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, residual + r * width + j));
        _mm512_mask_storeu_ps(row + j, m, v);
      }
      sum0 = _mm512_add_pd(sum0, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
      sum1 = _mm512_add_pd(
          sum1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
    }
    const double mean_d =
        _mm512_reduce_add_pd(_mm512_add_pd(sum0, sum1)) / static_cast<double>(width);
    const __m512d vmean = _mm512_set1_pd(mean_d);
    __m512d sq0 = _mm512_setzero_pd(), sq1 = _mm512_setzero_pd();
    for (std::size_t j = 0; j < width; j += 16) {
      const __mmask16 m = tail_mask(width - j);
      const __m512 v = _mm512_maskz_loadu_ps(m, row + j);
      const __mmask8 m0 = static_cast<__mmask8>(m & 0xff), m1 = static_cast<__mmask8>(m >> 8);
      const __m512d d0 = _mm512_maskz_sub_pd(m0, _mm512_cvtps_pd(_mm512_castps512_ps256(v)), vmean);
      const __m512d d1 = _mm512_maskz_sub_pd(
          m1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))),
          vmean);
      sq0 = _mm512_add_pd(sq0, _mm512_mul_pd(d0, d0));
      sq1 = _mm512_add_pd(sq1, _mm512_mul_pd(d1, d1));
    }
    const double var = _mm512_reduce_add_pd(_mm512_add_pd(sq0, sq1)) / static_cast<double>(width);
    const float inv_f = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(eps)));
    const float mean_f = static_cast<float>(mean_d);
    if (mean != nullptr) mean[r] = mean_f;
    if (rstd != nullptr) rstd[r] = inv_f;
    const __m512 inv = _mm512_set1_ps(inv_f);
    const __m512 vm = _mm512_set1_ps(mean_f);
    for (std::size_t j = 0; j < width; j += 16) {
      const __mmask16 m = tail_mask(width - j);
      const __m512 v = _mm512_maskz_loadu_ps(m, row + j);
      const __m512 n = _mm512_mul_ps(_mm512_mul_ps(_mm512_sub_ps(v, vm), inv),
                                     _mm512_maskz_loadu_ps(m, gamma + j));
      _mm512_mask_storeu_ps(o + j, m, _mm512_add_ps(n, _mm512_maskz_loadu_ps(m, beta + j)));
    }
  }
}

void gelu_erf(const float* x, float* out, std::size_t n) {
  const __m512 half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
  const __m512 inv_sqrt2 = _mm512_set1_ps(0.70710678118654752440f);
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    const __m512 g = _mm512_mul_ps(_mm512_mul_ps(half, v),
                                   _mm512_add_ps(one, erf_ps(_mm512_mul_ps(v, inv_sqrt2))));
    _mm512_storeu_ps(out + i, g);
  }
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    const __m512 g = _mm512_mul_ps(_mm512_mul_ps(half, v),
                                   _mm512_add_ps(one, erf_ps(_mm512_mul_ps(v, inv_sqrt2))));
    _mm512_mask_storeu_ps(out + i, m, g);
  }
}

void softmax_rows(float* x, std::size_t rows, std::size_t width, std::size_t ld) {
  for (std::size_t r = 0; r < rows; ++r) {
    float* row = x + r * ld;
    __m512 top = _mm512_set1_ps(-INFINITY);
    std::size_t j = 0;
    for (; j + 16 <= width; j += 16) top = _mm512_max_ps(top, _mm512_loadu_ps(row + j));
    const __mmask16 tail = static_cast<__mmask16>((1u << (width - j)) - 1);
    if (j < width) top = _mm512_mask_max_ps(top, tail, top, _mm512_maskz_loadu_ps(tail, row + j));
    const __m512 max = _mm512_set1_ps(_mm512_reduce_max_ps(top));
    __m512 sum = _mm512_setzero_ps();
    for (j = 0; j + 16 <= width; j += 16) {
      const __m512 e = exp_ps(_mm512_sub_ps(_mm512_loadu_ps(row + j), max));
      _mm512_storeu_ps(row + j, e);
      sum = _mm512_add_ps(sum, e);
    }
    if (j < width) {
      const __m512 e = exp_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, row + j), max));
      _mm512_mask_storeu_ps(row + j, tail, e);
      sum = _mm512_mask_add_ps(sum, tail, sum, e);
    }
    const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    for (j = 0; j + 16 <= width; j += 16) {
      _mm512_storeu_ps(row + j, _mm512_mul_ps(_mm512_loadu_ps(row + j), inv));
    }
    if (j < width) {
      _mm512_mask_storeu_ps(row + j, tail,
                            _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, row + j), inv));
    }
  }
}

}  // namespace refusal::kernels::avx512
