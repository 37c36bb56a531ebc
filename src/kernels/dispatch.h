// The kernels of each instruction-set level, as one table of function pointers, and the one way
// src/kernels picks them: kernel_table(isa) is filled once per level (the best kernel the CPU
// allows for each entry), and active_kernels() is the table of active_isa(), resolved at first
// use and again only after detail::set_isa_override (tests force each level that way).
// PackedLinear keeps the table that was active when it was built; the ops of ops.h call through
// active_kernels(). Internal to src/kernels.
#pragma once

#include <cstddef>

#include "kernels/cpu_features.h"
#include "kernels/packed_linear.h"

namespace refusal::kernels {

struct KernelTable {
  Isa isa = Isa::kReference;
  // PackedLinear: the GEMM per precision, and the input preparation of bf16 and int8.
  detail::GemmFn gemm_fp32 = nullptr;
  detail::GemmFn gemm_bf16 = nullptr;
  detail::GemmFn gemm_int8 = nullptr;
  detail::PrepareFn prepare_bf16 = nullptr;
  detail::PrepareFn prepare_int8 = nullptr;
  float int8_top = 0.0f;  // the top level of the inputs prepare_int8 writes (kInt8Top, …Avx2)
  // ops.h's forwards that have per-level versions (what each computes: ops.h).
  void (*gelu_erf)(const float* x, float* out, std::size_t n) = nullptr;
  void (*softmax_rows)(float* x, std::size_t rows, std::size_t width, std::size_t ld) = nullptr;
  void (*layernorm)(float* x, const float* residual, std::size_t rows, std::size_t width,
                    const float* gamma, const float* beta, float eps, float* out, float* mean,
                    float* rstd) = nullptr;
  // One attention head in register tiles, for head_dim 32 or 64 only; null where the level
  // has none (ops.cpp then uses OpenBLAS and softmax_rows).
  std::size_t (*attention_scratch_floats)(std::size_t len, std::size_t head_dim) = nullptr;
  void (*attention_head)(std::size_t queries, std::size_t len, std::size_t head_dim, float scale,
                         const float* q, const float* k, const float* v, std::size_t ld, float* out,
                         std::size_t ldo, float* scratch) = nullptr;
};

// The table of one level. Only levels up to max_isa() may be called.
const KernelTable& kernel_table(Isa isa);
// The table of active_isa().
const KernelTable& active_kernels();

namespace detail {
// Makes the next active_kernels() resolve again (set_isa_override calls it).
void forget_active_kernels();
}  // namespace detail

}  // namespace refusal::kernels
