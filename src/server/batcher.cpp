#include "server/batcher.h"

#include <algorithm>
#include <cmath>
#include <string_view>

#include "base/each_or_error.h"
#include "refusal/error.h"
#include "server/metrics.h"

namespace refusal::server {

void Job::resize(std::size_t n) {
  if (raw_ids) {
    outputs.resize(n);
  } else {
    verdicts.resize(n);
  }
  errors.resize(n);
}

void Job::expect(std::size_t n) {
  std::lock_guard lock(mu_);
  remaining_ += n;
}

void Job::done(std::size_t n) {
  std::lock_guard lock(mu_);
  remaining_ -= std::min(n, remaining_);
  if (remaining_ == 0) cv_.notify_all();
}

bool Job::wait_until(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mu_);
  if (cv_.wait_until(lock, deadline, [&] { return remaining_ == 0; })) return true;
  cancelled = true;
  return false;
}

Batcher::Batcher(std::shared_ptr<const Engine> engine, BatcherOptions options, Metrics* metrics)
    : engine_(std::move(engine)), options_(options), metrics_(metrics) {
  worker_ = std::thread([this] { run(); });
}

Batcher::~Batcher() { stop(); }

std::size_t Batcher::cost_of(const Job& job, std::size_t index) {
  if (job.raw_ids) return job.ids[index].size();
  // About 4 bytes a token for English BPE, plus <s> </s>; truncation caps it.
  const std::size_t est = job.texts[index].size() / 4 + 2;
  const auto& o = job.classifier->options();
  if (o.long_text == LongTextMode::kTruncate && o.match == MatchMode::kFull) {
    return std::min(est, job.classifier->max_length());
  }
  return est;
}

bool Batcher::submit(const std::shared_ptr<Job>& job, const std::vector<std::size_t>& indices) {
  if (indices.empty()) return true;
  std::size_t depth = 0;
  {
    std::lock_guard lock(mu_);
    const double rate = texts_per_second_.load();
    const bool too_slow =
        options_.max_queue_wait_s > 0 && rate > 0 && !queue_.empty() &&
        static_cast<double>(queue_.size() + indices.size()) / rate > options_.max_queue_wait_s;
    if (stopping_ || too_slow || queue_.size() + indices.size() > options_.queue_capacity) {
      if (metrics_ != nullptr) metrics_->rejected_full();
      return false;
    }
    job->expect(indices.size());
    for (std::size_t i : indices) {
      const std::size_t c = cost_of(*job, i);
      queue_.push_back({job, i, c});
      queued_cost_ += c;
    }
    depth = queue_.size();
  }
  if (metrics_ != nullptr) metrics_->queue_depth(depth);
  cv_.notify_one();
  return true;
}

void Batcher::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

std::size_t Batcher::depth() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

int Batcher::retry_after_seconds() const {
  const double rate = texts_per_second_.load();
  const double wait = rate > 0.0 ? static_cast<double>(depth()) / rate : 1.0;
  return static_cast<int>(std::clamp(std::ceil(wait), 1.0, 60.0));
}

void Batcher::run() {
  while (true) {
    std::vector<Item> batch;
    std::size_t depth = 0;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
      if (options_.batch_wait_ms > 0 && queued_cost_ < options_.batch_tokens && !stopping_ &&
          queue_.size() < options_.batch_max_texts) {
        // Let requests that arrive at the same moment join this batch.
        cv_.wait_for(lock, std::chrono::duration<double, std::milli>(options_.batch_wait_ms),
                     [&] { return stopping_ || queued_cost_ >= options_.batch_tokens; });
      }
      const std::string group = queue_.front().job->group;
      std::deque<Item> rest;
      std::size_t tokens = 0;
      for (auto& item : queue_) {
        const bool same = item.job->group == group;
        if (same && item.job->cancelled) {
          queued_cost_ -= item.cost;
          item.job->done(1);
          continue;
        }
        if (same && batch.size() < options_.batch_max_texts &&
            (batch.empty() || tokens + item.cost <= options_.batch_tokens)) {
          tokens += item.cost;
          queued_cost_ -= item.cost;
          batch.push_back(std::move(item));
        } else {
          rest.push_back(std::move(item));
        }
      }
      queue_.swap(rest);
      depth = queue_.size();
    }
    if (metrics_ != nullptr) metrics_->queue_depth(depth);
    if (!batch.empty()) process(batch);
  }
}

void Batcher::process(std::vector<Item>& batch) {
  const auto start = std::chrono::steady_clock::now();
  std::size_t tokens = 0;
  Job& first = *batch.front().job;
  if (first.raw_ids) {
    std::vector<std::vector<std::int32_t>> ids;
    for (const auto& item : batch) ids.push_back(item.job->ids[item.index]);
    auto outcomes = base::each_or_error<Classification>(
        std::span<const std::vector<std::int32_t>>(ids),
        [this](std::span<const std::vector<std::int32_t>> some) {
          return engine_->classify(some);
        });
    for (std::size_t k = 0; k < batch.size(); ++k) {
      Job& job = *batch[k].job;
      if (outcomes[k].error.empty()) {
        tokens += ids[k].size();
        if (metrics_ != nullptr) metrics_->input_length(ids[k].size());
        job.outputs[batch[k].index] = std::move(outcomes[k].value);
      } else {
        job.errors[batch[k].index] = std::move(outcomes[k].error);
      }
    }
  } else {
    std::vector<std::string_view> texts;
    for (const auto& item : batch) texts.push_back(item.job->texts[item.index]);
    auto results = first.classifier->classify_each(texts);
    for (std::size_t k = 0; k < batch.size(); ++k) {
      Job& job = *batch[k].job;
      if (results[k].ok()) {
        tokens += results[k].verdict.tokens;
        if (metrics_ != nullptr) metrics_->input_length(results[k].verdict.tokens);
        job.verdicts[batch[k].index] = std::move(results[k].verdict);
      } else {
        job.errors[batch[k].index] = std::move(results[k].error);
      }
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (seconds > 0) {
    const double rate = static_cast<double>(batch.size()) / seconds;
    const double old = texts_per_second_.load();
    texts_per_second_ = old == 0.0 ? rate : 0.8 * old + 0.2 * rate;
  }
  if (metrics_ != nullptr) {
    metrics_->batch(batch.size(), tokens, seconds);
    metrics_->texts_classified(batch.size(), tokens);
  }
  for (auto& item : batch) item.job->done(1);
}

}  // namespace refusal::server
