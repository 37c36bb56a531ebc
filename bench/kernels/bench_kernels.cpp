// Single-thread throughput of PackedLinear (fp32, bf16, int8) against OpenBLAS sgemm on the
// shapes of DistilRoBERTa's linear layers, plus peak loops for the machine's FMA / VDPBF16PS /
// VPDPBUSD rates (zmm, and ymm for AVX-VNNI) and a memory-stream-with-FMAs loop (stream_fma).
// GFLOP/s counts 2·m·n·k per call (int8 "ops" counted the same way).
//   bench_kernels [--benchmark_filter=...]
// "hot": one weight matrix, reused, so it lives in cache. "cold": enough copies in rotation
// (>= 128 MiB of fp32) that every call streams its weights from DRAM, like a real forward pass.
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <immintrin.h>

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/packed_linear.h"

namespace {

using refusal::kernels::Isa;
using refusal::kernels::PackedLinear;
using refusal::kernels::Precision;

std::vector<float> random_vector(std::size_t size, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(size);
  for (float& x : v) x = dist(rng);
  return v;
}

std::size_t copies_for(bool cold, std::size_t n, std::size_t k) {
  constexpr std::size_t kColdBytes = std::size_t{128} << 20;
  return cold ? (kColdBytes + n * k * 4 - 1) / (n * k * 4) : 1;
}

void set_counters(benchmark::State& state, std::size_t m, std::size_t n, std::size_t k) {
  state.counters["GFLOP/s"] = benchmark::Counter(2e-9 * static_cast<double>(m * n * k),
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

// Args: m, n, k, cold.
void bm_openblas(benchmark::State& state) {
  const auto m = static_cast<std::size_t>(state.range(0));
  const auto n = static_cast<std::size_t>(state.range(1));
  const auto k = static_cast<std::size_t>(state.range(2));
  openblas_set_num_threads(1);
  const std::size_t copies = copies_for(state.range(3) != 0, n, k);
  std::vector<std::vector<float>> w;
  for (std::size_t i = 0; i < copies; ++i)
    w.push_back(random_vector(n * k, 2 + static_cast<std::uint32_t>(i)));
  const std::vector<float> x = random_vector(m * k, 1);
  std::vector<float> y(m * n);
  const int mi = static_cast<int>(m), ni = static_cast<int>(n), ki = static_cast<int>(k);
  std::size_t i = 0;
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, mi, ni, ki, 1.0f, x.data(), ki,
                w[i].data(), ki, 0.0f, y.data(), ni);
    benchmark::DoNotOptimize(y.data());
    i = i + 1 == copies ? 0 : i + 1;
  }
  set_counters(state, m, n, k);
}

// Args: m, n, k, cold, precision, isa (-1: best). Times prepare_rows + compute.
void bm_packed(benchmark::State& state) {
  const auto m = static_cast<std::size_t>(state.range(0));
  const auto n = static_cast<std::size_t>(state.range(1));
  const auto k = static_cast<std::size_t>(state.range(2));
  const auto prec = static_cast<Precision>(state.range(4));
  if (state.range(5) >= 0) {
    const auto isa = static_cast<Isa>(state.range(5));
    if (isa > refusal::kernels::max_isa()) {
      state.SkipWithError("ISA not available");
      return;
    }
    refusal::kernels::detail::set_isa_override(isa);
  }
  const std::size_t copies = copies_for(state.range(3) != 0, n, k);
  std::vector<PackedLinear> lin;
  for (std::size_t i = 0; i < copies; ++i) {
    const std::vector<float> w = random_vector(n * k, 2 + static_cast<std::uint32_t>(i));
    const std::vector<float> b = random_vector(n, 99);
    lin.emplace_back(w.data(), b.data(), n, k, prec);
  }
  refusal::kernels::detail::set_isa_override(std::nullopt);
  const std::vector<float> x = random_vector(m * k, 1);
  std::vector<float> y(m * n);
  const std::size_t scratch_bytes = lin[0].scratch_bytes(m);
  std::unique_ptr<unsigned char[]> scratch_mem(new unsigned char[scratch_bytes + 64]);
  void* scratch =
      scratch_mem.get() + (64 - reinterpret_cast<std::uintptr_t>(scratch_mem.get()) % 64);
  std::size_t i = 0;
  for (auto _ : state) {
    lin[i].prepare_rows(x.data(), k, 0, m, scratch);
    lin[i].compute(x.data(), k, scratch, 0, m, 0, n, y.data(), n);
    benchmark::DoNotOptimize(y.data());
    i = i + 1 == copies ? 0 : i + 1;
  }
  set_counters(state, m, n, k);
  state.SetLabel(refusal::kernels::isa_name(lin[0].isa()));
}

const std::int64_t kShapes[][2] = {{768, 768}, {3072, 768}, {768, 3072}};
const std::int64_t kRows[] = {1, 16, 64, 128, 512};

void shapes(benchmark::internal::Benchmark* b, std::vector<std::int64_t> extra) {
  std::vector<std::string> names{"m", "n", "k", "cold", "prec", "isa"};
  names.resize(4 + extra.size());
  b->ArgNames(names);
  for (int cold = 0; cold < 2; ++cold) {
    for (const auto& nk : kShapes) {
      for (std::int64_t m : kRows) {
        if (cold != 0 && m > 16) continue;  // large m is compute-bound; cold adds nothing
        std::vector<std::int64_t> args{m, nk[0], nk[1], cold};
        args.insert(args.end(), extra.begin(), extra.end());
        b->Args(args);
      }
    }
  }
  b->Unit(benchmark::kMicrosecond)->UseRealTime();  // CPU time is unreliable in VMs
}

BENCHMARK(bm_openblas)->Apply([](benchmark::internal::Benchmark* b) { shapes(b, {}); });
BENCHMARK(bm_packed)->Name("fp32")->Apply([](auto* b) { shapes(b, {0, -1}); });
BENCHMARK(bm_packed)->Name("bf16")->Apply([](auto* b) { shapes(b, {1, -1}); });
BENCHMARK(bm_packed)->Name("int8")->Apply([](auto* b) { shapes(b, {2, -1}); });
BENCHMARK(bm_packed)->Name("fp32_avx2")->Apply([](auto* b) { shapes(b, {0, 1}); });
BENCHMARK(bm_packed)->Name("bf16_avx2")->Apply([](auto* b) { shapes(b, {1, 1}); });
BENCHMARK(bm_packed)->Name("int8_avx2")->Apply([](auto* b) { shapes(b, {2, 1}); });
BENCHMARK(bm_packed)->Name("int8_avxvnni")->Apply([](auto* b) { shapes(b, {2, 2}); });

// Peak loops: 12 independent accumulators hide the latency; each op counts as 2·lanes·depth.
constexpr int kPeakIters = 1 << 16;

__attribute__((target("avx2,fma"))) void peak_fma_ymm(benchmark::State& state) {
  for (auto _ : state) {
    __m256 a[12];  // distinct starts, or the compiler merges the chains
    for (int j = 0; j < 12; ++j) a[j] = _mm256_set1_ps(1.0f + 0.01f * static_cast<float>(j));
    const __m256 x = _mm256_set1_ps(0.999f), y = _mm256_set1_ps(0.001f);
    for (int i = 0; i < kPeakIters; ++i) {
      for (auto& v : a) v = _mm256_fmadd_ps(v, x, y);
    }
    for (auto& v : a) benchmark::DoNotOptimize(v);
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2e-9 * 8 * 12 * kPeakIters, benchmark::Counter::kIsIterationInvariantRate);
}

__attribute__((target("avx512f,fma"))) void peak_fma_zmm(benchmark::State& state) {
  if (refusal::kernels::max_isa() < Isa::kAvx512) return state.SkipWithError("no AVX-512");
  for (auto _ : state) {
    __m512 a[12];
    for (int j = 0; j < 12; ++j) a[j] = _mm512_set1_ps(1.0f + 0.01f * static_cast<float>(j));
    const __m512 x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(0.001f);
    for (int i = 0; i < kPeakIters; ++i) {
      for (auto& v : a) v = _mm512_fmadd_ps(v, x, y);
    }
    for (auto& v : a) benchmark::DoNotOptimize(v);
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2e-9 * 16 * 12 * kPeakIters,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

__attribute__((target("avx512f,avx512bf16"))) void peak_dpbf16(benchmark::State& state) {
  if (!refusal::kernels::cpu_features().avx512_bf16) return state.SkipWithError("no bf16");
  for (auto _ : state) {
    __m512 a[12];
    for (int j = 0; j < 12; ++j) a[j] = _mm512_set1_ps(static_cast<float>(j));
    const __m512bh x = (__m512bh)_mm512_set1_epi32(0x3f803f80);
    for (int i = 0; i < kPeakIters; ++i) {
      for (auto& v : a) v = _mm512_dpbf16_ps(v, x, x);
    }
    for (auto& v : a) benchmark::DoNotOptimize(v);
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2e-9 * 32 * 12 * kPeakIters,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

__attribute__((target("avx512f,avx512vnni"))) void peak_dpbusd(benchmark::State& state) {
  if (!refusal::kernels::cpu_features().avx512_vnni) return state.SkipWithError("no VNNI");
  for (auto _ : state) {
    __m512i a[12];
    for (int j = 0; j < 12; ++j) a[j] = _mm512_set1_epi32(j);
    const __m512i x = _mm512_set1_epi32(0x01010101);
    for (int i = 0; i < kPeakIters; ++i) {
      for (auto& v : a) v = _mm512_dpbusd_epi32(v, x, x);
    }
    for (auto& v : a) benchmark::DoNotOptimize(v);
  }
  state.counters["GOP/s"] = benchmark::Counter(2e-9 * 64 * 12 * kPeakIters,
                                               benchmark::Counter::kIsIterationInvariantRate);
}

__attribute__((target("avx2,avxvnni"))) void peak_dpbusd_ymm(benchmark::State& state) {
  if (!refusal::kernels::cpu_features().avx_vnni) return state.SkipWithError("no AVX-VNNI");
  for (auto _ : state) {
    __m256i a[12];
    for (int j = 0; j < 12; ++j) a[j] = _mm256_set1_epi32(j);
    const __m256i x = _mm256_set1_epi32(0x01010101);
    for (int i = 0; i < kPeakIters; ++i) {
      for (auto& v : a) v = _mm256_dpbusd_avx_epi32(v, x, x);
    }
    for (auto& v : a) benchmark::DoNotOptimize(v);
  }
  state.counters["GOP/s"] = benchmark::Counter(2e-9 * 32 * 12 * kPeakIters,
                                               benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(peak_fma_ymm)->UseRealTime();
BENCHMARK(peak_fma_zmm)->UseRealTime();
BENCHMARK(peak_dpbf16)->UseRealTime();
BENCHMARK(peak_dpbusd)->UseRealTime();
BENCHMARK(peak_dpbusd_ymm)->UseRealTime();

// How far this machine overlaps a weight stream with arithmetic, without any GEMM around it:
// every thread reads its share of 192 MiB once per iteration (asking 2 KB ahead into L2) and
// does kFmas zmm FMAs per 128 bytes into 24 accumulators; 32 is what a 16-row fp32 GEMM does
// with each 128 bytes of weights, 2 a 1-row one. With perfect overlap the GB/s would stay at the
// stream's until the FMAs alone take longer (docs/benchmarks.md, "the fp32 16-token ceiling").
constexpr std::size_t kStreamBytes = std::size_t{192} << 20;

template <int kFmas, int kHint>
__attribute__((target("avx512f,fma"))) void stream_fma_loop(const char* p, const char* end,
                                                            float* sink) {
  __m512 acc[24];
  for (auto& v : acc) v = _mm512_setzero_ps();
  const __m512 b = _mm512_set1_ps(1.0001f);
  for (; p < end; p += 128) {
    _mm_prefetch(p + 2048, static_cast<_mm_hint>(kHint));
    _mm_prefetch(p + 2048 + 64, static_cast<_mm_hint>(kHint));
    const __m512 w0 = _mm512_loadu_ps(p);
    const __m512 w1 = _mm512_loadu_ps(p + 64);
#pragma GCC unroll 64
    for (int f = 0; f < kFmas; f += 2) {
      acc[f % 24] = _mm512_fmadd_ps(b, w0, acc[f % 24]);
      acc[(f + 1) % 24] = _mm512_fmadd_ps(b, w1, acc[(f + 1) % 24]);
    }
    if constexpr (kFmas == 0) acc[0] = _mm512_add_ps(acc[0], _mm512_add_ps(w0, w1));
  }
  __m512 sum = acc[0];
  for (int i = 1; i < 24; ++i) sum = _mm512_add_ps(sum, acc[i]);
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, sum);
  *sink = lanes[0] + lanes[15];
}

template <int kFmas, int kHint = _MM_HINT_T1>
void stream_fma(benchmark::State& state) {
  if (refusal::kernels::max_isa() < Isa::kAvx512) return state.SkipWithError("no AVX-512");
  static const std::vector<float> buffer = [] {
    std::vector<float> b(kStreamBytes / 4);  // page-aligned in practice (mmap'd)
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = 1e-7f * static_cast<float>(i & 1023);
    return b;
  }();
  const std::size_t share = kStreamBytes / static_cast<std::size_t>(state.threads());
  const char* begin = reinterpret_cast<const char*>(buffer.data()) +
                      share * static_cast<std::size_t>(state.thread_index());
  float sink = 0.0f;
  for (auto _ : state) {
    stream_fma_loop<kFmas, kHint>(begin, begin + share, &sink);
    benchmark::DoNotOptimize(sink);
  }
  // Each thread counts its share; summed over the threads (and their iterations), averaged
  // (kAvgThreads) so that the rate is the machine's: bytes and FLOP of all threads per second.
  const auto kRate = benchmark::Counter::Flags(benchmark::Counter::kIsIterationInvariantRate |
                                               benchmark::Counter::kAvgThreads);
  state.counters["GB/s"] = benchmark::Counter(1e-9 * static_cast<double>(share), kRate);
  state.counters["GFLOP/s"] =
      benchmark::Counter(2e-9 * 16.0 * kFmas * static_cast<double>(share / 128), kRate);
}

BENCHMARK(stream_fma<0>)->Threads(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(stream_fma<2>)->Threads(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(stream_fma<8>)->Threads(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(stream_fma<16>)->Threads(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(stream_fma<32>)->Threads(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(stream_fma<64>)->Threads(2)->UseRealTime()->Unit(benchmark::kMillisecond);
// The same with prefetchnta (lines kept out of L2, and out of L3 where the CPU allows): the way to
// stream weights without evicting others that should stay cached between calls.
BENCHMARK(stream_fma<2, _MM_HINT_NTA>)->Threads(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(stream_fma<32, _MM_HINT_NTA>)->Threads(2)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
