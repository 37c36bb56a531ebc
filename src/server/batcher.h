// Dynamic batching: the texts of concurrent requests wait in one bounded queue; a worker
// thread takes, in arrival order, the waiting texts that share the front text's settings, up to
// a token budget, and classifies them in one call (the classifier sorts them by length into
// engine batches under its own token budget). A full queue refuses new work at once (429),
// so memory stays bounded; a request that gave up (timeout) is skipped.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "refusal/classifier.h"
#include "refusal/engine.h"

namespace refusal::server {

class Metrics;

// One request's model work and, once done, its results.
struct Job {
  std::string group;                             // texts with the same group are batched together
  std::shared_ptr<const Classifier> classifier;  // text work
  bool raw_ids = false;                          // TEI: token ids straight to the engine
  std::vector<std::string> texts;
  std::vector<std::vector<std::int32_t>> ids;
  std::vector<Verdict> verdicts;
  std::vector<Classification> outputs;
  std::vector<std::string> errors;  // per item; empty when it succeeded
  std::atomic<bool> cancelled{false};

  // Sizes the result vectors for n items.
  void resize(std::size_t n);
  // Waits until every queued item is done; false at the deadline (the job is then cancelled).
  bool wait_until(std::chrono::steady_clock::time_point deadline);
  void done(std::size_t n);
  void expect(std::size_t n);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t remaining_ = 0;
};

struct BatcherOptions {
  std::size_t queue_capacity = 1024;
  std::size_t batch_tokens = 16384;
  std::size_t batch_max_texts = 256;
  double batch_wait_ms = 0.0;
  // Refuse new work (429) when the queue, at the recent rate, would take longer than this
  // (the request timeout): an overloaded server answers 429 at once, not 408 later.
  double max_queue_wait_s = 0.0;  // 0: no such limit
};

class Batcher {
 public:
  Batcher(std::shared_ptr<const Engine> engine, BatcherOptions options, Metrics* metrics);
  ~Batcher();
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // Queues the items `indices` of `job`, all or none: false when they do not fit.
  bool submit(const std::shared_ptr<Job>& job, const std::vector<std::size_t>& indices);
  // Finishes what is queued, then stops the worker. Later submits are refused.
  void stop();
  std::size_t depth() const;
  // Seconds a refused client should wait: the queue at the recent rate, 1..60.
  int retry_after_seconds() const;

 private:
  struct Item {
    std::shared_ptr<Job> job;
    std::size_t index;
    std::size_t cost;
  };
  void run();
  void process(std::vector<Item>& batch);
  static std::size_t cost_of(const Job& job, std::size_t index);

  std::shared_ptr<const Engine> engine_;
  BatcherOptions options_;
  Metrics* metrics_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  std::size_t queued_cost_ = 0;
  bool stopping_ = false;
  std::atomic<double> texts_per_second_{0.0};
  std::thread worker_;
};

}  // namespace refusal::server
