// Element-wise kernels: every ISA level against plain double-precision formulas.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/kernels.h"

namespace refusal::kernels {
namespace {

std::vector<Isa> levels() {
  std::vector<Isa> out = {Isa::kReference};
  if (max_isa() >= Isa::kAvx2) out.push_back(Isa::kAvx2);
  if (max_isa() >= Isa::kAvx512) out.push_back(Isa::kAvx512);
  return out;
}

struct IsaScope {
  explicit IsaScope(Isa isa) { detail::set_isa_override(isa); }
  ~IsaScope() { detail::set_isa_override(std::nullopt); }
};

TEST(Ops, GeluMatchesErfAtEveryLevel) {
  std::vector<float> input;
  for (int i = -12000; i <= 12000; ++i) input.push_back(static_cast<float>(i) / 1000.0f);
  input.push_back(-100.0f);
  input.push_back(100.0f);
  for (Isa isa : levels()) {
    IsaScope scope(isa);
    for (std::size_t n : {input.size(), std::size_t{1}, std::size_t{15}, std::size_t{17}}) {
      std::vector<float> x(input.begin(), input.begin() + static_cast<std::ptrdiff_t>(n));
      gelu_erf(x.data(), x.size());
      for (std::size_t i = 0; i < n; ++i) {
        const double v = input[i];
        const double want = 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
        EXPECT_NEAR(x[i], want, 2e-7 * std::max(1.0, std::abs(v))) << "x=" << v << " isa "
                                                                   << isa_name(isa);
      }
    }
  }
}

TEST(Ops, SoftmaxMatchesAtEveryLevel) {
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 4.0f);
  for (Isa isa : levels()) {
    IsaScope scope(isa);
    for (std::size_t width : {1, 5, 16, 17, 64, 511}) {
      const std::size_t rows = 3;
      std::vector<float> x(rows * width);
      for (auto& v : x) v = dist(rng);
      x[0] = -1e30f;  // a masked-out score
      const std::vector<float> input = x;
      softmax_rows(x.data(), rows, width);
      for (std::size_t r = 0; r < rows; ++r) {
        double top = -INFINITY, sum = 0.0;
        for (std::size_t j = 0; j < width; ++j) top = std::max<double>(top, input[r * width + j]);
        for (std::size_t j = 0; j < width; ++j) sum += std::exp(input[r * width + j] - top);
        for (std::size_t j = 0; j < width; ++j) {
          const double want = std::exp(input[r * width + j] - top) / sum;
          EXPECT_NEAR(x[r * width + j], want, 1e-6 * std::max(1.0, want))
              << "width " << width << " isa " << isa_name(isa);
        }
      }
    }
  }
}

}  // namespace
}  // namespace refusal::kernels
