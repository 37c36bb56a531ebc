// Portable GEMM kernels: plain loops over the packed layouts (see gemm_kernels.h). They define
// the numerics the SIMD kernels match: int8 bit for bit, fp32 and bf16 up to summation order.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/gemm_kernels.h"

namespace refusal::kernels::reference {
namespace {

float load_f32(const unsigned char* p) {
  float v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

float bf16_at(const unsigned char* p) {
  std::uint16_t h;
  std::memcpy(&h, p, sizeof h);
  const std::uint32_t u = static_cast<std::uint32_t>(h) << 16;
  float v;
  std::memcpy(&v, &u, sizeof v);
  return v;
}

const unsigned char* panel_row(const detail::GemmArgs& g, std::size_t c, std::size_t s) {
  return g.w + ((c / 32) * g.groups + s) * 128;
}

}  // namespace

void gemm_fp32(const detail::GemmArgs& g) {
  for (std::size_t r = g.r0; r < g.r1; ++r) {
    const unsigned char* a = g.a + r * g.a_stride;
    for (std::size_t c = g.c0; c < g.c1; ++c) {
      float acc = 0.0f;
      for (std::size_t s = 0; s < g.groups; ++s) {
        acc += load_f32(a + 4 * s) * load_f32(panel_row(g, c, s) + 4 * (c % 32));
      }
      g.y[r * g.ldy + c] = acc + g.bias[c];
    }
  }
}

void gemm_bf16(const detail::GemmArgs& g) {
  for (std::size_t r = g.r0; r < g.r1; ++r) {
    const unsigned char* a = g.a + r * g.a_stride;
    for (std::size_t c = g.c0; c < g.c1; ++c) {
      float acc = 0.0f;
      for (std::size_t s = 0; s < g.groups; ++s) {
        const unsigned char* w = panel_row(g, c, s) + 4 * (c % 32);
        acc += bf16_at(a + 4 * s) * bf16_at(w);  // products of bf16 are exact in fp32
        acc += bf16_at(a + 4 * s + 2) * bf16_at(w + 2);
      }
      g.y[r * g.ldy + c] = acc + g.bias[c];
    }
  }
}

void gemm_int8(const detail::GemmArgs& g) {
  for (std::size_t r = g.r0; r < g.r1; ++r) {
    const unsigned char* a = g.a + r * g.a_stride;
    float scale;
    std::int32_t zero;
    std::memcpy(&scale, a - 16, sizeof scale);
    std::memcpy(&zero, a - 12, sizeof zero);
    for (std::size_t c = g.c0; c < g.c1; ++c) {
      std::int32_t acc = 0;
      for (std::size_t s = 0; s < g.groups; ++s) {
        const unsigned char* w = panel_row(g, c, s) + 4 * (c % 32);
        for (std::size_t e = 0; e < 4; ++e) {
          acc += static_cast<std::int32_t>(a[4 * s + e]) *
                 static_cast<std::int32_t>(static_cast<std::int8_t>(w[e]));
        }
      }
      // Same operations, same rounding, as the SIMD epilogues (one fused multiply-add).
      const float v = static_cast<float>(acc - zero * g.colsum[c]);
      g.y[r * g.ldy + c] = std::fma(v, scale * g.wscale[c], g.bias[c]);
    }
  }
}

}  // namespace refusal::kernels::reference
