// The kernel tables (dispatch.h): which kernel each level runs, decided here and nowhere else.
#include "kernels/dispatch.h"

#include <atomic>

#include "kernels/gemm_kernels.h"
#include "kernels/ops_isa.h"

namespace refusal::kernels {
namespace {

// AMX takes the int8 GEMMs whose k is whole tile steps (every model dimension); the rest go to
// the VNNI kernel, whose bits are the same.
void gemm_int8_amx(const detail::GemmArgs& g) {
  if (amx::handles(g)) {
    amx::gemm_int8(g);
  } else {
    avx512::gemm_int8(g);
  }
}

KernelTable make_table(Isa isa) {
  const CpuFeatures& f = cpu_features();
  KernelTable t;
  t.isa = isa;
  t.gemm_fp32 = reference::gemm_fp32;
  t.gemm_bf16 = reference::gemm_bf16;
  t.gemm_int8 = reference::gemm_int8;
  t.prepare_bf16 = reference::prepare_bf16;
  t.prepare_int8 = reference::prepare_int8;
  t.int8_top = detail::kInt8Top;
  t.gelu_erf = reference::gelu_erf;
  t.softmax_rows = reference::softmax_rows;
  t.layernorm = reference::layernorm;
  if (isa >= Isa::kAvx2) {
    t.gemm_fp32 = avx2::gemm_fp32;
    t.gemm_bf16 = avx2::gemm_bf16;
    t.gemm_int8 = avx2::gemm_int8;
    t.prepare_bf16 = avx2::prepare_bf16;
    t.prepare_int8 = avx2::prepare_int8;
    t.int8_top = detail::kInt8TopAvx2;
    t.gelu_erf = avx2::gelu_erf;
    t.softmax_rows = avx2::softmax_rows;
    t.layernorm = avx2::layernorm;
  }
  if (isa >= Isa::kAvxVnni && f.avx_vnni) {  // u8 inputs, the bits of the VNNI kernel below
    t.gemm_int8 = avxvnni::gemm_int8;
    t.prepare_int8 = avx2::prepare_int8_u8;
    t.int8_top = detail::kInt8Top;
  }
  if (isa >= Isa::kAvx512) {
    t.gemm_fp32 = avx512::gemm_fp32;
    // VDPBF16PS and VPDPBUSD are extensions: without them, the AVX2 kernels.
    if (f.avx512_bf16) t.gemm_bf16 = avx512::gemm_bf16;
    t.prepare_bf16 = avx512::prepare_bf16;
    if (f.avx512_vnni) {  // else the AVX2 or AVX-VNNI GEMM, with its own input preparation
      t.gemm_int8 = avx512::gemm_int8;
      t.prepare_int8 = avx512::prepare_int8;
      t.int8_top = detail::kInt8Top;
    }
    t.gelu_erf = avx512::gelu_erf;
    t.softmax_rows = avx512::softmax_rows;
    t.layernorm = avx512::layernorm;
    t.attention_scratch_floats = avx512::attention_scratch_floats;
    t.attention_head = avx512::attention_head;
  }
  if (isa == Isa::kAmx) t.gemm_int8 = gemm_int8_amx;  // max_isa() is kAmx only with VNNI too
  return t;
}

std::atomic<const KernelTable*> g_active{nullptr};

}  // namespace

const KernelTable& kernel_table(Isa isa) {
  static const KernelTable tables[] = {make_table(Isa::kReference), make_table(Isa::kAvx2),
                                       make_table(Isa::kAvxVnni), make_table(Isa::kAvx512),
                                       make_table(Isa::kAmx)};
  return tables[static_cast<int>(isa)];
}

const KernelTable& active_kernels() {
  const KernelTable* t = g_active.load(std::memory_order_acquire);
  if (t == nullptr) {
    t = &kernel_table(active_isa());
    g_active.store(t, std::memory_order_release);
  }
  return *t;
}

void detail::forget_active_kernels() { g_active.store(nullptr, std::memory_order_release); }

}  // namespace refusal::kernels
