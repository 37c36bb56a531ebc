// AVX-512 versions of the element-wise kernels whose scalar libm calls dominate outside the
// GEMMs: exp in the attention softmax and erf in GELU. Compiled with AVX-512 flags; called only
// when active_isa() is kAvx512 (ops.cpp).
#include <immintrin.h>

#include <cmath>

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
  const __m512 t = _mm512_div_ps(_mm512_set1_ps(1.0f),
                                 _mm512_fmadd_ps(ax, _mm512_set1_ps(0.3275911f), _mm512_set1_ps(1.0f)));
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

}  // namespace

void gelu_erf(float* x, std::size_t n) {
  const __m512 half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
  const __m512 inv_sqrt2 = _mm512_set1_ps(0.70710678118654752440f);
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    const __m512 g = _mm512_mul_ps(_mm512_mul_ps(half, v),
                                   _mm512_add_ps(one, erf_ps(_mm512_mul_ps(v, inv_sqrt2))));
    _mm512_storeu_ps(x + i, g);
  }
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    const __m512 g = _mm512_mul_ps(_mm512_mul_ps(half, v),
                                   _mm512_add_ps(one, erf_ps(_mm512_mul_ps(v, inv_sqrt2))));
    _mm512_mask_storeu_ps(x + i, m, g);
  }
}

void softmax_rows(float* x, std::size_t rows, std::size_t width) {
  for (std::size_t r = 0; r < rows; ++r) {
    float* row = x + r * width;
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
      _mm512_mask_storeu_ps(row + j, tail, _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, row + j), inv));
    }
  }
}

}  // namespace refusal::kernels::avx512
