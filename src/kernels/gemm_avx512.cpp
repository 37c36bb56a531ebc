// AVX-512 GEMM kernels (compiled with -mavx512f/bw/vl/dq/bf16/vnni -mfma; called only when the
// CPU has them). One register-blocked tile serves all three precisions: MR rows × 1 or 2 panels
// (32 or 64 columns), each k group one 128-byte row per panel (two zmm) and one broadcast
// 4-byte input group per row, fed to FMA (fp32), VDPBF16PS (bf16) or VPDPBUSD (int8).
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/gemm_kernels.h"

// GCC 12 flags _mm512_undefined_ps() inside _mm512_cvtepi32_ps as maybe-uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace refusal::kernels::avx512 {
namespace {

using detail::GemmArgs;
using std::size_t;

// Rows per tile: 6 rows × 4 zmm = 24 accumulators + 4 weight registers + a broadcast.
constexpr int kMr = 6;
// Prefetch distance (bytes ahead in each panel) for the few-row, weight-streaming tiles.
constexpr size_t kPrefetch = 1024;

std::uint32_t load_u32(const unsigned char* p) {
  std::uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

__mmask16 column_mask(size_t col, size_t c1) {
  if (col + 16 <= c1) return 0xffff;
  if (col >= c1) return 0;
  return static_cast<__mmask16>((1u << (c1 - col)) - 1u);
}

struct Fp32 {
  static constexpr bool kPrefetchNextAlways = true;  // run_blocked's next-unit prefetch
  using Acc = __m512;
  using W = __m512;
  using B = __m512;
  static Acc zero() { return _mm512_setzero_ps(); }
  static W load_w(const unsigned char* p) { return _mm512_load_ps(p); }
  static B bcast(const unsigned char* p) {
    return _mm512_castsi512_ps(_mm512_set1_epi32(static_cast<int>(load_u32(p))));
  }
  static Acc madd(Acc acc, B b, W w) { return _mm512_fmadd_ps(b, w, acc); }
  static void store(Acc acc, const GemmArgs& g, size_t r, size_t col, __mmask16 m) {
    const __m512 v = _mm512_add_ps(acc, _mm512_load_ps(g.bias + col));
    _mm512_mask_storeu_ps(g.y + r * g.ldy + col, m, v);
  }
  // A k block's partial sums, parked in y between blocks.
  static Acc load_partial(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
  static void store_partial(float* p, Acc acc, __mmask16 m) { _mm512_mask_storeu_ps(p, m, acc); }
};

struct Bf16 {
  static constexpr bool kPrefetchNextAlways = true;
  using Acc = __m512;
  using W = __m512bh;
  using B = __m512bh;
  static Acc zero() { return _mm512_setzero_ps(); }
  static W load_w(const unsigned char* p) { return (__m512bh)_mm512_load_si512(p); }
  static B bcast(const unsigned char* p) {
    return (__m512bh)_mm512_set1_epi32(static_cast<int>(load_u32(p)));
  }
  static Acc madd(Acc acc, B b, W w) { return _mm512_dpbf16_ps(acc, b, w); }
  static void store(Acc acc, const GemmArgs& g, size_t r, size_t col, __mmask16 m) {
    Fp32::store(acc, g, r, col, m);
  }
  static Acc load_partial(const float* p, __mmask16 m) { return Fp32::load_partial(p, m); }
  static void store_partial(float* p, Acc acc, __mmask16 m) { Fp32::store_partial(p, acc, m); }
};

struct Int8 {
  // Only for calls of one row block: with more rows, VPDPBUSD's four products per weight byte
  // keep the tiles busy enough (passes of 512 tokens and 32 × 64 measured 3-5 % slower with it,
  // within the noise of the Xeon VM it was measured on).
  static constexpr bool kPrefetchNextAlways = false;
  using Acc = __m512i;
  using W = __m512i;
  using B = __m512i;
  static Acc zero() { return _mm512_setzero_si512(); }
  static W load_w(const unsigned char* p) { return _mm512_load_si512(p); }
  static B bcast(const unsigned char* p) {
    return _mm512_set1_epi32(static_cast<int>(load_u32(p)));
  }
  // u8 input × s8 weight, four products summed into each int32 lane.
  static Acc madd(Acc acc, B b, W w) { return _mm512_dpbusd_epi32(acc, b, w); }
  static void store(Acc acc, const GemmArgs& g, size_t r, size_t col, __mmask16 m) {
    const unsigned char* a = g.a + r * g.a_stride;
    float scale;
    int zero;
    std::memcpy(&scale, a - 16, sizeof scale);
    std::memcpy(&zero, a - 12, sizeof zero);
    // acc - zero·colsum removes the zero point; then one FMA, as the reference does.
    const __m512i colsum = _mm512_load_si512(g.colsum + col);
    const __m512i exact =
        _mm512_sub_epi32(acc, _mm512_mullo_epi32(_mm512_set1_epi32(zero), colsum));
    const __m512 s = _mm512_mul_ps(_mm512_set1_ps(scale), _mm512_load_ps(g.wscale + col));
    const __m512 v = _mm512_fmadd_ps(_mm512_cvtepi32_ps(exact), s, _mm512_load_ps(g.bias + col));
    _mm512_mask_storeu_ps(g.y + r * g.ldy + col, m, v);
  }
  // int32 partial sums keep their bits in y's float slots.
  static Acc load_partial(const float* p, __mmask16 m) { return _mm512_maskz_loadu_epi32(m, p); }
  static void store_partial(float* p, Acc acc, __mmask16 m) { _mm512_mask_storeu_epi32(p, m, acc); }
};

// Cache blocking. A row block's inputs for one k block (kRowBlock rows × kKBlock groups × 4
// bytes, 288 KiB) and one panel pair's weights for that k block (kKBlock × 256 bytes, 192 KiB)
// stay in L2 while every row tile of the block passes over them, so each weight byte comes
// from memory once per row block rather than once per row tile. A multiple of kMr.
constexpr size_t kRowBlock = 96;
constexpr size_t kKBlock = 768;  // groups: k=768 in one block; fp32 k=3072 in four

// Rows [r, r + MR) × panels [p, p + NP), k groups [s0, s1). Between k blocks the raw sums are
// parked in y and picked up again, so the sums are the same as without blocking.
// kBlocked: false when [s0, s1) is all of k (the loop then keeps every sum in registers; GCC
// spills them if it must also allow for the parked path).
// next: when not 0, the tile asks (into L2) for the weights that many bytes further on in each
// panel (the next unit of run_blocked) at k steps s0 + pf_first, then every pf_every steps.
template <class Op, int MR, int NP, bool kBlocked>
inline __attribute__((always_inline)) void tile(const GemmArgs& g, size_t r, size_t p, size_t s0,
                                                size_t s1, size_t next = 0, size_t pf_every = 1,
                                                size_t pf_first = 0) {
  constexpr int kNv = 2 * NP;
  const size_t panel_bytes = g.groups * 128;
  const unsigned char* w = g.w + p * panel_bytes;
  const unsigned char* a = g.a + r * g.a_stride;
  const bool first = !kBlocked || s0 == 0;
  const bool last = !kBlocked || s1 == g.groups;
  __mmask16 mask[kNv];
#pragma GCC unroll 4
  for (int j = 0; j < kNv; ++j) mask[j] = column_mask(p * 32 + static_cast<size_t>(j) * 16, g.c1);
  typename Op::Acc acc[MR][kNv];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 4
    for (int j = 0; j < kNv; ++j) {
      acc[i][j] =
          first ? Op::zero() : Op::load_partial(g.y + (r + i) * g.ldy + p * 32 + j * 16, mask[j]);
    }
  }
  size_t next_pf = next != 0 ? s0 + pf_first : s1;
  for (size_t s = s0; s < s1; ++s) {
    typename Op::W wv[kNv];
    if (s == next_pf) {
      next_pf += pf_every;
#pragma GCC unroll 2
      for (int q = 0; q < NP; ++q) {
        const unsigned char* wn = w + q * panel_bytes + s * 128 + next;
        _mm_prefetch(reinterpret_cast<const char*>(wn), _MM_HINT_T1);
        _mm_prefetch(reinterpret_cast<const char*>(wn + 64), _MM_HINT_T1);
      }
    }
#pragma GCC unroll 2
    for (int q = 0; q < NP; ++q) {
      const unsigned char* wq = w + q * panel_bytes + s * 128;
      wv[2 * q] = Op::load_w(wq);
      wv[2 * q + 1] = Op::load_w(wq + 64);
      if constexpr (MR <= 2) {
        // Few rows: the weights stream from memory; ask for them early.
        _mm_prefetch(reinterpret_cast<const char*>(wq + kPrefetch), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(wq + kPrefetch + 64), _MM_HINT_T0);
      }
    }
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const typename Op::B b = Op::bcast(a + i * g.a_stride + s * 4);
#pragma GCC unroll 4
      for (int j = 0; j < kNv; ++j) acc[i][j] = Op::madd(acc[i][j], b, wv[j]);
    }
  }
#pragma GCC unroll 4
  for (int j = 0; j < kNv; ++j) {
    const size_t col = p * 32 + static_cast<size_t>(j) * 16;
    if (mask[j] == 0) continue;
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      if (last) {
        Op::store(acc[i][j], g, r + i, col, mask[j]);
      } else {
        Op::store_partial(g.y + (r + i) * g.ldy + col, acc[i][j], mask[j]);
      }
    }
  }
}

template <class Op, int NP, bool kBlocked>
void row_tail(const GemmArgs& g, size_t r, size_t p, size_t rows, size_t s0, size_t s1, size_t next,
              size_t pf_every, size_t pf_first) {
  switch (rows) {
    case 1:
      tile<Op, 1, NP, kBlocked>(g, r, p, s0, s1, next, pf_every, pf_first);
      break;
    case 2:
      tile<Op, 2, NP, kBlocked>(g, r, p, s0, s1, next, pf_every, pf_first);
      break;
    case 3:
      tile<Op, 3, NP, kBlocked>(g, r, p, s0, s1, next, pf_every, pf_first);
      break;
    case 4:
      tile<Op, 4, NP, kBlocked>(g, r, p, s0, s1, next, pf_every, pf_first);
      break;
    case 5:
      tile<Op, 5, NP, kBlocked>(g, r, p, s0, s1, next, pf_every, pf_first);
      break;
    default:
      break;
  }
}

// Row blocks, then panel pairs, then k blocks, then the row tiles of the block. A unit (panel
// pair × k block) is read from memory by its first row tile and from cache by the others; those
// others ask for the next unit of the row block (into L2), each for its share of the k steps,
// so that memory delivers it while they compute rather than when the next first tile needs it
// (whole passes on a Xeon: 16 tokens fp32 about as fast as streaming k blocks through L1, 32
// tokens -12 %, 64 -13 %, 128 -9 %, 512 -4 %; bf16 16 tokens -17 %; VNNI int8 64 -8 %).
template <class Op, bool kBlocked>
void run_blocked(const GemmArgs& g) {
  for (size_t rb = g.r0; rb < g.r1; rb += kRowBlock) {
    const size_t re = rb + kRowBlock < g.r1 ? rb + kRowBlock : g.r1;
    for (size_t c = g.c0; c < g.c1; c += 64) {
      const size_t p = c / 32;
      const bool two = c + 32 < g.c1;
      for (size_t s0 = 0; s0 < g.groups; s0 += kKBlock) {
        const size_t s1 = s0 + kKBlock < g.groups ? s0 + kKBlock : g.groups;
        // Bytes to the same k step of the next unit: the next k block, else the next pair.
        const bool ask = Op::kPrefetchNextAlways || g.r1 - g.r0 <= kRowBlock;
        size_t next = 0;
        if (ask && s1 < g.groups) {
          next = (s1 - s0) * 128;
        } else if (ask && c + 64 < g.c1) {
          next = 2 * g.groups * 128 - s0 * 128;
        }
        const size_t tiles = (re - rb + kMr - 1) / kMr;
        const size_t every = tiles > 1 ? tiles - 1 : 1;  // the tiles after the first share it
        size_t t = 0;
        size_t r = rb;
        for (; r + kMr <= re; r += kMr, ++t) {
          const size_t nx = t == 0 ? 0 : next;
          const size_t first = t == 0 ? 0 : t - 1;
          if (two) {
            tile<Op, kMr, 2, kBlocked>(g, r, p, s0, s1, nx, every, first);
          } else {
            tile<Op, kMr, 1, kBlocked>(g, r, p, s0, s1, nx, every, first);
          }
        }
        if (r < re) {
          const size_t nx = t == 0 ? 0 : next;
          const size_t first = t == 0 ? 0 : t - 1;
          if (two) {
            row_tail<Op, 2, kBlocked>(g, r, p, re - r, s0, s1, nx, every, first);
          } else {
            row_tail<Op, 1, kBlocked>(g, r, p, re - r, s0, s1, nx, every, first);
          }
        }
      }
    }
  }
}

template <class Op>
void run(const GemmArgs& g) {
  if (g.groups > kKBlock) {
    run_blocked<Op, true>(g);
  } else {
    run_blocked<Op, false>(g);
  }
}

__mmask16 tail_mask(size_t left) {
  return left >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << left) - 1u);
}

}  // namespace

void gemm_fp32(const GemmArgs& g) { run<Fp32>(g); }
void gemm_bf16(const GemmArgs& g) { run<Bf16>(g); }
void gemm_int8(const GemmArgs& g) { run<Int8>(g); }

// The same bit manipulation as the portable to_bf16 (VCVTNEPS2BF16 would flush denormals).
void prepare_bf16(const float* x, size_t ldx, size_t k, size_t r0, size_t r1, unsigned char* out,
                  size_t stride) {
  const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff);
  const __m512i inf = _mm512_set1_epi32(0x7f800000);
  const __m512i one = _mm512_set1_epi32(1);
  const __m512i half = _mm512_set1_epi32(0x7fff);
  const __m512i quiet = _mm512_set1_epi32(0x40);
  for (size_t r = r0; r < r1; ++r) {
    const float* xr = x + r * ldx;
    unsigned char* row = out + r * stride;
    for (size_t kk = 0; kk < k; kk += 16) {
      const __mmask16 m = tail_mask(k - kk);
      const __m512i u = _mm512_castps_si512(_mm512_maskz_loadu_ps(m, xr + kk));
      const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, abs_mask), inf);
      const __m512i hi = _mm512_srli_epi32(u, 16);
      const __m512i rounded = _mm512_srli_epi32(
          _mm512_add_epi32(_mm512_add_epi32(u, half), _mm512_and_si512(hi, one)), 16);
      const __m512i v = _mm512_mask_blend_epi32(nan, rounded, _mm512_or_si512(hi, quiet));
      _mm512_mask_cvtepi32_storeu_epi16(row + 2 * kk, m, v);
    }
    std::memset(row + 2 * k, 0, stride - 2 * k);
  }
}

// min_ps / max_ps pick their second operand on ties and NaN, like the portable ternaries.
void prepare_int8(const float* x, size_t ldx, size_t k, size_t r0, size_t r1, unsigned char* out,
                  size_t stride) {
  for (size_t r = r0; r < r1; ++r) {
    const float* xr = x + r * ldx;
    unsigned char* row = out + r * stride;
    __m512 vlo = _mm512_setzero_ps();
    __m512 vhi = _mm512_setzero_ps();
    for (size_t kk = 0; kk < k; kk += 16) {
      const __m512 v = _mm512_maskz_loadu_ps(tail_mask(k - kk), xr + kk);  // 0 is neutral here
      vlo = _mm512_min_ps(v, vlo);
      vhi = _mm512_max_ps(v, vhi);
    }
    float scale, inv, zero;
    detail::int8_row_params(_mm512_reduce_min_ps(vlo), _mm512_reduce_max_ps(vhi), detail::kInt8Top,
                            &scale, &inv, &zero);
    const __m512 vinv = _mm512_set1_ps(inv);
    const __m512 vzero = _mm512_set1_ps(zero);
    const __m512 magic = _mm512_set1_ps(12582912.0f);
    const __m512 lim = _mm512_set1_ps(512.0f);
    const __m512 neg_lim = _mm512_set1_ps(-512.0f);
    const __m512 top = _mm512_set1_ps(255.0f);
    unsigned char* q = row + detail::kInt8Header;
    for (size_t kk = 0; kk < k; kk += 16) {
      const __mmask16 m = tail_mask(k - kk);
      __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, xr + kk), vinv);
      v = _mm512_min_ps(_mm512_max_ps(v, neg_lim), lim);
      v = _mm512_add_ps(_mm512_sub_ps(_mm512_add_ps(v, magic), magic), vzero);
      v = _mm512_min_ps(_mm512_max_ps(v, _mm512_setzero_ps()), top);
      _mm512_mask_cvtepi32_storeu_epi8(q + kk, m, _mm512_cvttps_epi32(v));
    }
    std::memset(q + k, 0, stride - detail::kInt8Header - k);
    const auto zero_i = static_cast<std::int32_t>(zero);
    std::memcpy(row, &scale, 4);
    std::memcpy(row + 4, &zero_i, 4);
    std::memset(row + 8, 0, 8);
  }
}

}  // namespace refusal::kernels::avx512
