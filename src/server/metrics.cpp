#include "server/metrics.h"

#include <sstream>

namespace refusal::server {
namespace {

std::string num(double v) {
  std::ostringstream s;
  s.precision(10);
  s << v;
  return s.str();
}

const std::vector<double> kLatencyBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                            0.25,  0.5,    1.0,   2.5,  5.0,   10.0, 30.0};

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double v) {
  std::size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += v;
  ++count_;
}

void Histogram::render(const std::string& name, const std::string& labels, std::string& out) const {
  const std::string sep = labels.empty() ? "" : ",";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += name + "_bucket{" + labels + sep + "le=\"" +
           (i < bounds_.size() ? num(bounds_[i]) : std::string("+Inf")) + "\"} " +
           std::to_string(cumulative) + "\n";
  }
  const std::string l = labels.empty() ? "" : "{" + labels + "}";
  out += name + "_sum" + l + " " + num(sum_) + "\n";
  out += name + "_count" + l + " " + std::to_string(count_) + "\n";
}

Metrics::Metrics()
    : batch_size_({1, 2, 4, 8, 16, 32, 64, 128, 256, 512}), batch_seconds_(kLatencyBounds) {}

void Metrics::request(const std::string& route, int status, double seconds) {
  std::lock_guard lock(mu_);
  ++requests_[{route, status}];
  auto it = latency_.find(route);
  if (it == latency_.end()) it = latency_.emplace(route, Histogram(kLatencyBounds)).first;
  it->second.observe(seconds);
}

void Metrics::batch(std::size_t texts, std::size_t, double seconds) {
  std::lock_guard lock(mu_);
  ++batches_;
  batch_size_.observe(static_cast<double>(texts));
  batch_seconds_.observe(seconds);
}

void Metrics::texts_classified(std::size_t n, std::size_t tokens) {
  std::lock_guard lock(mu_);
  texts_ += n;
  tokens_ += tokens;
}

void Metrics::cache(bool hit) {
  std::lock_guard lock(mu_);
  ++(hit ? cache_hits_ : cache_misses_);
}

void Metrics::error(const std::string& kind) {
  std::lock_guard lock(mu_);
  ++errors_[kind];
}

void Metrics::queue_depth(std::size_t depth) {
  std::lock_guard lock(mu_);
  queue_depth_ = depth;
  if (depth > queue_depth_max_) queue_depth_max_ = depth;
}

void Metrics::rejected_full() {
  std::lock_guard lock(mu_);
  ++queue_full_;
}

namespace {

// The # HELP and # TYPE lines of one metric.
void header(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

// A metric with one unlabelled value.
void scalar(std::string& out, const char* name, const char* type, const char* help,
            std::size_t value) {
  header(out, name, type, help);
  out += std::string(name) + " " + std::to_string(value) + "\n";
}

}  // namespace

std::string Metrics::render() const {
  std::lock_guard lock(mu_);
  std::string out;
  header(out, "refusal_requests_total", "counter",
         "HTTP requests answered, by route and status code.");
  for (const auto& [key, n] : requests_) {
    out += "refusal_requests_total{route=\"" + key.first + "\",code=\"" +
           std::to_string(key.second) + "\"} " + std::to_string(n) + "\n";
  }
  header(out, "refusal_request_duration_seconds", "histogram",
         "Time from the first byte of a request to its response, by route.");
  for (const auto& [route, h] : latency_) {
    h.render("refusal_request_duration_seconds", "route=\"" + route + "\"", out);
  }
  header(out, "refusal_batch_size", "histogram", "Texts per dynamic batch sent to the model.");
  batch_size_.render("refusal_batch_size", "", out);
  header(out, "refusal_batch_duration_seconds", "histogram", "Model time per dynamic batch.");
  batch_seconds_.render("refusal_batch_duration_seconds", "", out);
  scalar(out, "refusal_batches_total", "counter", "Dynamic batches sent to the model.", batches_);
  scalar(out, "refusal_texts_total", "counter", "Texts classified by the model (cache misses).",
         texts_);
  scalar(out, "refusal_tokens_total", "counter",
         "Tokens of the deciding model inputs of classified texts.", tokens_);
  scalar(out, "refusal_queue_depth", "gauge", "Texts waiting for the model now.", queue_depth_);
  scalar(out, "refusal_queue_depth_max", "gauge", "Most texts that waited at once.",
         queue_depth_max_);
  scalar(out, "refusal_queue_full_total", "counter",
         "Requests refused with 429 because the queue was full.", queue_full_);
  scalar(out, "refusal_cache_hits_total", "counter", "Texts answered from the result cache.",
         cache_hits_);
  scalar(out, "refusal_cache_misses_total", "counter", "Texts not in the result cache.",
         cache_misses_);
  header(out, "refusal_errors_total", "counter", "Requests that failed, by kind.");
  for (const auto& [kind, n] : errors_) {
    out += "refusal_errors_total{kind=\"" + kind + "\"} " + std::to_string(n) + "\n";
  }
  return out;
}

}  // namespace refusal::server
