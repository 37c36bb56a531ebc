// What the CPU (and the OS, which must save the wider registers) lets the kernels use, and which
// instruction-set level the GEMM kernels dispatch to.
#pragma once

#include <optional>
#include <string>

namespace refusal::kernels {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512dq = false;
  bool avx512_bf16 = false;
  bool avx512_vnni = false;
  bool avx_vnni = false;
  bool amx_bf16 = false;  // reported only
  // AMX-INT8 with the tile state granted to this process (Linux: arch_prctl
  // ARCH_REQ_XCOMP_PERM, asked for once at detection; refused, it stays false).
  bool amx_int8 = false;
};

// Kernel levels, lowest first. kAvx2 needs AVX2 + FMA; kAvxVnni is kAvx2 whose int8 GEMM is
// AVX-VNNI's (on u8 inputs, the bits of kAvx512's), where the CPU has AVX-VNNI (Intel Alder Lake
// and later client parts; an AVX-512 CPU without it runs kAvx2's kernels at this level);
// kAvx512 needs AVX-512 F/BW/VL/DQ; kAmx is kAvx512 whose int8 GEMM runs on AMX tiles (needs
// AVX512_VNNI and amx_int8).
enum class Isa { kReference, kAvx2, kAvxVnni, kAvx512, kAmx };

// cpuid, with the OS's XSAVE state checked through xgetbv, capped by the environment variable
// REFUSAL_ISA=reference|avx2|avxvnni|avx512|amx (read once; an unknown value throws
// refusal::Error; avx2 leaves AVX-VNNI out, as on AMD Zen 2/3; avx512 leaves AMX out; amx is
// the same as no cap).
const CpuFeatures& cpu_features();

// The best level cpu_features() allows.
Isa max_isa();

// The level new kernels bind to: max_isa(), lowered by detail::set_isa_override.
Isa active_isa();

// The active level with its extensions, e.g. "avx512+bf16+vnni+amx", "avx512+bf16+vnni",
// "avx2+avxvnni", "avx2", "reference".
std::string isa_name();
std::string isa_name(Isa isa);

namespace detail {
// Caps active_isa() (tests force each level this way) and makes the ops pick that level's
// kernel table; std::nullopt removes the cap. Not for concurrent use. Objects that already chose
// their kernels (PackedLinear) keep them.
void set_isa_override(std::optional<Isa> isa);
}  // namespace detail

}  // namespace refusal::kernels
