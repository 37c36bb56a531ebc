// What the route handlers call: the loaded model, classifiers by options, the dynamic batcher
// and the result caches. No HTTP here: a test builds one over a model and calls handlers.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "refusal/classifier.h"
#include "refusal/engine.h"
#include "refusal/scanner_rules.h"
#include "refusal/tokenizer.h"
#include "server/batcher.h"
#include "server/config.h"
#include "server/lru_cache.h"
#include "server/metrics.h"

namespace refusal::server {

// The answers of one batched classification.
struct Outcome {
  enum class Status { kOk, kQueueFull, kTimeout } status = Status::kOk;
  std::vector<Verdict> verdicts;
  std::vector<Classification> outputs;  // raw-ids work
  std::vector<std::string> errors;      // per item (the library's message); empty when fine
  int retry_after = 1;                  // seconds, with kQueueFull
};

class Services {
 public:
  using Clock = std::chrono::steady_clock;

  Services(ServerConfig config, std::shared_ptr<const Engine> engine, Tokenizer tokenizer);
  ~Services();  // finishes the queued work
  Services(const Services&) = delete;
  Services& operator=(const Services&) = delete;

  const ServerConfig& config() const { return config_; }
  const Engine& engine() const { return *engine_; }
  const Tokenizer& tokenizer() const { return tokenizer_; }
  Metrics& metrics() { return metrics_; }
  Batcher& batcher() { return *batcher_; }

  // A classifier with these options, shared by the requests that ask for the same ones.
  // Throws refusal::Error for options the library refuses.
  std::shared_ptr<const Classifier> classifier_for(const ClassifierOptions& options);
  // LLM Guard's NoRefusal scanner as the settings configure it (the llm-guard preset's
  // threshold and max_length where they are not set).
  const std::shared_ptr<const Classifier>& no_refusal() const { return no_refusal_; }
  // nltk's Punkt parameters (the bundled punkt_tab/english), loaded on first use.
  const PunktParameters& punkt();
  // When a request received at `received` must have its answer (request_timeout).
  Clock::time_point deadline(Clock::time_point received) const;

  // Classifies through the cache and the batcher; waits up to `deadline`.
  Outcome classify(const std::shared_ptr<const Classifier>& classifier,
                   std::vector<std::string> texts, Clock::time_point deadline);
  // Token ids straight to the engine (TEI), cached under `cache_keys`.
  Outcome run_ids(std::vector<std::vector<std::int32_t>> ids, std::vector<std::string> cache_keys,
                  Clock::time_point deadline);
  // Stops taking work; what is queued is finished first.
  void stop();
  // Readiness (/readyz): false once the server is stopping.
  bool ready() const { return ready_; }
  void set_ready(bool ready) { ready_ = ready; }

 private:
  static std::string options_key(const ClassifierOptions& options);
  // Queues the uncached items of `job` and waits; false (out.status set) when the request's
  // time is up or the queue is full.
  bool queue_and_wait(const std::shared_ptr<Job>& job, const std::vector<std::size_t>& todo,
                      Clock::time_point deadline, Outcome& out);
  // Each item from `cache` when it is there; the others through the batcher as `job`, whose
  // `results` are then cached and moved to `values` (out.errors: the items that failed).
  template <class Value>
  void run_through_cache(LruCache<Value>& cache, const std::vector<std::string>& keys,
                         const std::shared_ptr<Job>& job, std::vector<Value> Job::*results,
                         std::vector<Value>& values, Clock::time_point deadline, Outcome& out);

  ServerConfig config_;
  std::shared_ptr<const Engine> engine_;
  Tokenizer tokenizer_;
  Metrics metrics_;
  std::unique_ptr<Batcher> batcher_;
  LruCache<Verdict> verdict_cache_;
  LruCache<Classification> output_cache_;
  std::mutex classifiers_mu_;
  std::map<std::string, std::shared_ptr<const Classifier>> classifiers_;
  std::shared_ptr<const Classifier> no_refusal_;
  std::atomic<bool> ready_{true};
  std::once_flag punkt_once_;
  std::optional<PunktParameters> punkt_;
};

}  // namespace refusal::server
