// AVX2 + FMA GEMM kernels (compiled with -mavx2 -mfma; called only when the CPU has them). With
// 16 ymm registers a tile covers half a panel (16 columns: one 64-byte half of each 128-byte
// panel row) × a few rows. bf16 widens to fp32 (a shift or a mask) and uses FMA; int8 takes
// inputs of 0..127 (kInt8TopAvx2) so that VPMADDUBSW's 16-bit pair sums are exact, and matches
// reference::prepare_int8_u7 + the reference GEMM bit for bit.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/gemm_kernels.h"

namespace refusal::kernels::avx2 {
namespace {

using detail::GemmArgs;
using std::size_t;

constexpr size_t kPrefetch = 1024;
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

float f32_bits(std::uint32_t u) {
  float v;
  std::memcpy(&v, &u, sizeof v);
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

void store_fp32(const GemmArgs& g, size_t r, size_t col, __m256 acc) {
  store8(g.y + r * g.ldy + col, _mm256_add_ps(acc, _mm256_load_ps(g.bias + col)), col, g.c1);
}

// Where a few-row tile asks for the weights of the strip that comes after its own: `lines`
// 64-byte lines, 128 bytes apart from `next`, `per_iter` of them per 4 k steps (see
// run_float_tiles). Empty: nothing to ask for.
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
// quad of a row is 4 input bytes, broadcast; VPMADDUBSW multiplies them by the s8 weights and
// adds the products in pairs (at most 127 · 127 · 2 = 32258 in 16 bits: exact), VPMADDWD by
// ones adds the pairs into each column's int32 quad sum. Against the int16 inputs and VPMADDWD
// of before (6 rows × 8 columns, the same two multiplies per 32 products but four vector
// instructions instead of three and a widening of the weights), the one-thread GEMM went from
// about 80–120 to 140–160 GOP/s at m = 16 and 64 on Zen 3 (bench_kernels, interleaved).
template <int MR, bool kFew = false>
__attribute__((noinline)) void tile_int8(const GemmArgs& g, size_t r, size_t col,
                                         StripPrefetch ahead = {}) {
  const unsigned char* w = g.w + (col / 32) * g.groups * 128 + (col % 32) * 4;
  const unsigned char* a = g.a + r * g.a_stride;
  const __m256i ones = _mm256_set1_epi16(1);
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
      acc[i][0] = _mm256_add_epi32(acc[i][0], _mm256_madd_epi16(_mm256_maddubs_epi16(b, w0), ones));
      acc[i][1] = _mm256_add_epi32(acc[i][1], _mm256_madd_epi16(_mm256_maddubs_epi16(b, w1), ones));
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    store_int8(g, r + i, col, acc[i][0]);
    store_int8(g, r + i, col + 8, acc[i][1]);
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

}  // namespace

void gemm_fp32(const GemmArgs& g) { run_float<false>(g); }
void gemm_bf16(const GemmArgs& g) { run_float<true>(g); }

void gemm_int8(const GemmArgs& g) {
  constexpr int kMr = 4;  // 16 rows (a short text): 4 full tiles; 5 or 6 rows were no faster
  if (g.r1 - g.r0 <= kFewRows) {  // the strips stream from memory: ask for the next (NextStrip)
    const NextStrip next(g, (g.r1 - g.r0 + kMr - 1) / kMr, 1);  // one k group an iteration
    for (size_t col = g.c0; col < g.c1; col += 16) {
      size_t r = g.r0, t = 0;
      for (; r + kMr <= g.r1; r += kMr) tile_int8<kMr, true>(g, r, col, next.share(col, t++));
      row_tail(g.r1 - r,
               [&]<int N>(Rows<N>) { tile_int8<N, true>(g, r, col, next.share(col, t++)); });
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
      for (; r + kMr <= r1; r += kMr) tile_int8<kMr>(g, r, col);
      row_tail(r1 - r, [&]<int N>(Rows<N>) { tile_int8<N>(g, r, col); });
    }
  }
}

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
// The levels are 0..127 (kInt8TopAvx2, gemm_kernels.h), the values of reference::prepare_int8_u7.
void prepare_int8(const float* x, size_t ldx, size_t k, size_t r0, size_t r1, unsigned char* out,
                  size_t stride) {
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
    detail::int8_row_params(lo, hi, detail::kInt8TopAvx2, &scale, &inv, &zero);
    const __m256 vinv = _mm256_set1_ps(inv);
    const __m256 vzero = _mm256_set1_ps(zero);
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    const __m256 lim = _mm256_set1_ps(512.0f);
    const __m256 neg_lim = _mm256_set1_ps(-512.0f);
    const __m256 top = _mm256_set1_ps(detail::kInt8TopAvx2);
    unsigned char* q = row + detail::kInt8Header;
    for (size_t kk = 0; kk < k; kk += 8) {
      __m256 v = _mm256_mul_ps(_mm256_maskload_ps(xr + kk, tail_mask(k - kk)), vinv);
      v = _mm256_min_ps(_mm256_max_ps(v, neg_lim), lim);
      v = _mm256_add_ps(_mm256_sub_ps(_mm256_add_ps(v, magic), magic), vzero);
      v = _mm256_min_ps(_mm256_max_ps(v, _mm256_setzero_ps()), top);
      const __m128i halves = low_halves(_mm256_cvttps_epi32(v));  // 0..127
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

}  // namespace refusal::kernels::avx2
