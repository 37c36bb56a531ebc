#include "server/metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
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

// TEI's buckets (router/src/prometheus.rs): durations 1e-5 * 1.5^k for k = 1..35 (15 us to
// 14.6 s), sizes and tokens powers of two.
std::vector<double> tei_duration_bounds() {
  std::vector<double> b;
  double v = 0.00001;
  for (int i = 0; i < 35; ++i) b.push_back(v *= 1.5);
  return b;
}

std::vector<double> powers_of_two(int count, double max = 1e300) {
  std::vector<double> b;
  for (int i = 0; i < count && static_cast<double>(1ull << i) <= max; ++i) {
    b.push_back(static_cast<double>(1ull << i));
  }
  return b;
}

}  // namespace

const char* tei_failure_kind(int status) {
  if (status < 400) return "";
  if (status == 429) return "overloaded";
  if (status == 408) return "dropped";
  if (status >= 500 || status == 424) return "inference";
  return "validation";
}

std::string escape_label_value(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

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

Metrics::Metrics(std::size_t max_input_length)
    : batch_size_({1, 2, 4, 8, 16, 32, 64, 128, 256, 512}),
      batch_seconds_(kLatencyBounds),
      te_duration_(tei_duration_bounds()),
      te_input_length_(powers_of_two(20, static_cast<double>(max_input_length))),
      te_batch_size_(powers_of_two(13)),
      te_batch_tokens_(powers_of_two(21)) {}

void Metrics::api_request(bool batch, int status, double seconds) {
  const std::string method = batch ? "batch" : "single";
  std::lock_guard lock(mu_);
  ++te_count_[method];
  if (const std::string kind = tei_failure_kind(status); !kind.empty()) {
    ++te_failure_[kind];
    return;
  }
  ++te_success_[method];
  te_duration_.observe(seconds);
}

void Metrics::input_length(std::size_t tokens) {
  std::lock_guard lock(mu_);
  te_input_length_.observe(static_cast<double>(tokens));
}

void Metrics::request(const std::string& route, int status, double seconds) {
  std::lock_guard lock(mu_);
  ++requests_[{route, status}];
  auto it = latency_.find(route);
  if (it == latency_.end()) it = latency_.emplace(route, Histogram(kLatencyBounds)).first;
  it->second.observe(seconds);
}

void Metrics::batch(std::size_t texts, std::size_t tokens, double seconds) {
  std::lock_guard lock(mu_);
  ++batches_;
  batch_size_.observe(static_cast<double>(texts));
  batch_seconds_.observe(seconds);
  te_batch_size_.observe(static_cast<double>(texts));
  te_batch_tokens_.observe(static_cast<double>(tokens));
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

// A metric with one labelled value per key.
void labelled(std::string& out, const char* name, const char* type, const char* help,
              const char* label, const std::map<std::string, std::uint64_t>& values) {
  header(out, name, type, help);
  for (const auto& [key, n] : values) {
    out += std::string(name) + "{" + label + "=\"" + key + "\"} " + std::to_string(n) + "\n";
  }
}

void gauge(std::string& out, const char* name, const char* help, double value) {
  header(out, name, "gauge", help);
  out += std::string(name) + " " + num(value) + "\n";
}

// process_* as the Prometheus client libraries export them (Linux /proc).
void render_process(std::string& out) {
  rusage usage{};
  if (::getrusage(RUSAGE_SELF, &usage) == 0) {
    const double cpu = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                       static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
    header(out, "process_cpu_seconds_total", "counter",
           "Total user and system CPU time spent in seconds.");
    out += "process_cpu_seconds_total " + num(cpu) + "\n";
  }
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  double virtual_pages = 0, resident_pages = 0;
  if (std::ifstream statm("/proc/self/statm"); statm >> virtual_pages >> resident_pages) {
    gauge(out, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
          virtual_pages * page);
    gauge(out, "process_resident_memory_bytes", "Resident memory size in bytes.",
          resident_pages * page);
  }
  std::error_code ec;
  std::size_t fds = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    ++fds;
  }
  if (!ec) {
    gauge(out, "process_open_fds", "Number of open file descriptors.", static_cast<double>(fds));
  }
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    gauge(out, "process_max_fds", "Maximum number of open file descriptors.",
          static_cast<double>(limit.rlim_cur));
  }
  // Start: boot time (/proc/stat btime) + the process's start in clock ticks after boot
  // (field 22 of /proc/self/stat, counted after the parenthesised command name).
  double boot = -1;
  std::ifstream stat("/proc/stat");
  for (std::string key; stat >> key;) {
    if (key == "btime") {
      stat >> boot;
      break;
    }
  }
  std::ifstream self("/proc/self/stat");
  const std::string line((std::istreambuf_iterator<char>(self)), std::istreambuf_iterator<char>());
  const auto paren = line.rfind(')');
  if (boot >= 0 && paren != std::string::npos) {
    std::istringstream fields(line.substr(paren + 1));
    std::string field;
    for (int i = 3; i <= 22 && fields >> field; ++i) {
      if (i == 22) {
        const double ticks = std::stod(field);
        gauge(out, "process_start_time_seconds",
              "Start time of the process since unix epoch in seconds.",
              boot + ticks / static_cast<double>(::sysconf(_SC_CLK_TCK)));
      }
    }
  }
}

}  // namespace

std::string Metrics::render(const std::string& version, const std::string& model,
                            const std::string& dtype, const std::string& isa) const {
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
  // TEI's names (router/src/http/server.rs, router/src/lib.rs, core/src/queue.rs,
  // core/src/tokenization.rs): counters without _total, as TEI's exporter writes them.
  labelled(out, "te_request_count", "counter",
           "Classification requests whose body was read (TEI), by method: single or batch.",
           "method", te_count_);
  labelled(out, "te_request_success", "counter", "Classification requests answered 200 (TEI).",
           "method", te_success_);
  labelled(out, "te_request_failure", "counter",
           "Classification requests that failed (TEI), by err: validation, overloaded, "
           "dropped (timed out), inference.",
           "err", te_failure_);
  header(out, "te_request_duration", "histogram",
         "Seconds from a successful classification request's first byte to its answer (TEI).");
  te_duration_.render("te_request_duration", "", out);
  header(out, "te_request_input_length", "histogram", "Tokens per model input (TEI).");
  te_input_length_.render("te_request_input_length", "", out);
  scalar(out, "te_queue_size", "gauge", "Inputs waiting for the model now (TEI).", queue_depth_);
  header(out, "te_batch_next_size", "histogram", "Inputs per batch sent to the model (TEI).");
  te_batch_size_.render("te_batch_next_size", "", out);
  header(out, "te_batch_next_tokens", "histogram", "Tokens per batch sent to the model (TEI).");
  te_batch_tokens_.render("te_batch_next_tokens", "", out);
  header(out, "refusal_build_info", "gauge",
         "Always 1: the version, the model as given, the dtype and the kernels' instruction set.");
  out += "refusal_build_info{version=\"" + escape_label_value(version) + "\",model=\"" +
         escape_label_value(model) + "\",dtype=\"" + escape_label_value(dtype) + "\",isa=\"" +
         escape_label_value(isa) + "\"} 1\n";
  render_process(out);
  return out;
}

}  // namespace refusal::server
