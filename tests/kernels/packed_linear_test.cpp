// PackedLinear against double-precision references, for every precision × every kernel level
// this CPU has (forced through detail::set_isa_override) × awkward shapes; and row / column
// splits against one whole call.
#include "kernels/packed_linear.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/dispatch.h"
#include "kernels/gemm_kernels.h"
#include "refusal/error.h"

namespace refusal::kernels {
namespace {

struct Shape {
  std::size_t m, n, k;
};

std::vector<Shape> shapes() {
  std::vector<Shape> out;
  for (std::size_t m : {1, 3, 8, 17, 64, 130}) {  // row tails 1-5 of 6-row tiles
    for (std::size_t n : {16, 40, 768}) {
      for (std::size_t k : {8, 24, 5, 37, 1001, 768, 3072}) {
        if (m * n * k > 20'000'000) continue;  // keeps the suite fast (and ASan bearable)
        out.push_back({m, n, k});
      }
    }
  }
  return out;
}

std::string str(const Shape& s) {
  return "m=" + std::to_string(s.m) + " n=" + std::to_string(s.n) + " k=" + std::to_string(s.k);
}

std::vector<float> random_vector(std::size_t size, std::uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(size);
  for (float& x : v) x = dist(rng);
  return v;
}

struct Problem {
  Shape s;
  std::vector<float> x, w, b;
};

Problem make_problem(const Shape& s, std::uint32_t seed) {
  Problem p{s, random_vector(s.m * s.k, seed, -1.0f, 1.0f),
            random_vector(s.n * s.k, seed + 1, -0.5f, 0.5f),
            random_vector(s.n, seed + 2, -1.0f, 1.0f)};
  // Skewed rows (like GELU outputs) and an outlier, so the int8 zero point is not trivial.
  for (std::size_t r = 0; r < s.m; r += 2) {
    for (std::size_t c = 0; c < s.k; ++c) {
      float& v = p.x[r * s.k + c];
      v = v < -0.2f ? -0.2f * 0.5f : v;
    }
  }
  p.x[s.k / 2] = 7.5f;
  return p;
}

float bf16_round(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  u &= 0xffff0000u;
  std::memcpy(&f, &u, 4);
  return f;
}

// Reference outputs and, per output, sum_k |x w| + |b| (the scale rounding errors are
// relative to).
struct Expected {
  std::vector<double> y, mag;
};

Expected reference_float(const Problem& p, bool bf16) {
  const Shape& s = p.s;
  Expected e{std::vector<double>(s.m * s.n), std::vector<double>(s.m * s.n)};
  auto cvt = [&](float v) { return static_cast<double>(bf16 ? bf16_round(v) : v); };
  for (std::size_t r = 0; r < s.m; ++r) {
    for (std::size_t c = 0; c < s.n; ++c) {
      double acc = p.b[c];
      double mag = std::fabs(p.b[c]);
      for (std::size_t i = 0; i < s.k; ++i) {
        const double t = cvt(p.x[r * s.k + i]) * cvt(p.w[c * s.k + i]);
        acc += t;
        mag += std::fabs(t);
      }
      e.y[r * s.n + c] = acc;
      e.mag[r * s.n + c] = mag;
    }
  }
  return e;
}

// The documented int8 scheme, written out independently of the library. `top`: the inputs'
// top level, 255 (u8) or 127 (the AVX2 GEMM's u7).
std::vector<float> reference_int8(const Problem& p, float top) {
  const Shape& s = p.s;
  std::vector<std::int32_t> wq(s.n * s.k), colsum(s.n);
  std::vector<float> ws(s.n);
  for (std::size_t c = 0; c < s.n; ++c) {
    float amax = 0.0f;
    for (std::size_t i = 0; i < s.k; ++i) amax = std::max(amax, std::fabs(p.w[c * s.k + i]));
    ws[c] = amax > 0.0f ? amax / 127.0f : 1.0f;
    for (std::size_t i = 0; i < s.k; ++i) {
      const float q = std::clamp(std::nearbyint(p.w[c * s.k + i] / ws[c]), -127.0f, 127.0f);
      wq[c * s.k + i] = static_cast<std::int32_t>(q);
      colsum[c] += wq[c * s.k + i];
    }
  }
  std::vector<float> y(s.m * s.n);
  std::vector<std::int32_t> xq(s.k);
  for (std::size_t r = 0; r < s.m; ++r) {
    const float* xr = p.x.data() + r * s.k;
    float lo = 0.0f, hi = 0.0f;
    for (std::size_t i = 0; i < s.k; ++i) lo = std::min(lo, xr[i]), hi = std::max(hi, xr[i]);
    float scale = (hi - lo) / top;
    if (!(scale > 0.0f)) scale = 1.0f;
    const float inv = 1.0f / scale;
    const float zero = std::clamp(std::nearbyint(-lo * inv), 0.0f, top);
    for (std::size_t i = 0; i < s.k; ++i) {
      xq[i] = static_cast<std::int32_t>(std::clamp(std::nearbyint(xr[i] * inv) + zero, 0.0f, top));
    }
    const auto zi = static_cast<std::int32_t>(zero);
    for (std::size_t c = 0; c < s.n; ++c) {
      std::int64_t acc = 0;
      for (std::size_t i = 0; i < s.k; ++i) acc += xq[i] * wq[c * s.k + i];
      const auto exact = static_cast<std::int32_t>(acc - zi * colsum[c]);
      y[r * s.n + c] = std::fma(static_cast<float>(exact), scale * ws[c], p.b[c]);
    }
  }
  return y;
}

std::vector<float> run_whole(const PackedLinear& lin, const Problem& p) {
  std::vector<float> y(p.s.m * p.s.n, -1234.5f);
  lin.forward(p.x.data(), p.s.k, p.s.m, y.data(), p.s.n);
  return y;
}

std::vector<Isa> available_isas() {
  std::vector<Isa> out{Isa::kReference};
  if (max_isa() >= Isa::kAvx2) out.push_back(Isa::kAvx2);
  // Only where it differs from kAvx2: the CPU has AVX-VNNI.
  if (max_isa() >= Isa::kAvxVnni && cpu_features().avx_vnni) out.push_back(Isa::kAvxVnni);
  if (max_isa() >= Isa::kAvx512) out.push_back(Isa::kAvx512);
  if (max_isa() >= Isa::kAmx) out.push_back(Isa::kAmx);
  return out;
}

class PackedLinearTest : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override { detail::set_isa_override(GetParam()); }
  void TearDown() override { detail::set_isa_override(std::nullopt); }
};

TEST_P(PackedLinearTest, BindsTheForcedLevel) {
  const std::vector<float> w(16 * 8, 0.5f);
  const PackedLinear lin(w.data(), nullptr, 16, 8, Precision::kFp32);
  EXPECT_EQ(lin.isa(), GetParam());
  EXPECT_EQ(active_isa(), GetParam());
  EXPECT_FALSE(isa_name().empty());
}

TEST_P(PackedLinearTest, Fp32MatchesDoubleReference) {
  std::uint32_t seed = 1;
  for (const Shape& s : shapes()) {
    const Problem p = make_problem(s, seed += 3);
    const PackedLinear lin(p.w.data(), p.b.data(), s.n, s.k, Precision::kFp32);
    EXPECT_EQ(lin.scratch_bytes(s.m), 0u);
    const std::vector<float> y = run_whole(lin, p);
    const Expected e = reference_float(p, false);
    double worst = 0.0;
    for (std::size_t i = 0; i < y.size(); ++i) {
      worst = std::max(worst, std::fabs(y[i] - e.y[i]) / e.mag[i]);
    }
    EXPECT_LT(worst, 1e-5) << str(s);
  }
}

TEST_P(PackedLinearTest, Bf16MatchesRoundedDoubleReference) {
  std::uint32_t seed = 100;
  for (const Shape& s : shapes()) {
    const Problem p = make_problem(s, seed += 3);
    const PackedLinear lin(p.w.data(), p.b.data(), s.n, s.k, Precision::kBf16);
    const std::vector<float> y = run_whole(lin, p);
    const Expected e = reference_float(p, true);
    const Expected exact = reference_float(p, false);
    double worst = 0.0, vs_fp32 = 0.0;
    for (std::size_t i = 0; i < y.size(); ++i) {
      worst = std::max(worst, std::fabs(y[i] - e.y[i]) / e.mag[i]);
      vs_fp32 = std::max(vs_fp32, std::fabs(y[i] - exact.y[i]) / exact.mag[i]);
    }
    // Rounded inputs: only the fp32 accumulation differs from the reference.
    EXPECT_LT(worst, 1e-5) << str(s);
    EXPECT_LT(vs_fp32, 1e-2) << str(s);  // and bf16 itself is roughly 3 significant digits
  }
}

// Packs p's weights in int8 at the active level, runs it whole and counts the outputs that
// differ from reference_int8 (`top`: that level's input top); y gets the outputs.
std::size_t int8_mismatches(const Problem& p, float top, std::vector<float>* y) {
  const PackedLinear lin(p.w.data(), p.b.data(), p.s.n, p.s.k, Precision::kInt8);
  *y = run_whole(lin, p);
  const std::vector<float> want = reference_int8(p, top);
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < y->size(); ++i) mismatches += (*y)[i] != want[i];
  return mismatches;
}

TEST_P(PackedLinearTest, Int8MatchesSameSchemeExactly) {
  std::uint32_t seed = 200;
  for (const Shape& s : shapes()) {
    const Problem p = make_problem(s, seed += 3);
    std::vector<float> y;
    EXPECT_EQ(int8_mismatches(p, kernel_table(GetParam()).int8_top, &y), 0u) << str(s);
    // Quantization error, relative to sum |x w|, stays small.
    const Expected exact = reference_float(p, false);
    double worst = 0.0;
    for (std::size_t i = 0; i < y.size(); ++i) {
      worst = std::max(worst, std::fabs(y[i] - exact.y[i]) / exact.mag[i]);
    }
    // Loose: rows with an outlier and k = 5 are coarse; the input step is (hi - lo) / top.
    EXPECT_LT(worst, 0.1 * 255.0 / kernel_table(GetParam()).int8_top) << str(s);
  }
}

// Every row blocking of the AMX int8 kernel (one row tile of 1-16 rows streaming panel pairs;
// blocks of 32 rows, then a last block of 16 + 1..15 rows or of 1..16 rows) and column ends
// inside a sum tile, with k a multiple of its 64-byte step; the same bits on every level.
TEST_P(PackedLinearTest, Int8EveryRowBlockingIsExact) {
  std::uint32_t seed = 900;
  for (std::size_t m : {1, 7, 16, 17, 31, 32, 33, 48, 49, 50, 63, 64, 96, 111}) {
    for (std::size_t n : {32, 40, 100}) {
      for (std::size_t k : {64, 192}) {
        const Shape s{m, n, k};
        std::vector<float> y;
        EXPECT_EQ(
            int8_mismatches(make_problem(s, seed += 3), kernel_table(GetParam()).int8_top, &y), 0u)
            << str(s);
      }
    }
  }
}

// The largest products: every input at the top level and every weight at ±127, all of one
// sign, so each 16-bit pair sum of AVX2's VPMADDUBSW is its largest (127 · 127 · 2 = 32258;
// with u8 inputs, 255 · 127 · 2, it would saturate at 32767). The sums stay exact.
TEST_P(PackedLinearTest, Int8LargestProductsStayExact) {
  const Shape s{9, 40, 64};
  Problem p = make_problem(s, 300);
  for (std::size_t r = 0; r < s.m; ++r) {
    for (std::size_t i = 0; i < s.k; ++i) p.x[r * s.k + i] = r % 2 == 0 ? 1.0f : -1.0f;
  }
  for (std::size_t c = 0; c < s.n; ++c) {
    for (std::size_t i = 0; i < s.k; ++i) p.w[c * s.k + i] = c % 3 == 0 ? -0.25f : 0.25f;
  }
  const PackedLinear lin(p.w.data(), p.b.data(), s.n, s.k, Precision::kInt8);
  const std::vector<float> y = run_whole(lin, p);
  const std::vector<float> want = reference_int8(p, kernel_table(GetParam()).int8_top);
  for (std::size_t i = 0; i < y.size(); ++i) {
    // x = ±1 and w = ±0.25 are exact at every level: y = ±0.25 · k + b.
    const float sign = ((i / s.n) % 2 == 0 ? 1.0f : -1.0f) * ((i % s.n) % 3 == 0 ? -1.0f : 1.0f);
    EXPECT_EQ(y[i], want[i]) << "row " << i / s.n << " column " << i % s.n;
    EXPECT_NEAR(y[i], sign * 0.25f * static_cast<float>(s.k) + p.b[i % s.n], 1e-4f) << i;
  }
}

TEST_P(PackedLinearTest, SplitsMatchOneWholeCall) {
  for (Precision prec : {Precision::kFp32, Precision::kBf16, Precision::kInt8}) {
    for (const Shape& s :
         {Shape{64, 768, 768}, Shape{17, 40, 37}, Shape{130, 96, 24}, Shape{100, 64, 3072}}) {
      const Problem p = make_problem(s, 7);
      const PackedLinear lin(p.w.data(), p.b.data(), s.n, s.k, prec);
      const std::vector<float> whole = run_whole(lin, p);
      // Rows prepared and computed in uneven pieces, columns in block-aligned pieces.
      std::vector<unsigned char> scratch(lin.scratch_bytes(s.m) + 64);
      void* sp = scratch.data() + (64 - reinterpret_cast<std::uintptr_t>(scratch.data()) % 64);
      const std::size_t ldy = s.n + 3;
      std::vector<float> y(s.m * ldy, -1234.5f);
      const std::size_t rows[] = {0, 5, std::min<std::size_t>(6, s.m),
                                  std::min<std::size_t>(17, s.m), s.m};
      const std::size_t cb = PackedLinear::column_block();
      for (std::size_t i = 0; i + 1 < std::size(rows); ++i) {
        lin.prepare_rows(p.x.data(), s.k, rows[i], rows[i + 1], sp);
      }
      for (std::size_t i = 0; i + 1 < std::size(rows); ++i) {
        std::size_t c = 0;
        for (std::size_t step : {cb, 2 * cb, cb, 3 * cb}) {
          const std::size_t c1 = std::min(s.n, c + step);
          lin.compute(p.x.data(), s.k, sp, rows[i], rows[i + 1], c, c1, y.data(), ldy);
          c = c1;
        }
        if (c < s.n) {
          lin.compute(p.x.data(), s.k, sp, rows[i], rows[i + 1], c, s.n, y.data(), ldy);
        }
      }
      for (std::size_t r = 0; r < s.m; ++r) {
        EXPECT_EQ(std::memcmp(&y[r * ldy], &whole[r * s.n], s.n * sizeof(float)), 0)
            << precision_name(prec) << " " << str(s) << " row " << r;
        for (std::size_t c = s.n; c < ldy; ++c) EXPECT_EQ(y[r * ldy + c], -1234.5f);
      }
    }
  }
}

TEST_P(PackedLinearTest, ZeroInputGivesBias) {
  for (Precision prec : {Precision::kFp32, Precision::kBf16, Precision::kInt8}) {
    const std::size_t n = 40, k = 24, m = 3;
    const std::vector<float> w = random_vector(n * k, 3, -1.0f, 1.0f);
    const std::vector<float> b = random_vector(n, 4, -1.0f, 1.0f);
    const std::vector<float> x(m * k, 0.0f);
    const PackedLinear lin(w.data(), b.data(), n, k, prec);
    std::vector<float> y(m * n);
    lin.forward(x.data(), k, m, y.data(), n);
    for (std::size_t i = 0; i < y.size(); ++i) EXPECT_EQ(y[i], b[i % n]) << precision_name(prec);
    // And no bias means zeros.
    const PackedLinear nob(w.data(), nullptr, n, k, prec);
    nob.forward(x.data(), k, m, y.data(), n);
    for (float v : y) EXPECT_EQ(v, 0.0f);
  }
}

INSTANTIATE_TEST_SUITE_P(Isas, PackedLinearTest, ::testing::ValuesIn(available_isas()),
                         [](const ::testing::TestParamInfo<Isa>& param) {
                           return std::string(param.param == Isa::kReference ? "reference"
                                              : param.param == Isa::kAvx2    ? "avx2"
                                              : param.param == Isa::kAvxVnni ? "avxvnni"
                                              : param.param == Isa::kAvx512  ? "avx512"
                                                                             : "amx");
                         });

// The AVX2 fp32 kernel adds each output's products one k at a time with an FMA, in k order, then
// the bias; unrolling, retiling or blocking it must keep that order, so its outputs are these
// exact bits (few-row and many-row tiles, every tail height, k not a multiple of the 4-step
// unroll, chunks of k).
// The AVX2 fp32 and bf16 GEMMs add each output's products in k order with FMAs, whatever the
// tiles, k blocks or k chunks, so they must give the bits of a plain scalar loop (bf16: of the
// bf16-rounded values).
void expect_k_order_sums(Precision prec, const std::vector<Shape>& shapes) {
  std::uint32_t seed = 500;
  const bool bf16 = prec == Precision::kBf16;
  for (const Shape& s : shapes) {
    const Problem p = make_problem(s, seed += 3);
    const PackedLinear lin(p.w.data(), p.b.data(), s.n, s.k, prec);
    const std::vector<float> y = run_whole(lin, p);
    auto cvt = [&](float v) { return bf16 ? bf16_round(v) : v; };
    std::size_t differ = 0;
    for (std::size_t r = 0; r < s.m; ++r) {
      for (std::size_t c = 0; c < s.n; ++c) {
        float acc = 0.0f;
        for (std::size_t i = 0; i < s.k; ++i)
          acc = std::fma(cvt(p.x[r * s.k + i]), cvt(p.w[c * s.k + i]), acc);
        const float want = acc + p.b[c];
        differ += std::memcmp(&want, &y[r * s.n + c], sizeof want) != 0;
      }
    }
    EXPECT_EQ(differ, 0u) << precision_name(prec) << " " << str(s);
  }
}

TEST(PackedLinear, Avx2Fp32SumsEachOutputInKOrder) {
  if (max_isa() < Isa::kAvx2) GTEST_SKIP() << "this CPU has no AVX2";
  detail::set_isa_override(Isa::kAvx2);
  // Up to 128 rows: tiles of 3 rows × 32 columns, then 2s (m = 1, 2, 3, 4 = 2+2, 5 = 3+2,
  // 13 = 3+3+3+2+2, 16 = 3·4+2+2, 128 = 3·42+2), over k blocks of 128 with the sums parked
  // between them (k = 300: 128+128+44; 1001: 7 blocks and 105, not a multiple of the loop's 4
  // steps), columns ending inside a panel (n = 33, 40, 70, 44). From 129 rows, tiles of 6 rows ×
  // 16 columns leave tails of 1-5 rows: 130 (+4), 131 (+5), 134 (+2).
  expect_k_order_sums(
      Precision::kFp32,
      {Shape{1, 40, 7}, Shape{1, 33, 300}, Shape{2, 64, 129}, Shape{3, 40, 9}, Shape{4, 70, 300},
       Shape{5, 768, 768}, Shape{13, 40, 260}, Shape{16, 96, 1001}, Shape{17, 40, 37},
       Shape{64, 44, 3100}, Shape{128, 64, 300}, Shape{130, 48, 6}, Shape{131, 40, 70},
       Shape{134, 64, 33}});
  detail::set_isa_override(std::nullopt);
}

// The AVX-512 fp32 GEMM too: 6-row tiles and tails of 1-5 (m = 1, 5, 7 = 6+1, 16 = 6+6+4, 17,
// 32, 64, 128, 130, 131: row blocks of 96), k blocks of 768 with the sums parked in y (k = 1001,
// 3100), one panel or a pair, columns ending inside a panel; the tiles after a unit's first one
// prefetch the next unit (k block or panel pair), which must not change a bit.
TEST(PackedLinear, Avx512Fp32SumsEachOutputInKOrder) {
  if (max_isa() < Isa::kAvx512) GTEST_SKIP() << "this CPU has no AVX-512";
  detail::set_isa_override(Isa::kAvx512);
  expect_k_order_sums(
      Precision::kFp32,
      {Shape{1, 40, 7}, Shape{1, 33, 300}, Shape{5, 64, 129}, Shape{7, 70, 300},
       Shape{16, 96, 1001}, Shape{16, 768, 768}, Shape{17, 40, 37}, Shape{32, 44, 3100},
       Shape{64, 44, 3100}, Shape{128, 64, 300}, Shape{130, 48, 6}, Shape{131, 40, 3100}});
  detail::set_isa_override(std::nullopt);
}

TEST(PackedLinear, Avx2Bf16SumsEachOutputInKOrder) {
  if (max_isa() < Isa::kAvx2) GTEST_SKIP() << "this CPU has no AVX2";
  detail::set_isa_override(Isa::kAvx2);
  // Up to 16 rows: tiles of 4 rows (1, 3, 16, and 7 = 4+3); odd k (a last pair padded with 0).
  // With 17-64 rows, inputs over 256 KB are cut into chunks of k pairs with the sums parked in y
  // between them: 23 × 6000 (chunks of 2816 and 184 pairs), 64 × 3100 (1024 + 526, a last
  // column block of 12); 20 × 3072 and 100 × 3072 are not cut.
  expect_k_order_sums(
      Precision::kBf16,
      {Shape{1, 40, 7}, Shape{3, 40, 9}, Shape{7, 64, 301}, Shape{16, 96, 1001},
       Shape{20, 40, 3072}, Shape{23, 64, 6000}, Shape{64, 44, 3100}, Shape{100, 44, 3072}});
  detail::set_isa_override(std::nullopt);
}

// The vectorised prepare_rows must write the same values as the portable one, special values
// included (denormals, ties, NaN, inf, -0), so every level quantizes and rounds identically.
// bf16 rows are the same bytes everywhere; int8 rows the same bytes (header: scale, zero point;
// values; zeros) on every level with the same top level (u8, or u7 for the AVX2 GEMM), and the
// bytes of the portable preparation of that top level.
TEST(PackedLinear, PrepareIsIdenticalOnEveryLevel) {
  const std::size_t m = 4, n = 32, k = 37;
  std::vector<float> x = random_vector(m * k, 11, -3.0f, 3.0f);
  const float specials[] = {1e-40f, -1e-40f, -0.0f, 1.00390625f, 1.01171875f, 3.0e38f};
  for (std::size_t i = 0; i < std::size(specials); ++i) x[i * 3] = specials[i];
  x[k + 1] = std::numeric_limits<float>::quiet_NaN();       // row 1: a NaN
  x[2 * k + 2] = std::numeric_limits<float>::infinity();    // row 2: an inf
  for (std::size_t i = 0; i < k; ++i) x[3 * k + i] = 0.0f;  // row 3: all zero
  const std::vector<float> w = random_vector(n * k, 12, -1.0f, 1.0f);
  for (Precision prec : {Precision::kBf16, Precision::kInt8}) {
    // Per level: each row as header bytes + values (widened to int) + whether the rest is zero.
    std::vector<std::vector<std::int64_t>> outs;
    std::vector<float> tops;
    for (Isa isa : available_isas()) {
      detail::set_isa_override(isa);
      const PackedLinear lin(w.data(), nullptr, n, k, prec);
      detail::set_isa_override(std::nullopt);
      std::vector<unsigned char> scratch(lin.scratch_bytes(m), 0xab);
      lin.prepare_rows(x.data(), k, 0, m, scratch.data());
      const std::size_t stride = scratch.size() / m;
      const std::size_t header = prec == Precision::kInt8 ? detail::kInt8Header : 0;
      const std::size_t width = prec == Precision::kInt8 ? 1 : 2;  // bf16: one value
      std::vector<std::int64_t> decoded;
      for (std::size_t r = 0; r < m; ++r) {
        const unsigned char* row = scratch.data() + r * stride;
        decoded.insert(decoded.end(), row, row + header);
        for (std::size_t i = 0; i < k; ++i) {
          std::uint16_t v = row[header + i * width];
          if (width == 2) std::memcpy(&v, row + header + 2 * i, 2);
          decoded.push_back(v);
        }
        decoded.push_back(std::all_of(row + header + width * k, row + stride,
                                      [](unsigned char c) { return c == 0; }));
      }
      outs.push_back(decoded);
      tops.push_back(prec == Precision::kInt8 ? kernel_table(isa).int8_top : 0.0f);
      if (prec == Precision::kInt8) {
        std::vector<unsigned char> portable(scratch.size(), 0xcd);
        const auto prepare = kernel_table(isa).int8_top == detail::kInt8TopAvx2
                                 ? &reference::prepare_int8_u7
                                 : &reference::prepare_int8;
        prepare(x.data(), k, k, 0, m, portable.data(), stride);
        EXPECT_EQ(scratch, portable) << isa_name(isa);
      }
    }
    for (std::size_t i = 0; i < outs.size(); ++i) {
      if (tops[i] == tops.front()) {
        EXPECT_EQ(outs[i], outs.front()) << precision_name(prec);
      }
    }
    // The values came through: not every row is zero padding.
    EXPECT_GT(std::count_if(outs.front().begin(), outs.front().end(),
                            [](std::int64_t v) { return v > 1; }),
              static_cast<std::ptrdiff_t>(k));
  }
}

// prepare_int8 and gemm_int8 of a table agree on the inputs' top level: on an AVX-512 CPU
// without VNNI the GEMM is AVX2's, so its preparation (u7) must be too.
TEST(PackedLinear, Int8PreparationMatchesTheGemmOfEveryLevel) {
  for (Isa isa : available_isas()) {
    const KernelTable& t = kernel_table(isa);
    if (t.gemm_int8 == &avxvnni::gemm_int8) {
      EXPECT_EQ(t.prepare_int8, &avx2::prepare_int8_u8) << isa_name(isa);
      EXPECT_EQ(t.int8_top, detail::kInt8Top) << isa_name(isa);
    } else if (t.gemm_int8 == &avx2::gemm_int8) {
      EXPECT_EQ(t.prepare_int8, &avx2::prepare_int8) << isa_name(isa);
      EXPECT_EQ(t.int8_top, detail::kInt8TopAvx2) << isa_name(isa);
    } else {
      EXPECT_NE(t.prepare_int8, &avx2::prepare_int8) << isa_name(isa);
      EXPECT_EQ(t.int8_top, detail::kInt8Top) << isa_name(isa);
    }
  }
}

TEST(PackedLinear, RejectsBadArguments) {
  const std::vector<float> w(64 * 8, 1.0f);
  EXPECT_THROW(PackedLinear(nullptr, nullptr, 4, 4, Precision::kFp32), Error);
  EXPECT_THROW(PackedLinear(w.data(), nullptr, 0, 8, Precision::kFp32), Error);
  const PackedLinear lin(w.data(), nullptr, 64, 8, Precision::kFp32);
  std::vector<float> x(8), y(64);
  EXPECT_THROW(lin.compute(x.data(), 8, nullptr, 0, 1, 16, 64, y.data(), 64), Error);  // c0
  EXPECT_THROW(lin.compute(x.data(), 8, nullptr, 0, 1, 0, 48, y.data(), 64), Error);   // c1
  EXPECT_THROW(lin.compute(x.data(), 8, nullptr, 0, 1, 0, 96, y.data(), 96), Error);   // > n
  const PackedLinear q(w.data(), nullptr, 64, 8, Precision::kInt8);
  EXPECT_THROW(q.compute(nullptr, 8, nullptr, 0, 1, 0, 64, y.data(), 64), Error);  // no scratch
  EXPECT_GT(q.bytes(), 64u * 8u);
}

// The AVX-VNNI level runs AVX-VNNI's int8 GEMM exactly where the CPU has the extension.
TEST(PackedLinear, TheAvxVnniLevelTakesAvxVnniWhereTheCpuHasIt) {
  if (max_isa() < Isa::kAvxVnni) GTEST_SKIP() << "no AVX2 on this CPU";
  const KernelTable& t = kernel_table(Isa::kAvxVnni);
  const KernelTable& avx2 = kernel_table(Isa::kAvx2);
  EXPECT_EQ(t.gemm_fp32, avx2.gemm_fp32);
  if (cpu_features().avx_vnni) {
    EXPECT_EQ(t.gemm_int8, &avxvnni::gemm_int8);
    EXPECT_EQ(isa_name(Isa::kAvxVnni), "avx2+avxvnni");
  } else {
    EXPECT_EQ(t.gemm_int8, avx2.gemm_int8);
    EXPECT_EQ(isa_name(Isa::kAvxVnni), "avx2");
  }
  EXPECT_EQ(avx2.gemm_int8, &avx2::gemm_int8);
}

TEST(CpuFeatures, LevelsAreConsistent) {
  const CpuFeatures& f = cpu_features();
  if (max_isa() == Isa::kAvxVnni) {
    EXPECT_TRUE(f.avx_vnni && f.avx2 && !f.avx512f);
  }
  if (max_isa() >= Isa::kAvx512) {
    EXPECT_TRUE(f.avx512f && f.avx512bw && f.avx2 && f.fma);
  }
  if (max_isa() == Isa::kAmx) {
    EXPECT_TRUE(f.amx_int8 && f.avx512_vnni);
    EXPECT_NE(isa_name(Isa::kAmx).find("+amx"), std::string::npos);
  }
  if (max_isa() >= Isa::kAvx2) {
    EXPECT_TRUE(f.avx2 && f.fma);
  }
  if (f.avx512_bf16 || f.avx512_vnni) {
    EXPECT_TRUE(f.avx512f);
  }
  EXPECT_EQ(isa_name(Isa::kReference), "reference");
  std::printf("isa: %s\n", isa_name().c_str());
}

}  // namespace
}  // namespace refusal::kernels
