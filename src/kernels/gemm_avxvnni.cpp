// The int8 GEMM on CPUs with AVX-VNNI but not AVX-512 (Intel Alder Lake and later client parts;
// compiled with -mavx2 -mfma -mavxvnni, called only when the CPU has AVX-VNNI). The AVX2 tiling
// (gemm_avx2_shared.h) with one VPDPBUSD per 32 products where AVX2 needs VPMADDUBSW,
// VPMADDWD and VPADDD, and on u8 inputs (0..255) rather than u7: the int32 sums are exact, so
// the outputs are the bits of the AVX-512 VNNI kernel and of the reference.
#include <immintrin.h>

#include "kernels/gemm_avx2_shared.h"
#include "kernels/gemm_kernels.h"

namespace refusal::kernels::avxvnni {
namespace {

struct VnniDot {
  // No products to hold between instructions: 6 rows × 2 accumulators, 2 weight vectors and
  // the broadcast fit the 16 ymm registers.
  static constexpr int kMr = 6;
  static __m256i madd(__m256i acc, __m256i b, __m256i w) {
    return _mm256_dpbusd_avx_epi32(acc, b, w);
  }
};

}  // namespace

void gemm_int8(const detail::GemmArgs& g) { avx2_shared::run_int8<VnniDot>(g); }

}  // namespace refusal::kernels::avxvnni
