#include "train/optimizer.h"

#include <algorithm>
#include <cmath>

namespace refusal::train {

AdamW::AdamW(const Params& params, AdamWOptions options)
    : options_(options),
      m_(params.data.size(), 0.0f),
      v_(params.data.size(), 0.0f),
      decay_(params.data.size(), 0) {
  for (const auto& t : params.tensors) {
    std::fill(decay_.begin() + static_cast<std::ptrdiff_t>(t.offset),
              decay_.begin() + static_cast<std::ptrdiff_t>(t.offset + t.size), t.decay ? 1 : 0);
  }
}

void AdamW::step(Params& params, std::span<const float> grad, float lr, base::ThreadPool& pool) {
  ++step_;
  const auto& o = options_;
  // torch's single-tensor AdamW: p *= 1 - lr·wd; m, v updated; p -= lr/bc1 · m / (√v/√bc2 + eps).
  const double bc1 = 1.0 - std::pow(static_cast<double>(o.beta1), static_cast<double>(step_));
  const double bc2 = 1.0 - std::pow(static_cast<double>(o.beta2), static_cast<double>(step_));
  const float step_size = static_cast<float>(lr / bc1);
  const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  const float decay_factor = 1.0f - lr * o.weight_decay;
  const std::size_t n = params.data.size();
  const std::size_t parts = static_cast<std::size_t>(pool.threads()) * 4;
  const std::size_t chunk = (n + parts - 1) / parts;
  float* p = params.data.data();
  pool.parallel_for(parts, [&](std::size_t part) {
    const std::size_t b = part * chunk, e = std::min(n, b + chunk);
    for (std::size_t i = b; i < e; ++i) {
      if (decay_[i] && o.weight_decay != 0.0f) p[i] *= decay_factor;
      const float g = grad[i];
      m_[i] += (g - m_[i]) * (1.0f - o.beta1);  // torch: exp_avg.lerp_(grad, 1 - beta1)
      v_[i] = v_[i] * o.beta2 + (1.0f - o.beta2) * g * g;
      const float denom = std::sqrt(v_[i]) / bc2_sqrt + o.eps;
      p[i] -= step_size * (m_[i] / denom);
    }
  });
}

double linear_schedule(std::int64_t step, std::int64_t warmup, std::int64_t total) {
  if (step < warmup)
    return static_cast<double>(step) / static_cast<double>(std::max<std::int64_t>(1, warmup));
  return std::max(0.0, static_cast<double>(total - step) /
                           static_cast<double>(std::max<std::int64_t>(1, total - warmup)));
}

double clip_grad_norm(std::span<float> grad, double max_norm) {
  double sum = 0;
  for (float g : grad) sum += static_cast<double>(g) * g;
  const double norm = std::sqrt(sum);
  if (max_norm > 0) {
    const double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0) {
      const float c = static_cast<float>(coef);
      for (float& g : grad) g *= c;
    }
  }
  return norm;
}

}  // namespace refusal::train
