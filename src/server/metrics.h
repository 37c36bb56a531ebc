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

// What the server exports: its own refusal_* metrics, the names of Hugging Face
// text-embeddings-inference (te_*, with TEI's types, labels and buckets, for the dashboards and
// autoscalers made for TEI), the standard process_* metrics and refusal_build_info.
class Metrics {
 public:
  // max_input_length: the model's longest input in tokens (the top bucket of
  // te_request_input_length, as TEI's).
  explicit Metrics(std::size_t max_input_length = 512);
  // One finished HTTP request.
  void request(const std::string& route, int status, double seconds);
  // One classification request whose body was read (TEI's te_request_count, _success,
  // _failure, _duration): `batch` when it sent several inputs; `status` its answer's.
  void api_request(bool batch, int status, double seconds);
  // One dynamic batch sent to the model: its texts, their model tokens, its time.
  void batch(std::size_t texts, std::size_t tokens, double seconds);
  // One text or token-id input the model classified, of `tokens` tokens.
  void input_length(std::size_t tokens);
  void texts_classified(std::size_t n, std::size_t tokens);
  void cache(bool hit);
  void error(const std::string& kind);
  void queue_depth(std::size_t depth);
  void rejected_full();
  // The metrics above, then refusal_build_info{version,model,dtype,isa} and process_*.
  std::string render(const std::string& version, const std::string& model, const std::string& dtype,
                     const std::string& isa) const;

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
  // TEI's.
  std::map<std::string, std::uint64_t> te_count_;    // by method
  std::map<std::string, std::uint64_t> te_success_;  // by method
  std::map<std::string, std::uint64_t> te_failure_;  // by err
  Histogram te_duration_;
  Histogram te_input_length_;
  Histogram te_batch_size_;
  Histogram te_batch_tokens_;
};

// TEI's te_request_failure `err` of an answer's status ("" for a success): 429 overloaded,
// 408 dropped (its queued work is skipped), 5xx and 424 inference, other 4xx validation.
const char* tei_failure_kind(int status);

// Label value escaping of the text exposition format (backslash, quote, newline).
std::string escape_label_value(const std::string& value);

}  // namespace refusal::server
