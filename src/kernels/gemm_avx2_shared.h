// Pieces of the AVX2 GEMMs shared by gemm_avx2.cpp (-mavx2 -mfma) and gemm_avxvnni.cpp
// (-mavx2 -mfma -mavxvnni): the row-tail dispatch, the stores, and the int8 GEMM's tiling,
// which both files run with their own multiply-add (the Dot policy: VPMADDUBSW + VPMADDWD on u7
// inputs, or AVX-VNNI's VPDPBUSD on u8). Internal; include it only from those two files.
//
// Everything here is in an anonymous namespace: each file gets its own copy, compiled with its
// own flags, so the linker cannot hand one file's AVX-VNNI code to the other (gemm_kernels.h).
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/gemm_kernels.h"

namespace refusal::kernels::avx2_shared {
namespace {

using detail::GemmArgs;
using std::size_t;

// With a few rows (≤ kFewRows: a short text; bf16 and int8, fp32 has its panel tiles), every
// row tile streams its strip of weights (a 64-byte half of each 128-byte panel row) from L3 or
// memory, and the tiles of 3–6 rows wait on it: asking for the weights kFewRowsPrefetch bytes
// (32 k steps) ahead in those tiles ran the 16-row GEMM about 10–20 % faster on Zen 4
// (bench_kernels fp32_avx2/m:16, docs/benchmarks.md, when fp32 still took these tiles). Longer
// inputs keep each strip in cache for many row tiles and do not prefetch.
constexpr size_t kFewRows = 16;
constexpr size_t kFewRowsPrefetch = 4096;

std::uint32_t load_u32(const unsigned char* p) {
  std::uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Stores 8 floats at y, or only the first c1 - col of them.
void store8(float* y, __m256 v, size_t col, size_t c1) {
  if (col + 8 <= c1) {
    _mm256_storeu_ps(y, v);
  } else if (col < c1) {
    alignas(32) float tmp[8];
    _mm256_store_ps(tmp, v);
    for (size_t i = 0; i < c1 - col; ++i) y[i] = tmp[i];
  }
}

// Row counts 1..5 as types, so the tails of a row loop can pick a tile template.
template <int N>
struct Rows {};

// Calls tile(Rows<rows>{}) for rows in 1..5 (the rows left after the full tiles); 0: nothing.
template <class Tile>
void row_tail(size_t rows, Tile&& tile) {
  switch (rows) {
    case 1:
      tile(Rows<1>{});
      break;
    case 2:
      tile(Rows<2>{});
      break;
    case 3:
      tile(Rows<3>{});
      break;
    case 4:
      tile(Rows<4>{});
      break;
    case 5:
      tile(Rows<5>{});
      break;
    default:
      break;
  }
}

// Where a few-row tile asks for the weights of the strip that comes after its own: `lines`
// 64-byte lines, 128 bytes apart from `next`, `per_iter` of them per iteration of the tile's k
// loop (NextStrip sizes them). Empty: nothing to ask for.
struct StripPrefetch {
  const unsigned char* next = nullptr;
  size_t lines = 0;
  size_t per_iter = 0;
};

// With a few rows, each 16-column strip is read by ceil(rows / MR) row tiles: the first from
// memory, the others from L2. So that memory stays busy while the later tiles compute, every
// tile of a strip asks for its share of the next strip's lines (the other half of the same
// panel rows, or the first half of the next panel), spread over its k loop: as many as fit in
// L2 (kL2Bytes, Zen 2/3's 512 KB less a margin) beside the input rows and the strip being read.
constexpr size_t kL2Bytes = 448 * 1024;

class NextStrip {
 public:
  // `tiles` row tiles per strip, each taking `groups_per_iter` k groups per loop iteration.
  NextStrip(const GemmArgs& g, size_t tiles, size_t groups_per_iter) : g_(g) {
    const size_t resident = (g.r1 - g.r0) * g.a_stride + g.groups * 64;
    lines_ = std::min(g.groups, resident < kL2Bytes ? (kL2Bytes - resident) / 64 : 0);
    per_tile_ = (lines_ + tiles - 1) / tiles;
    const size_t iters = std::max<size_t>(g.groups / groups_per_iter, 1);
    per_iter_ = (per_tile_ + iters - 1) / iters;
  }
  // The share of tile `t` of the strip at `col`; empty for the last strip of the call.
  StripPrefetch share(size_t col, size_t t) const {
    StripPrefetch p;
    if (col + 16 >= g_.c1) return p;
    const unsigned char* strip = g_.w + (col / 32) * g_.groups * 128 + (col % 32) * 4;
    const unsigned char* next = col % 32 == 0 ? strip + 64 : strip - 64 + g_.groups * 128;
    const size_t first = std::min(t * per_tile_, lines_);
    p.next = next + first * 128;
    p.lines = std::min(per_tile_, lines_ - first);
    p.per_iter = per_iter_;
    return p;
  }

 private:
  const GemmArgs& g_;
  size_t lines_ = 0, per_tile_ = 0, per_iter_ = 0;
};

// Asks for up to ahead.per_iter of the next strip's lines (into L2) and moves past them.
void prefetch_next_strip(StripPrefetch& ahead) {
  if (ahead.lines == 0) return;
  const size_t n = std::min(ahead.per_iter, ahead.lines);
  for (size_t u = 0; u < n; ++u)
    _mm_prefetch(reinterpret_cast<const char*>(ahead.next + u * 128), _MM_HINT_T1);
  ahead.next += n * 128;
  ahead.lines -= n;
}

void store_int8(const GemmArgs& g, size_t r, size_t col, __m256i acc) {
  if (col >= g.c1) return;
  const unsigned char* a = g.a + r * g.a_stride;
  float scale;
  int zero;
  std::memcpy(&scale, a - 16, sizeof scale);
  std::memcpy(&zero, a - 12, sizeof zero);
  const __m256i colsum = _mm256_load_si256(reinterpret_cast<const __m256i*>(g.colsum + col));
  const __m256i exact = _mm256_sub_epi32(acc, _mm256_mullo_epi32(_mm256_set1_epi32(zero), colsum));
  const __m256 s = _mm256_mul_ps(_mm256_set1_ps(scale), _mm256_load_ps(g.wscale + col));
  const __m256 v = _mm256_fmadd_ps(_mm256_cvtepi32_ps(exact), s, _mm256_load_ps(g.bias + col));
  store8(g.y + r * g.ldy + col, v, col, g.c1);
}

// int8: MR rows × 16 columns (one 64-byte half of each panel row: 16 columns × a k quad). A k
// quad of a row is 4 input bytes, broadcast to every lane and multiplied by Dot.
template <class Dot, int MR, bool kFew = false>
__attribute__((noinline)) void tile_int8(const GemmArgs& g, size_t r, size_t col,
                                         StripPrefetch ahead = {}) {
  const unsigned char* w = g.w + (col / 32) * g.groups * 128 + (col % 32) * 4;
  const unsigned char* a = g.a + r * g.a_stride;
  __m256i acc[MR][2];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_si256();
  for (size_t s = 0; s < g.groups; ++s) {
    const unsigned char* ws = w + s * 128;
    // Each k quad's 64 bytes sit 128 bytes after the last one's; asking 32 quads ahead ran the
    // 16-row, k = 768 loop about 1.5× as fast with the weights in L3 (Zen 3).
    _mm_prefetch(reinterpret_cast<const char*>(ws + kFewRowsPrefetch), _MM_HINT_T0);
    if constexpr (kFew) prefetch_next_strip(ahead);
    const __m256i w0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(ws));
    const __m256i w1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(ws + 32));
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m256i b = _mm256_set1_epi32(static_cast<int>(load_u32(a + i * g.a_stride + s * 4)));
      acc[i][0] = Dot::madd(acc[i][0], b, w0);
      acc[i][1] = Dot::madd(acc[i][1], b, w1);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    store_int8(g, r + i, col, acc[i][0]);
    store_int8(g, r + i, col + 8, acc[i][1]);
  }
}

// The int8 GEMM with Dot's multiply-add: Dot::madd(acc, b, w) adds, into each int32 lane of
// acc, the four products of b's u8 quad with w's s8 quad of that column; Dot::kMr rows a tile.
template <class Dot>
void run_int8(const GemmArgs& g) {
  constexpr int kMr = Dot::kMr;
  if (g.r1 - g.r0 <= kFewRows) {  // the strips stream from memory: ask for the next (NextStrip)
    const NextStrip next(g, (g.r1 - g.r0 + kMr - 1) / kMr, 1);  // one k group an iteration
    for (size_t col = g.c0; col < g.c1; col += 16) {
      size_t r = g.r0, t = 0;
      for (; r + kMr <= g.r1; r += kMr) tile_int8<Dot, kMr, true>(g, r, col, next.share(col, t++));
      row_tail(g.r1 - r,
               [&]<int N>(Rows<N>) { tile_int8<Dot, N, true>(g, r, col, next.share(col, t++)); });
    }
    return;
  }
  // The tiles of one 16-column strip read every row of the block; blocks of rows whose inputs
  // fit in L2 (with room for the weights) keep those reads out of L3.
  constexpr size_t kBlockBytes = 160 * 1024;
  const size_t block = std::max<size_t>(kMr, kBlockBytes / g.a_stride / kMr * kMr);
  for (size_t r0 = g.r0; r0 < g.r1; r0 += block) {
    const size_t r1 = std::min(g.r1, r0 + block);
    for (size_t col = g.c0; col < g.c1; col += 16) {
      size_t r = r0;
      for (; r + kMr <= r1; r += kMr) tile_int8<Dot, kMr>(g, r, col);
      row_tail(r1 - r, [&]<int N>(Rows<N>) { tile_int8<Dot, N>(g, r, col); });
    }
  }
}

}  // namespace
}  // namespace refusal::kernels::avx2_shared
