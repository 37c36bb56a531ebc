// The GEMM kernels behind PackedLinear, one set per instruction-set level. Internal.
//
// Packed weights: column panels of 32 outputs; within a panel, one 128-byte row per k group:
//   fp32  [k    ][32 columns]          float
//   bf16  [k / 2][32 columns][2 k]     bf16 pairs, as VDPBF16PS reads them
//   int8  [k / 4][32 columns][4 k]     int8 quads, as VPDPBUSD reads them
// so every precision streams the same bytes per group, and an input row is a sequence of
// 4-byte groups (1 float, 2 bf16 or 4 u8) to broadcast.
//
// The per-ISA files are compiled with their own -m flags. They must not define or instantiate
// anything the linker could merge with other files (inline functions and templates outside an
// anonymous namespace, std:: helpers), or AVX-512 code could leak into the portable path.
#pragma once

#include "kernels/packed_linear.h"

namespace refusal::kernels {
namespace detail {
// int8 input rows: from the row's min(x, 0) and max(x, 0) and the top level `top` (255 or
// 127, below), the scale, its inverse and the zero point (an integer in [0, top], as a float).
// Shared so every path quantizes identically.
void int8_row_params(float lo, float hi, float top, float* scale, float* inv, float* zero);
constexpr std::size_t kInt8Header = 16;  // per-row scale and zero point before the row's data
// The top level of the prepared int8 inputs (one byte each on every level): u8, 0..255, where
// the GEMM multiplies u8 quads exactly (VPDPBUSD, the reference); 0..127 ("u7") for AVX2, whose
// VPMADDUBSW adds two u8 × s8 products in 16 bits: 127 · 127 · 2 = 32258 never saturates, where
// 255 · 127 · 2 would.
constexpr float kInt8Top = 255.0f;
constexpr float kInt8TopAvx2 = 127.0f;
}  // namespace detail
namespace reference {
void gemm_fp32(const detail::GemmArgs& g);
void gemm_bf16(const detail::GemmArgs& g);
void gemm_int8(const detail::GemmArgs& g);
// The portable prepare_rows (packed_linear.cpp, beside the weight packing that shares its
// rounding); the reference level uses them. Rows of `stride` bytes.
void prepare_bf16(const float* x, std::size_t ldx, std::size_t k, std::size_t r0, std::size_t r1,
                  unsigned char* out, std::size_t stride);
void prepare_int8(const float* x, std::size_t ldx, std::size_t k, std::size_t r0, std::size_t r1,
                  unsigned char* out, std::size_t stride);
// The same with inputs 0..kInt8TopAvx2: what avx2::prepare_int8 writes, byte for byte.
void prepare_int8_u7(const float* x, std::size_t ldx, std::size_t k, std::size_t r0, std::size_t r1,
                     unsigned char* out, std::size_t stride);
}  // namespace reference
namespace avx2 {
void gemm_fp32(const detail::GemmArgs& g);
void gemm_bf16(const detail::GemmArgs& g);  // converts bf16 to fp32 and uses FMA
void gemm_int8(const detail::GemmArgs& g);  // u7 inputs (VPMADDUBSW, exact), see kInt8TopAvx2
// Vectorised prepare_rows, values identical to the portable code (int8: inputs 0..127, those of
// reference::prepare_int8_u7). Rows of `stride` bytes.
void prepare_bf16(const float* x, std::size_t ldx, std::size_t k, std::size_t r0, std::size_t r1,
                  unsigned char* out, std::size_t stride);
void prepare_int8(const float* x, std::size_t ldx, std::size_t k, std::size_t r0, std::size_t r1,
                  unsigned char* out, std::size_t stride);
// The same with inputs 0..255 (kInt8Top), the values of reference::prepare_int8, for
// avxvnni::gemm_int8 on CPUs without AVX-512.
void prepare_int8_u8(const float* x, std::size_t ldx, std::size_t k, std::size_t r0, std::size_t r1,
                     unsigned char* out, std::size_t stride);
}  // namespace avx2
namespace avxvnni {
// needs AVX-VNNI (VEX VPDPBUSD on ymm): u8 inputs, exact int32 sums, so the bits of
// avx512::gemm_int8 and of the reference
void gemm_int8(const detail::GemmArgs& g);
}  // namespace avxvnni
namespace avx512 {
void gemm_fp32(const detail::GemmArgs& g);
void gemm_bf16(const detail::GemmArgs& g);  // needs AVX512_BF16
void gemm_int8(const detail::GemmArgs& g);  // needs AVX512_VNNI
// Vectorised prepare_rows, results identical to the portable code. Rows of `stride` bytes.
void prepare_bf16(const float* x, std::size_t ldx, std::size_t k, std::size_t r0, std::size_t r1,
                  unsigned char* out, std::size_t stride);
void prepare_int8(const float* x, std::size_t ldx, std::size_t k, std::size_t r0, std::size_t r1,
                  unsigned char* out, std::size_t stride);
}  // namespace avx512
namespace amx {
// Whether gemm_int8 takes these arguments: k groups a multiple of 16 (one tile step).
bool handles(const detail::GemmArgs& g);
void gemm_int8(const detail::GemmArgs& g);  // needs AMX-INT8 granted (cpu_features.h)
}  // namespace amx
}  // namespace refusal::kernels
