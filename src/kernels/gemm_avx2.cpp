// AVX2 + FMA GEMM kernels (compiled with -mavx2 -mfma; called only when the CPU has them). With
// 16 ymm registers a tile covers half a panel (16 columns: one 64-byte half of each 128-byte
// panel row) × a few rows. bf16 widens to fp32 (a shift or a mask) and uses FMA; int8 takes
// inputs of 0..127 (kInt8TopAvx2) so that VPMADDUBSW's 16-bit pair sums are exact, and matches
// reference::prepare_int8_u7 + the reference GEMM bit for bit (gemm_avxvnni.cpp runs the same
// int8 tiling with AVX-VNNI on u8 inputs).
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/gemm_avx2_shared.h"
#include "kernels/gemm_kernels.h"

namespace refusal::kernels::avx2 {
namespace {

using avx2_shared::kFewRows;
using avx2_shared::kFewRowsPrefetch;
using avx2_shared::load_u32;
using avx2_shared::row_tail;
using avx2_shared::Rows;
using avx2_shared::store8;
using detail::GemmArgs;
using std::size_t;

constexpr size_t kPrefetch = 1024;

float f32_bits(std::uint32_t u) {
  float v;
  std::memcpy(&v, &u, sizeof v);
  return v;
}

void store_fp32(const GemmArgs& g, size_t r, size_t col, __m256 acc) {
  store8(g.y + r * g.ldy + col, _mm256_add_ps(acc, _mm256_load_ps(g.bias + col)), col, g.c1);
}

// K groups [s0, s1) of a tile: the first chunk starts from zero, the others from the raw sums
// parked in y by the chunk before; the last adds the bias. Parking an fp32 sum is exact and
// every accumulator still adds its k in order, so chunks give the bits of one pass.
struct KChunk {
  size_t s0 = 0, s1 = 0;
  bool first = true, last = true;
};

__m256 load8(const float* y, size_t col, size_t c1) {
  if (col + 8 <= c1) return _mm256_loadu_ps(y);
  alignas(32) float tmp[8] = {};
  for (size_t i = 0; col + i < c1; ++i) tmp[i] = y[i];
  return _mm256_load_ps(tmp);
}

// fp32 or bf16 (Bf16 = true): MR rows × 16 columns starting at col, k groups of `chunk`.
// Not inlined: inlined into its callers beside the other tiles, GCC kept accumulators of the
// 3-, 4- and 5-row tiles on the stack (the 4 rows of a 16-row call among them).
template <bool Bf16, int MR, bool kFew = false>
__attribute__((noinline)) void tile_float(const GemmArgs& g, size_t r, size_t col, KChunk chunk) {
  const unsigned char* w = g.w + (col / 32) * g.groups * 128 + (col % 32) * 4;
  const unsigned char* a = g.a + r * g.a_stride;
  __m256 acc[MR][2];
  if (chunk.first) {
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  } else {
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      acc[i][0] = load8(g.y + (r + i) * g.ldy + col, col, g.c1);
      acc[i][1] = load8(g.y + (r + i) * g.ldy + col + 8, col + 8, g.c1);
    }
  }
  const __m256i high = _mm256_set1_epi32(static_cast<int>(0xffff0000u));
  size_t s = chunk.s0;
  if constexpr (!Bf16) {
    // Four k steps an iteration, one pointer per row and constant offsets: the loop of one step
    // spent about as many instructions on addresses as on FMAs (32 a step for 12 FMAs), more
    // than Zen 3's front end issues in the 6 cycles the FMAs take. Each accumulator still sums
    // its k in order, so the results are the same bits.
    const float* ar[MR];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) ar[i] = reinterpret_cast<const float*>(a + i * g.a_stride);
    const unsigned char* ws = w + s * 128;
    for (; s + 4 <= chunk.s1; s += 4, ws += 4 * 128) {
      if constexpr (MR <= 2) {
#pragma GCC unroll 4
        for (int u = 0; u < 4; ++u)
          _mm_prefetch(reinterpret_cast<const char*>(ws + u * 128 + kPrefetch), _MM_HINT_T0);
      }
#pragma GCC unroll 4
      for (int u = 0; u < 4; ++u) {
        const __m256 w0 = _mm256_load_ps(reinterpret_cast<const float*>(ws + u * 128));
        const __m256 w1 = _mm256_load_ps(reinterpret_cast<const float*>(ws + u * 128 + 32));
#pragma GCC unroll 8
        for (int i = 0; i < MR; ++i) {
          const __m256 b = _mm256_broadcast_ss(ar[i] + s + u);
          acc[i][0] = _mm256_fmadd_ps(b, w0, acc[i][0]);
          acc[i][1] = _mm256_fmadd_ps(b, w1, acc[i][1]);
          // 12 accumulators: without this GCC hoists the next step's loads and spills two.
          if constexpr (MR == 6) asm("" : "+x"(acc[i][0]), "+x"(acc[i][1])::"memory");
        }
      }
    }
  }
  for (; s < chunk.s1; ++s) {
    const unsigned char* ws = w + s * 128;
    if constexpr (kFew && MR > 2) {
      _mm_prefetch(reinterpret_cast<const char*>(ws + kFewRowsPrefetch), _MM_HINT_T0);
    } else if constexpr (MR <= 2) {
      _mm_prefetch(reinterpret_cast<const char*>(ws + kPrefetch), _MM_HINT_T0);
    }
    if constexpr (!Bf16) {
      const __m256 w0 = _mm256_load_ps(reinterpret_cast<const float*>(ws));
      const __m256 w1 = _mm256_load_ps(reinterpret_cast<const float*>(ws + 32));
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) {
        const __m256 b =
            _mm256_broadcast_ss(reinterpret_cast<const float*>(a + i * g.a_stride + s * 4));
        acc[i][0] = _mm256_fmadd_ps(b, w0, acc[i][0]);
        acc[i][1] = _mm256_fmadd_ps(b, w1, acc[i][1]);
      }
    } else {
      // Each 32-bit lane holds (k even, k odd) of one column: even = low half shifted up.
      const __m256i v0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(ws));
      const __m256i v1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(ws + 32));
      const __m256 e0 = _mm256_castsi256_ps(_mm256_slli_epi32(v0, 16));
      const __m256 o0 = _mm256_castsi256_ps(_mm256_and_si256(v0, high));
      const __m256 e1 = _mm256_castsi256_ps(_mm256_slli_epi32(v1, 16));
      const __m256 o1 = _mm256_castsi256_ps(_mm256_and_si256(v1, high));
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) {
        const std::uint32_t pair = load_u32(a + i * g.a_stride + s * 4);
        const __m256 be = _mm256_set1_ps(f32_bits(pair << 16));
        const __m256 bo = _mm256_set1_ps(f32_bits(pair & 0xffff0000u));
        acc[i][0] = _mm256_fmadd_ps(be, e0, acc[i][0]);
        acc[i][1] = _mm256_fmadd_ps(be, e1, acc[i][1]);
        acc[i][0] = _mm256_fmadd_ps(bo, o0, acc[i][0]);
        acc[i][1] = _mm256_fmadd_ps(bo, o1, acc[i][1]);
      }
    }
  }
  if (chunk.last) {
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      store_fp32(g, r + i, col, acc[i][0]);
      store_fp32(g, r + i, col + 8, acc[i][1]);
    }
  } else {
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      store8(g.y + (r + i) * g.ldy + col, acc[i][0], col, g.c1);
      store8(g.y + (r + i) * g.ldy + col + 8, acc[i][1], col + 8, g.c1);
    }
  }
}

// bf16 with a few rows (fp32 has its panel tiles, run_fp32_panels).
void run_bf16_few(const GemmArgs& g) {
  constexpr int kMr = 4;
  const KChunk whole{0, g.groups, true, true};
  for (size_t col = g.c0; col < g.c1; col += 16) {
    size_t r = g.r0;
    for (; r + kMr <= g.r1; r += kMr) tile_float<true, kMr, true>(g, r, col, whole);
    row_tail(g.r1 - r, [&]<int N>(Rows<N>) { tile_float<true, N, true>(g, r, col, whole); });
  }
}

// Every row tile of a strip reads its rows' inputs in full, so they should come from L2. With
// up to 64 rows and a long k (bf16: the FFN's output matrix of a 22–64-token text: 384 KB of
// inputs at 64 rows, read from L3 once per 16-column strip), k is cut into chunks of at least
// kMinChunk groups whose inputs fit in kChunkInputBytes, the sums parked in y between them:
// 64-token bf16 passes about 5 % faster on Zen 3 (docs/kernels.md; fp32 gained 4 % too, before
// its panel tiles took every call of up to kPanelRows rows). More rows would need
// shorter chunks, and parking their sums (or blocking rows instead, which reads every weight
// again per block) cost more than it saved: 512-token passes were 20–30 % slower.
constexpr size_t kChunkInputBytes = 256 * 1024;
constexpr size_t kMinChunk = 1024;

template <bool Bf16>
void run_float_chunked(const GemmArgs& g) {
  constexpr int kMr = Bf16 ? 4 : 6;
  // Whole 64-group chunks (a multiple of the tile loop's 4 k steps).
  const size_t fit = kChunkInputBytes / ((g.r1 - g.r0) * 4) / 64 * 64;
  const size_t kc = fit >= kMinChunk ? fit : g.groups;
  for (size_t s0 = 0; s0 < g.groups; s0 += kc) {
    const KChunk chunk{s0, std::min(g.groups, s0 + kc), s0 == 0, s0 + kc >= g.groups};
    for (size_t col = g.c0; col < g.c1; col += 16) {
      size_t r = g.r0;
      for (; r + kMr <= g.r1; r += kMr) tile_float<Bf16, kMr>(g, r, col, chunk);
      row_tail(g.r1 - r, [&]<int N>(Rows<N>) { tile_float<Bf16, N>(g, r, col, chunk); });
    }
  }
}

// fp32 with up to kPanelRows rows: tiles of up to 3 rows × 32 columns (a whole 128-byte panel
// row a k step) over k blocks of kPanelBlock steps. On Zen 3 a broadcast from memory also takes
// a slot of the FMA pipes: in L1, a 6 × 16 tile (6 broadcasts to 12 FMAs) ran at about 75 % of
// the FMA peak, 3 × 32 (3 to 12, each weight vector loaded once for three rows) at about 85 %.
// With 3 rows a tile, each weight is read by more tiles (6 for 16 rows), so k is cut into blocks
// whose 16 KB of weights stay in L1 while every row tile of the panel reads them; the tiles park
// their sums between blocks (exact: every output still adds its k in order, the bits of one
// pass), and the next block, contiguous in memory, is asked for while this one is read. Whole
// fp32 passes on Zen 3, 2 threads, medians of 6 interleaved rounds: 16 tokens 21 % faster,
// 32 tokens 16 %, 64 tokens 11 %, 128 tokens 9 % (docs/benchmarks.md); more rows keep the
// 6 × 16 tiles (512-token passes no different).
constexpr size_t kPanelRows = 128;
constexpr size_t kPanelBlock = 128;

// Asks for the lines [next, end) into L1, per_iter of them an iteration.
struct LineStream {
  const unsigned char* next = nullptr;
  const unsigned char* end = nullptr;
  size_t per_iter = 0;
  void step() {
    for (size_t u = 0; u < per_iter && next < end; ++u, next += 64)
      _mm_prefetch(reinterpret_cast<const char*>(next), _MM_HINT_T0);
  }
};

template <int MR>
__attribute__((noinline)) void tile_fp32_panel(const GemmArgs& g, size_t r, size_t col, size_t s0,
                                               size_t s1, float* park, bool first, bool last,
                                               LineStream& ahead_ref) {
  LineStream ahead = ahead_ref;
  const float* w = reinterpret_cast<const float*>(g.w + (col / 32) * g.groups * 128);
  const float* ar[MR];
#pragma GCC unroll 4
  for (int i = 0; i < MR; ++i) ar[i] = reinterpret_cast<const float*>(g.a + (r + i) * g.a_stride);
  __m256 acc[MR][4];
#pragma GCC unroll 4
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j)
      acc[i][j] = first ? _mm256_setzero_ps() : _mm256_load_ps(park + i * 32 + j * 8);
  }
  size_t s = s0;
  auto step = [&](size_t k) {
    const float* ws = w + k * 32;
    // The row's broadcasts first, then one weight vector at a time: 12 accumulators, 3
    // broadcasts and 1 weight vector are the 16 registers.
    __m256 b[MR];
#pragma GCC unroll 4
    for (int i = 0; i < MR; ++i) b[i] = _mm256_broadcast_ss(ar[i] + k);
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      const __m256 wj = _mm256_load_ps(ws + 8 * j);
#pragma GCC unroll 4
      for (int i = 0; i < MR; ++i) acc[i][j] = _mm256_fmadd_ps(b[i], wj, acc[i][j]);
    }
  };
  for (; s + 4 <= s1; s += 4) {
    ahead.step();
#pragma GCC unroll 4
    for (int u = 0; u < 4; ++u) step(s + u);
  }
  for (; s < s1; ++s) step(s);
  ahead_ref = ahead;
#pragma GCC unroll 4
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      if (last) {
        store_fp32(g, r + i, col + 8 * j, acc[i][j]);
      } else {
        _mm256_store_ps(park + i * 32 + j * 8, acc[i][j]);
      }
    }
  }
}

// Rows in the next row tile when `left` rows are left: 3s, then a 2 or two 2s (16 rows: 3, 3,
// 3, 3, 2, 2), or a single row alone.
size_t panel_tile_rows(size_t left) {
  if (left >= 5 || left == 3) return 3;
  return left >= 2 ? 2 : 1;
}

void run_fp32_panels(const GemmArgs& g) {
  size_t tiles = 0;
  for (size_t left = g.r1 - g.r0; left > 0; left -= panel_tile_rows(left)) ++tiles;
  alignas(32) float park[kPanelRows * 32];
  // The columns [c0, c1) are one contiguous run of panels; while a block is read, every tile
  // asks for its share of the next block's lines.
  const unsigned char* end = g.w + ((g.c1 + 31) / 32) * g.groups * 128;
  const size_t block_lines = kPanelBlock * 128 / 64;
  const size_t iters = tiles * (kPanelBlock / 4);
  LineStream ahead;
  ahead.per_iter = (block_lines + iters - 1) / iters;
  for (size_t col = g.c0; col < g.c1; col += 32) {
    const unsigned char* panel = g.w + (col / 32) * g.groups * 128;
    for (size_t s0 = 0; s0 < g.groups; s0 += kPanelBlock) {
      const size_t s1 = std::min(g.groups, s0 + kPanelBlock);
      ahead.next = std::min(panel + s1 * 128, end);
      ahead.end = std::min(ahead.next + block_lines * 64, end);
      const bool first = s0 == 0, last = s1 == g.groups;
      float* pk = park;
      for (size_t r = g.r0; r < g.r1;) {
        const size_t rows = panel_tile_rows(g.r1 - r);
        switch (rows) {
          case 3:
            tile_fp32_panel<3>(g, r, col, s0, s1, pk, first, last, ahead);
            break;
          case 2:
            tile_fp32_panel<2>(g, r, col, s0, s1, pk, first, last, ahead);
            break;
          default:
            tile_fp32_panel<1>(g, r, col, s0, s1, pk, first, last, ahead);
            break;
        }
        r += rows;
        pk += rows * 32;
      }
    }
  }
}

template <bool Bf16>
void run_float(const GemmArgs& g) {
  const size_t rows = g.r1 - g.r0;
  if constexpr (Bf16) {
    if (rows <= kFewRows) return run_bf16_few(g);
  } else {
    if (rows <= kPanelRows) return run_fp32_panels(g);
  }
  run_float_chunked<Bf16>(g);
}

// int8 on AVX2: VPMADDUBSW multiplies the broadcast u7 quad by the s8 weights and adds the
// products in pairs (at most 127 · 127 · 2 = 32258 in 16 bits: exact), VPMADDWD by
// ones adds the pairs into each column's int32 quad sum. Against the int16 inputs and VPMADDWD
// of before (6 rows × 8 columns, the same two multiplies per 32 products but four vector
// instructions instead of three and a widening of the weights), the one-thread GEMM went from
// about 80–120 to 140–160 GOP/s at m = 16 and 64 on Zen 3 (bench_kernels, interleaved).
struct MaddubsDot {
  static constexpr int kMr = 4;  // 16 rows (a short text): 4 full tiles; 5 or 6 were no faster
  static __m256i madd(__m256i acc, __m256i b, __m256i w) {
    const __m256i pairs = _mm256_maddubs_epi16(b, w);
    return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
  }
};

}  // namespace

void gemm_fp32(const GemmArgs& g) { run_float<false>(g); }
void gemm_bf16(const GemmArgs& g) { run_float<true>(g); }
void gemm_int8(const GemmArgs& g) { avx2_shared::run_int8<MaddubsDot>(g); }

namespace {

// Lanes [0, left) of 8 (all when left >= 8), as a maskload mask.
__m256i tail_mask(size_t left) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const int n = left >= 8 ? 8 : static_cast<int>(left);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lane);
}

// The 8 low 16-bit halves of v's 32-bit lanes, in order.
__m128i low_halves(__m256i v) {
  const __m256i pick = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1, 0,
                                        1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m256i packed = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(v, pick), 0x08);
  return _mm256_castsi256_si128(packed);
}

}  // namespace

// The same bit manipulation as the portable to_bf16 (packed_linear.cpp): round to nearest
// even, NaN kept quiet.
void prepare_bf16(const float* x, size_t ldx, size_t k, size_t r0, size_t r1, unsigned char* out,
                  size_t stride) {
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff);
  const __m256i inf = _mm256_set1_epi32(0x7f800000);
  const __m256i one = _mm256_set1_epi32(1);
  const __m256i half = _mm256_set1_epi32(0x7fff);
  const __m256i quiet = _mm256_set1_epi32(0x40);
  for (size_t r = r0; r < r1; ++r) {
    const float* xr = x + r * ldx;
    unsigned char* row = out + r * stride;
    size_t kk = 0;
    for (; kk < k; kk += 8) {
      const __m256i u = _mm256_castps_si256(_mm256_maskload_ps(xr + kk, tail_mask(k - kk)));
      // Signed compare is enough: |u| < 2^31.
      const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, abs_mask), inf);
      const __m256i hi = _mm256_srli_epi32(u, 16);
      const __m256i rounded = _mm256_srli_epi32(
          _mm256_add_epi32(_mm256_add_epi32(u, half), _mm256_and_si256(hi, one)), 16);
      const __m128i v = low_halves(_mm256_blendv_epi8(rounded, _mm256_or_si256(hi, quiet), nan));
      if (kk + 8 <= k) {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(row + 2 * kk), v);
      } else {
        alignas(16) unsigned char tmp[16];
        _mm_store_si128(reinterpret_cast<__m128i*>(tmp), v);
        std::memcpy(row + 2 * kk, tmp, 2 * (k - kk));
      }
    }
    std::memset(row + 2 * k, 0, stride - 2 * k);
  }
}

// min_ps / max_ps pick their second operand on ties and NaN, like the portable ternaries; the
// rounding is the portable round_even (add and subtract 1.5·2^23), so the values are identical.
// The levels are 0..top: 127 (kInt8TopAvx2, gemm_kernels.h) are the values of
// reference::prepare_int8_u7, 255 (kInt8Top) those of reference::prepare_int8.
namespace {
void prepare_int8_levels(const float* x, size_t ldx, size_t k, size_t r0, size_t r1,
                         unsigned char* out, size_t stride, float top_level) {
  for (size_t r = r0; r < r1; ++r) {
    const float* xr = x + r * ldx;
    unsigned char* row = out + r * stride;
    __m256 vlo = _mm256_setzero_ps();
    __m256 vhi = _mm256_setzero_ps();
    for (size_t kk = 0; kk < k; kk += 8) {
      const __m256 v = _mm256_maskload_ps(xr + kk, tail_mask(k - kk));  // 0 is neutral here
      vlo = _mm256_min_ps(v, vlo);
      vhi = _mm256_max_ps(v, vhi);
    }
    alignas(32) float lo8[8], hi8[8];
    _mm256_store_ps(lo8, vlo);
    _mm256_store_ps(hi8, vhi);
    float lo = 0.0f, hi = 0.0f;
    for (int i = 0; i < 8; ++i) {
      lo = lo8[i] < lo ? lo8[i] : lo;
      hi = hi8[i] > hi ? hi8[i] : hi;
    }
    float scale, inv, zero;
    detail::int8_row_params(lo, hi, top_level, &scale, &inv, &zero);
    const __m256 vinv = _mm256_set1_ps(inv);
    const __m256 vzero = _mm256_set1_ps(zero);
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    const __m256 lim = _mm256_set1_ps(512.0f);
    const __m256 neg_lim = _mm256_set1_ps(-512.0f);
    const __m256 top = _mm256_set1_ps(top_level);
    unsigned char* q = row + detail::kInt8Header;
    for (size_t kk = 0; kk < k; kk += 8) {
      __m256 v = _mm256_mul_ps(_mm256_maskload_ps(xr + kk, tail_mask(k - kk)), vinv);
      v = _mm256_min_ps(_mm256_max_ps(v, neg_lim), lim);
      v = _mm256_add_ps(_mm256_sub_ps(_mm256_add_ps(v, magic), magic), vzero);
      v = _mm256_min_ps(_mm256_max_ps(v, _mm256_setzero_ps()), top);
      const __m128i halves = low_halves(_mm256_cvttps_epi32(v));  // 0..top
      const __m128i bytes = _mm_packus_epi16(halves, halves);
      if (k - kk >= 8) {
        _mm_storel_epi64(reinterpret_cast<__m128i*>(q + kk), bytes);
      } else {
        alignas(16) unsigned char tmp[16];
        _mm_store_si128(reinterpret_cast<__m128i*>(tmp), bytes);
        std::memcpy(q + kk, tmp, k - kk);
      }
    }
    std::memset(q + k, 0, stride - detail::kInt8Header - k);
    const auto zero_i = static_cast<std::int32_t>(zero);
    std::memcpy(row, &scale, 4);
    std::memcpy(row + 4, &zero_i, 4);
    std::memset(row + 8, 0, 8);
  }
}

}  // namespace

void prepare_int8(const float* x, size_t ldx, size_t k, size_t r0, size_t r1, unsigned char* out,
                  size_t stride) {
  prepare_int8_levels(x, ldx, k, r0, r1, out, stride, detail::kInt8TopAvx2);
}

void prepare_int8_u8(const float* x, size_t ldx, size_t k, size_t r0, size_t r1, unsigned char* out,
                     size_t stride) {
  prepare_int8_levels(x, ldx, k, r0, r1, out, stride, detail::kInt8Top);
}

}  // namespace refusal::kernels::avx2
