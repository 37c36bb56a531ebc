// CPU feature detection. An instruction set counts only when cpuid reports it AND the OS saves
// its registers on context switch (XCR0), otherwise the first instruction faults.
#include "kernels/cpu_features.h"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "kernels/dispatch.h"
#include "refusal/error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define REFUSAL_X86 1
#endif
#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace refusal::kernels {
namespace {

#ifdef REFUSAL_X86
bool bit(unsigned v, int b) { return ((v >> b) & 1u) != 0; }

std::uint64_t xgetbv0() {
  unsigned lo = 0;
  unsigned hi = 0;
  // Encoded as bytes so that no -mxsave is needed for this file.
  __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<std::uint64_t>(hi) << 32) | lo;
}

// Linux hands the AMX tile data state (8 KB a thread) only to processes that ask for it; the
// first tile instruction of one that did not is killed with SIGILL.
bool amx_permitted() {
#if defined(__linux__) && defined(__x86_64__)
  constexpr long kArchReqXcompPerm = 0x1023;
  constexpr long kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}
#endif

CpuFeatures detect() {
  CpuFeatures f;
#ifdef REFUSAL_X86
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(0, &a, &b, &c, &d) == 0) return f;
  const unsigned max_leaf = a;
  if (__get_cpuid(1, &a, &b, &c, &d) == 0) return f;
  const bool osxsave = bit(c, 27);
  const bool avx = bit(c, 28);
  const bool fma = bit(c, 12);
  if (!osxsave || !avx) return f;
  const std::uint64_t xcr0 = xgetbv0();
  const bool os_avx = (xcr0 & 0x6) == 0x6;          // XMM and YMM state
  const bool os_avx512 = (xcr0 & 0xe6) == 0xe6;     // + opmask, ZMM_Hi256, Hi16_ZMM
  const bool os_amx = (xcr0 & 0x60000) == 0x60000;  // XTILECFG, XTILEDATA
  if (!os_avx || max_leaf < 7) return f;
  __cpuid_count(7, 0, a, b, c, d);
  const unsigned b7 = b, c7 = c, d7 = d;
  __cpuid_count(7, 1, a, b, c, d);
  const unsigned a71 = a;
  f.fma = fma;
  f.avx2 = bit(b7, 5);
  f.avx_vnni = bit(a71, 4);
  if (os_avx512) {
    f.avx512f = bit(b7, 16);
    f.avx512dq = bit(b7, 17);
    f.avx512bw = bit(b7, 30);
    f.avx512vl = bit(b7, 31);
    f.avx512_vnni = bit(c7, 11);
    f.avx512_bf16 = bit(a71, 5);
  }
  if (os_amx) {
    f.amx_bf16 = bit(d7, 22);
    f.amx_int8 = bit(d7, 25) && amx_permitted();
  }
#endif
  return f;
}

// Applies REFUSAL_ISA.
CpuFeatures capped(CpuFeatures f) {
  const char* env = std::getenv("REFUSAL_ISA");
  if (env == nullptr || *env == '\0') return f;
  const std::string_view v(env);
  if (v == "amx") return f;
  if (v == "avx512") {
    f.amx_bf16 = f.amx_int8 = false;
    return f;
  }
  if (v != "avxvnni" && v != "avx2" && v != "reference") {
    throw Error("REFUSAL_ISA='" + std::string(v) +
                "': expected reference, avx2, avxvnni, avx512 or amx");
  }
  f.avx512f = f.avx512bw = f.avx512vl = f.avx512dq = false;
  f.avx512_bf16 = f.avx512_vnni = f.amx_bf16 = f.amx_int8 = false;
  if (v == "avx2") f.avx_vnni = false;
  if (v == "reference") f = CpuFeatures{};
  return f;
}

std::atomic<int> g_override{-1};

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = capped(detect());
  return features;
}

Isa max_isa() {
  const CpuFeatures& f = cpu_features();
  if (f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx2 && f.fma) {
    return f.avx512_vnni && f.amx_int8 ? Isa::kAmx : Isa::kAvx512;
  }
  if (f.avx2 && f.fma) return f.avx_vnni ? Isa::kAvxVnni : Isa::kAvx2;
  return Isa::kReference;
}

Isa active_isa() {
  const Isa best = max_isa();
  const int o = g_override.load(std::memory_order_relaxed);
  if (o < 0 || o >= static_cast<int>(best)) return best;
  return static_cast<Isa>(o);
}

std::string isa_name(Isa isa) {
  const CpuFeatures& f = cpu_features();
  switch (isa) {
    case Isa::kReference:
      return "reference";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvxVnni:
      return f.avx_vnni ? "avx2+avxvnni" : "avx2";
    case Isa::kAvx512:
    case Isa::kAmx: {
      std::string s = "avx512";
      if (f.avx512_bf16) s += "+bf16";
      if (f.avx512_vnni) s += "+vnni";
      if (isa == Isa::kAmx) s += "+amx";
      return s;
    }
  }
  return "unknown";
}

std::string isa_name() { return isa_name(active_isa()); }

namespace detail {
void set_isa_override(std::optional<Isa> isa) {
  g_override.store(isa ? static_cast<int>(*isa) : -1, std::memory_order_relaxed);
  forget_active_kernels();
}
}  // namespace detail

}  // namespace refusal::kernels
