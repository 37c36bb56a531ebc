// AdamW as torch.optim.AdamW computes it (the optimizer transformers' Trainer builds), the linear
// warm-up/decay schedule of get_linear_schedule_with_warmup, and global-norm gradient clipping
// as torch.nn.utils.clip_grad_norm_.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/thread_pool.h"
#include "train/train_model.h"

namespace refusal::train {

struct AdamWOptions {
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
  float weight_decay = 0.0f;  // applied to tensors with ParamTensor::decay only
};

class AdamW {
 public:
  AdamW(const Params& params, AdamWOptions options);
  // One step at learning rate `lr` with gradient `grad` (params' layout).
  void step(Params& params, std::span<const float> grad, float lr, base::ThreadPool& pool);

  std::int64_t steps() const { return step_; }
  std::vector<float>& exp_avg() { return m_; }
  std::vector<float>& exp_avg_sq() { return v_; }
  const std::vector<float>& exp_avg() const { return m_; }
  const std::vector<float>& exp_avg_sq() const { return v_; }
  void set_steps(std::int64_t s) { step_ = s; }

 private:
  AdamWOptions options_;
  std::vector<float> m_, v_;
  std::vector<std::uint8_t> decay_;  // per element
  std::int64_t step_ = 0;
};

// get_linear_schedule_with_warmup: the factor of the base learning rate at optimizer step
// `step` (0-based: the lr used by the (step+1)-th update).
double linear_schedule(std::int64_t step, std::int64_t warmup, std::int64_t total);

// Global L2 norm of grad (in double); when max_norm > 0 and the norm exceeds it, scales grad
// by max_norm / (norm + 1e-6) like clip_grad_norm_. Returns the norm before clipping.
double clip_grad_norm(std::span<float> grad, double max_norm);

}  // namespace refusal::train
