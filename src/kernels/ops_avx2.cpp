// AVX2 + FMA versions of the ops around the GEMMs: the same arithmetic as ops_avx512.cpp in
// 8-float vectors (exp in the attention softmax, erf in GELU, LayerNorm's double-precision
// sums), so an AVX2-only CPU runs no scalar loop per element. Compiled with -mavx2 -mfma;
// reached only through the AVX2 kernel table (dispatch.cpp). Attention at this level is
// OpenBLAS's sgemm with the softmax below (ops.cpp).
#include <immintrin.h>

#include <cmath>
#include <cstdint>

#include "kernels/ops_isa.h"

namespace refusal::kernels::avx2 {
namespace {

// e^x, Cephes' expf scheme as in ops_avx512.cpp; 2^n built in the exponent field (AVX2 has no
// scalef), so x is clamped to where 2^n stays a normal float: [-87.3, 88.37].
__m256 exp_ps(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.37f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i bits =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(bits));
}

// erf(x) by Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7), odd-extended.
__m256 erf_ps(__m256 x) {
  const __m256 sign_bit = _mm256_set1_ps(-0.0f);
  const __m256 ax = _mm256_andnot_ps(sign_bit, x);
  const __m256 t = _mm256_div_ps(
      _mm256_set1_ps(1.0f), _mm256_fmadd_ps(ax, _mm256_set1_ps(0.3275911f), _mm256_set1_ps(1.0f)));
  __m256 p = _mm256_set1_ps(1.061405429f);
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.453152027f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284496736f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
  p = _mm256_mul_ps(p, t);
  const __m256 e = exp_ps(_mm256_mul_ps(_mm256_sub_ps(_mm256_setzero_ps(), ax), ax));
  const __m256 y = _mm256_fnmadd_ps(p, e, _mm256_set1_ps(1.0f));
  return _mm256_or_ps(y, _mm256_and_ps(x, sign_bit));
}

// Lanes [0, left) of 8 (all when left >= 8), as a maskload/maskstore mask.
__m256i tail_mask(std::size_t left) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const int n = left >= 8 ? 8 : static_cast<int>(left);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lane);
}

double hsum(__m256d v) {
  const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

float hmax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_max_ss(s, _mm_movehdup_ps(s)));
}

__m256 gelu8(__m256 v) {
  const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
  const __m256 inv_sqrt2 = _mm256_set1_ps(0.70710678118654752440f);
  return _mm256_mul_ps(_mm256_mul_ps(half, v),
                       _mm256_add_ps(one, erf_ps(_mm256_mul_ps(v, inv_sqrt2))));
}

}  // namespace

void gelu_erf(const float* x, float* out, std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, gelu8(_mm256_loadu_ps(x + i)));
  if (i < n) {
    const __m256i m = tail_mask(n - i);
    _mm256_maskstore_ps(out + i, m, gelu8(_mm256_maskload_ps(x + i, m)));
  }
}

void softmax_rows(float* x, std::size_t rows, std::size_t width, std::size_t ld) {
  for (std::size_t r = 0; r < rows; ++r) {
    float* row = x + r * ld;
    const __m256 neg_inf = _mm256_set1_ps(-INFINITY);
    __m256 top = neg_inf;
    std::size_t j = 0;
    for (; j + 8 <= width; j += 8) top = _mm256_max_ps(top, _mm256_loadu_ps(row + j));
    const __m256i tail = tail_mask(width - j);
    if (j < width) {
      top = _mm256_max_ps(top, _mm256_blendv_ps(neg_inf, _mm256_maskload_ps(row + j, tail),
                                                _mm256_castsi256_ps(tail)));
    }
    const __m256 max = _mm256_set1_ps(hmax(top));
    __m256 sum = _mm256_setzero_ps();
    for (j = 0; j + 8 <= width; j += 8) {
      const __m256 e = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(row + j), max));
      _mm256_storeu_ps(row + j, e);
      sum = _mm256_add_ps(sum, e);
    }
    if (j < width) {
      const __m256 e = _mm256_and_ps(exp_ps(_mm256_sub_ps(_mm256_maskload_ps(row + j, tail), max)),
                                     _mm256_castsi256_ps(tail));
      _mm256_maskstore_ps(row + j, tail, e);
      sum = _mm256_add_ps(sum, e);
    }
    const __m256 inv = _mm256_set1_ps(1.0f / hsum(sum));
    for (j = 0; j + 8 <= width; j += 8) {
      _mm256_storeu_ps(row + j, _mm256_mul_ps(_mm256_loadu_ps(row + j), inv));
    }
    if (j < width) {
      _mm256_maskstore_ps(row + j, tail, _mm256_mul_ps(_mm256_maskload_ps(row + j, tail), inv));
    }
  }
}

// The portable version's arithmetic with vectors: sums in double (4 lanes, two accumulators),
// the normalisation in float without FMA, so results match it to the last bits of the sums.
void layernorm(float* x, const float* residual, std::size_t rows, std::size_t width,
               const float* gamma, const float* beta, float eps, float* out, float* mean,
               float* rstd) {
  for (std::size_t r = 0; r < rows; ++r) {
    float* row = x + r * width;
    float* o = out + r * width;
    __m256d sum0 = _mm256_setzero_pd(), sum1 = _mm256_setzero_pd();
    for (std::size_t j = 0; j < width; j += 8) {
      const __m256i m = tail_mask(width - j);
      __m256 v = _mm256_maskload_ps(row + j, m);
      if (residual != nullptr) {
        v = _mm256_add_ps(v, _mm256_maskload_ps(residual + r * width + j, m));
        _mm256_maskstore_ps(row + j, m, v);
      }
      sum0 = _mm256_add_pd(sum0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
      sum1 = _mm256_add_pd(sum1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    }
    const double mean_d = hsum(_mm256_add_pd(sum0, sum1)) / static_cast<double>(width);
    const __m256d vmean = _mm256_set1_pd(mean_d);
    __m256d sq0 = _mm256_setzero_pd(), sq1 = _mm256_setzero_pd();
    for (std::size_t j = 0; j < width; j += 8) {
      const __m256i m = tail_mask(width - j);
      const __m256 v = _mm256_maskload_ps(row + j, m);
      // Lanes past the row: zero, not (0 - mean)².
      const __m256d m0 = _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(m)));
      const __m256d m1 = _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm256_extracti128_si256(m, 1)));
      const __m256d d0 =
          _mm256_and_pd(_mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), vmean), m0);
      const __m256d d1 =
          _mm256_and_pd(_mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), vmean), m1);
      sq0 = _mm256_add_pd(sq0, _mm256_mul_pd(d0, d0));
      sq1 = _mm256_add_pd(sq1, _mm256_mul_pd(d1, d1));
    }
    const double var = hsum(_mm256_add_pd(sq0, sq1)) / static_cast<double>(width);
    const float inv_f = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(eps)));
    const float mean_f = static_cast<float>(mean_d);
    if (mean != nullptr) mean[r] = mean_f;
    if (rstd != nullptr) rstd[r] = inv_f;
    const __m256 inv = _mm256_set1_ps(inv_f);
    const __m256 vm = _mm256_set1_ps(mean_f);
    for (std::size_t j = 0; j < width; j += 8) {
      const __m256i m = tail_mask(width - j);
      const __m256 v = _mm256_maskload_ps(row + j, m);
      const __m256 n =
          _mm256_mul_ps(_mm256_mul_ps(_mm256_sub_ps(v, vm), inv), _mm256_maskload_ps(gamma + j, m));
      _mm256_maskstore_ps(o + j, m, _mm256_add_ps(n, _mm256_maskload_ps(beta + j, m)));
    }
  }
}

}  // namespace refusal::kernels::avx2
