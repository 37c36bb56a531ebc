#include "server/services.h"

#include <cstdio>

#include "base/data_files.h"
#include "refusal/error.h"

namespace refusal::server {

Services::Services(ServerConfig config, std::shared_ptr<const Engine> engine, Tokenizer tokenizer)
    : config_(std::move(config)),
      engine_(std::move(engine)),
      tokenizer_(std::move(tokenizer)),
      metrics_(static_cast<std::size_t>(engine_->config().max_tokens())),
      verdict_cache_(config_.cache_size),
      output_cache_(config_.cache_size) {
  batcher_ = std::make_unique<Batcher>(
      engine_,
      BatcherOptions{config_.queue_capacity, config_.batch_tokens, config_.batch_max_texts,
                     config_.batch_wait_ms, 0.8 * config_.request_timeout},
      &metrics_);
  ClassifierOptions o;
  o.preset = Preset::kLlmGuard;
  o.threshold = config_.threshold;    // unset: the preset's
  o.max_length = config_.max_length;  // unset: the preset's
  o.match = parse_match_mode(config_.match_type);
  no_refusal_ = classifier_for(o);
}

Services::~Services() { stop(); }

void Services::stop() { batcher_->stop(); }

std::string Services::options_key(const ClassifierOptions& o) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "m%d|l%d|n%zu|s%zu|t%.17g|p%d", static_cast<int>(o.match),
                static_cast<int>(o.long_text), o.max_length.value_or(0), o.stride,
                o.effective_threshold(), static_cast<int>(o.preset));
  return buf;
}

std::shared_ptr<const Classifier> Services::classifier_for(const ClassifierOptions& options) {
  const std::string key = options_key(options);
  std::lock_guard lock(classifiers_mu_);
  auto it = classifiers_.find(key);
  if (it != classifiers_.end()) return it->second;
  auto c = std::make_shared<const Classifier>(engine_, tokenizer_, options);
  // Bounded: a client sending many distinct thresholds gets classifiers that are not kept.
  if (classifiers_.size() < 64) classifiers_.emplace(key, c);
  return c;
}

const PunktParameters& Services::punkt() {
  std::call_once(punkt_once_, [&] {
    const auto dir = base::find_data_file("punkt_tab/english");
    if (!dir) throw Error("punkt_tab/english not found in " + base::data_search_path_text());
    punkt_ = load_punkt_parameters(*dir);
  });
  return *punkt_;
}

Services::Clock::time_point Services::deadline(Clock::time_point received) const {
  return received +
         std::chrono::milliseconds(static_cast<long long>(config_.request_timeout * 1000));
}

bool Services::queue_and_wait(const std::shared_ptr<Job>& job, const std::vector<std::size_t>& todo,
                              Clock::time_point deadline, Outcome& out) {
  if (Clock::now() >= deadline) {  // its time is up already (e.g. it waited to be read)
    out.status = Outcome::Status::kTimeout;
    return false;
  }
  if (!batcher_->submit(job, todo)) {
    out.status = Outcome::Status::kQueueFull;
    out.retry_after = batcher_->retry_after_seconds();
    return false;
  }
  if (!job->wait_until(deadline)) {
    out.status = Outcome::Status::kTimeout;
    return false;
  }
  return true;
}

template <class Value>
void Services::run_through_cache(LruCache<Value>& cache, const std::vector<std::string>& keys,
                                 const std::shared_ptr<Job>& job, std::vector<Value> Job::*results,
                                 std::vector<Value>& values, Clock::time_point deadline,
                                 Outcome& out) {
  const std::size_t n = keys.size();
  values.resize(n);
  out.errors.resize(n);
  job->resize(n);
  std::vector<std::size_t> todo;
  for (std::size_t i = 0; i < n; ++i) {
    if (auto hit = cache.get(keys[i])) {
      metrics_.cache(true);
      values[i] = std::move(*hit);
    } else {
      metrics_.cache(false);
      todo.push_back(i);
    }
  }
  if (todo.empty() || !queue_and_wait(job, todo, deadline, out)) return;
  std::vector<Value>& done = (*job).*results;
  for (std::size_t i : todo) {
    if (job->errors[i].empty()) {
      cache.put(keys[i], done[i]);
      values[i] = std::move(done[i]);
    } else {
      out.errors[i] = job->errors[i];
    }
  }
}

Outcome Services::classify(const std::shared_ptr<const Classifier>& classifier,
                           std::vector<std::string> texts, Clock::time_point deadline) {
  const std::string group = options_key(classifier->options());
  std::vector<std::string> keys;
  for (const auto& text : texts) keys.push_back(group + '\x1f' + text);
  auto job = std::make_shared<Job>();
  job->group = group;
  job->classifier = classifier;
  job->texts = std::move(texts);
  Outcome out;
  run_through_cache(verdict_cache_, keys, job, &Job::verdicts, out.verdicts, deadline, out);
  return out;
}

Outcome Services::run_ids(std::vector<std::vector<std::int32_t>> ids,
                          std::vector<std::string> cache_keys, Clock::time_point deadline) {
  auto job = std::make_shared<Job>();
  job->group = "ids";
  job->raw_ids = true;
  job->ids = std::move(ids);
  Outcome out;
  run_through_cache(output_cache_, cache_keys, job, &Job::outputs, out.outputs, deadline, out);
  return out;
}

}  // namespace refusal::server
