// The server's Prometheus metrics (text exposition format 0.0.4). Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace refusal::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  // Lines `NAME_bucket{LABELS,le="…"} n`, `NAME_sum{LABELS}`, `NAME_count{LABELS}`.
  void render(const std::string& name, const std::string& labels, std::string& out) const;

 private:
  std::vector<double> bounds_;
  std::vector<std::uint64_t> counts_;  // per bound, then +Inf
  double sum_ = 0.0;
  std::uint64_t count_ = 0;
};

class Metrics {
 public:
  Metrics();
  // One finished HTTP request.
  void request(const std::string& route, int status, double seconds);
  // One dynamic batch sent to the model.
  void batch(std::size_t texts, std::size_t est_tokens, double seconds);
  void texts_classified(std::size_t n, std::size_t tokens);
  void cache(bool hit);
  void error(const std::string& kind);
  void queue_depth(std::size_t depth);
  void rejected_full();
  std::string render() const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, std::uint64_t> requests_;
  std::map<std::string, Histogram> latency_;
  Histogram batch_size_;
  Histogram batch_seconds_;
  std::uint64_t batches_ = 0;
  std::uint64_t texts_ = 0;
  std::uint64_t tokens_ = 0;
  std::uint64_t cache_hits_ = 0;
  std::uint64_t cache_misses_ = 0;
  std::uint64_t queue_full_ = 0;
  std::map<std::string, std::uint64_t> errors_;
  std::size_t queue_depth_ = 0;
  std::size_t queue_depth_max_ = 0;
};

}  // namespace refusal::server
