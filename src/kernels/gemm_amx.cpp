// AMX int8 GEMM (compiled with -mamx-tile -mamx-int8 and AVX-512 for the epilogue; called only
// when the CPU has AMX-INT8 and Linux granted this process the tile state, cpu_features.cpp).
// TDPBUSD multiplies a tile of 16 input rows × 64 u8 by a tile of 16 k groups × 16 columns of
// s8 quads, the same u8 × s8 products VPDPBUSD takes, into int32 sums: integer sums are exact
// in any order, so the results are the bits of avx512::gemm_int8, at up to 8× its multiply rate.
// The packed panels need no repacking: a panel's 16 k groups are 16 rows of 128 bytes, and its
// left and right 16 columns are the two 64-byte halves of each row (a tile load with a 128-byte
// stride).
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/gemm_kernels.h"

#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace refusal::kernels::amx {
namespace {

using detail::GemmArgs;
using std::size_t;

constexpr size_t kStepGroups = 16;   // k groups per TDPBUSD: 64 bytes of each input row
constexpr size_t kPanelBytes = 128;  // one k group of a panel: 32 columns × 4 bytes
// How far ahead (bytes of a panel) the few-row tiles ask for weights: the tiles of one panel
// compute far faster than memory delivers, so the stream must be kept ahead of them.
constexpr size_t kPrefetch = 4096;

// Tiles: 0-1 sums of the top rows of a block (rows × 16 int32), 2-3 those of its bottom rows
// (or of a second panel), 4 and 5 the top and bottom inputs (rows × 64 u8), 6-7 weights (16
// groups × 64 bytes). LDTILECFG zeroes every tile, so it is loaded only where a block's shape
// changes (at most twice a panel).
struct alignas(64) TileConfig {
  std::uint8_t palette = 1;
  std::uint8_t start_row = 0;
  std::uint8_t reserved[14] = {};
  std::uint16_t colsb[16] = {};
  std::uint8_t rows[16] = {};
};

class Tiles {
 public:
  void configure(size_t top, size_t bottom) {
    if (top == top_ && bottom == bottom_) return;
    TileConfig c;
    const size_t rows[8] = {top, top, bottom, bottom, top, bottom, kStepGroups, kStepGroups};
    for (int t = 0; t < 8; ++t) {
      if (rows[t] == 0) continue;
      c.colsb[t] = 64;
      c.rows[t] = static_cast<std::uint8_t>(rows[t]);
    }
    _tile_loadconfig(&c);
    top_ = top;
    bottom_ = bottom;
  }
  ~Tiles() { _tile_release(); }

 private:
  size_t top_ = 0, bottom_ = 0;
};

// The epilogue of avx512's Int8::store, operation for operation: remove the zero point with the
// column sums, then one multiply and one FMA with the bias.
void finish(const GemmArgs& g, const std::int32_t* sums, size_t rows, size_t r, size_t col) {
  if (col >= g.c1) return;
  const __mmask16 m = col + 16 <= g.c1 ? static_cast<__mmask16>(0xffff)
                                       : static_cast<__mmask16>((1u << (g.c1 - col)) - 1u);
  const __m512i colsum = _mm512_load_si512(g.colsum + col);
  const __m512 wscale = _mm512_load_ps(g.wscale + col);
  const __m512 bias = _mm512_load_ps(g.bias + col);
  for (size_t i = 0; i < rows; ++i) {
    const unsigned char* a = g.a + (r + i) * g.a_stride;
    float scale;
    int zero;
    std::memcpy(&scale, a - 16, sizeof scale);
    std::memcpy(&zero, a - 12, sizeof zero);
    const __m512i acc = _mm512_load_si512(sums + i * 16);
    const __m512i exact =
        _mm512_sub_epi32(acc, _mm512_mullo_epi32(_mm512_set1_epi32(zero), colsum));
    const __m512 s = _mm512_mul_ps(_mm512_set1_ps(scale), wscale);
    const __m512 v = _mm512_fmadd_ps(_mm512_cvtepi32_ps(exact), s, bias);
    _mm512_mask_storeu_ps(g.y + (r + i) * g.ldy + col, m, v);
  }
}

// Stores sum tile T (rows × 16) and finishes its columns (a macro: the tile number must be a
// literal in GCC's intrinsics).
#define REFUSAL_AMX_STORE(T, rows, r, col)  \
  do {                                      \
    alignas(64) std::int32_t sums[16 * 16]; \
    _tile_stored(T, sums, 64);              \
    finish(g, sums, rows, r, col);          \
  } while (0)

// Asks for a k step of weights kPrefetch bytes ahead of `w` (16 groups of 128 bytes).
void prefetch_step(const unsigned char* w) {
  for (size_t b = 0; b < kStepGroups * kPanelBytes; b += 64) {
    _mm_prefetch(reinterpret_cast<const char*>(w + kPrefetch + b), _MM_HINT_T0);
  }
}

// Rows [r, r + top) and [r + top, r + top + bottom) (bottom may be 0) × panel p: each weight
// tile loaded once for both row tiles. `stream`: the panel's weights come from memory (the
// first block of the panel), so they are asked for ahead.
void block_rows(const GemmArgs& g, size_t r, size_t top, size_t bottom, size_t p, bool stream) {
  const unsigned char* w = g.w + p * g.groups * kPanelBytes;
  const unsigned char* a0 = g.a + r * g.a_stride;
  const unsigned char* a1 = a0 + top * g.a_stride;
  _tile_zero(0);
  _tile_zero(1);
  if (bottom > 0) {
    _tile_zero(2);
    _tile_zero(3);
  }
  for (size_t s = 0; s < g.groups; s += kStepGroups) {
    const unsigned char* ws = w + s * kPanelBytes;
    if (stream) prefetch_step(ws);
    _tile_loadd(4, a0 + s * 4, g.a_stride);
    _tile_loadd(6, ws, kPanelBytes);
    _tile_loadd(7, ws + 64, kPanelBytes);
    _tile_dpbusd(0, 4, 6);
    _tile_dpbusd(1, 4, 7);
    if (bottom > 0) {
      _tile_loadd(5, a1 + s * 4, g.a_stride);
      _tile_dpbusd(2, 5, 6);
      _tile_dpbusd(3, 5, 7);
    }
  }
  REFUSAL_AMX_STORE(0, top, r, p * 32);
  REFUSAL_AMX_STORE(1, top, r, p * 32 + 16);
  if (bottom > 0) {
    REFUSAL_AMX_STORE(2, bottom, r + top, p * 32);
    REFUSAL_AMX_STORE(3, bottom, r + top, p * 32 + 16);
  }
}

// Up to 16 rows × panels p and p + 1 (when `two`), weights streamed from memory and asked for
// ahead: one input tile for four sums.
void block_few(const GemmArgs& g, size_t rows, size_t r, size_t p, bool two) {
  const size_t panel_bytes = g.groups * kPanelBytes;
  const unsigned char* w0 = g.w + p * panel_bytes;
  const unsigned char* w1 = w0 + panel_bytes;
  const unsigned char* a = g.a + r * g.a_stride;
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (size_t s = 0; s < g.groups; s += kStepGroups) {
    const size_t off = s * kPanelBytes;
    prefetch_step(w0 + off);
    if (two) prefetch_step(w1 + off);
    _tile_loadd(4, a + s * 4, g.a_stride);
    _tile_loadd(6, w0 + off, kPanelBytes);
    _tile_loadd(7, w0 + off + 64, kPanelBytes);
    _tile_dpbusd(0, 4, 6);
    _tile_dpbusd(1, 4, 7);
    if (two) {
      _tile_loadd(6, w1 + off, kPanelBytes);
      _tile_loadd(7, w1 + off + 64, kPanelBytes);
      _tile_dpbusd(2, 4, 6);
      _tile_dpbusd(3, 4, 7);
    }
  }
  REFUSAL_AMX_STORE(0, rows, r, p * 32);
  REFUSAL_AMX_STORE(1, rows, r, p * 32 + 16);
  if (two) {
    REFUSAL_AMX_STORE(2, rows, r, p * 32 + 32);
    REFUSAL_AMX_STORE(3, rows, r, p * 32 + 48);
  }
}

}  // namespace

bool handles(const GemmArgs& g) { return g.groups % kStepGroups == 0; }

void gemm_int8(const GemmArgs& g) {
  const size_t p0 = g.c0 / 32;
  const size_t p1 = (g.c1 + 31) / 32;
  const size_t m = g.r1 - g.r0;
  Tiles tiles;
  if (m <= 16) {
    // One row tile: every weight is used once, so the pass is a stream of panel pairs.
    tiles.configure(m, m);
    for (size_t p = p0; p < p1; p += 2) block_few(g, m, g.r0, p, p + 1 < p1);
    return;
  }
  // Panel by panel, every block of up to 32 rows in turn: a panel's weights come from memory
  // once and stay in L1 for the blocks after the first.
  const size_t rest = m % 32;
  const size_t full_end = g.r1 - rest;
  const size_t last_top = rest > 16 ? 16 : rest;
  const size_t last_bottom = rest > 16 ? rest - 16 : 0;
  for (size_t p = p0; p < p1; ++p) {
    bool stream = true;
    if (full_end > g.r0) tiles.configure(16, 16);
    for (size_t r = g.r0; r < full_end; r += 32) {
      block_rows(g, r, 16, 16, p, stream);
      stream = false;
    }
    if (rest > 0) {
      tiles.configure(last_top, last_bottom);
      block_rows(g, full_end, last_top, last_bottom, p, stream);
    }
  }
}

}  // namespace refusal::kernels::amx
