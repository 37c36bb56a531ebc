#include "engine_bench.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <random>

namespace refusal::bench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// <s> + random ids + </s>, the same for every run (fixed seed).
std::vector<std::int32_t> synthetic_ids(const ModelConfig& config, std::size_t tokens,
                                        std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::int32_t> id(3, config.vocab_size - 2);
  std::vector<std::int32_t> ids(tokens);
  for (auto& v : ids) v = id(rng);
  ids.front() = 0;
  if (tokens > 1) ids.back() = 2;
  return ids;
}

// Calls per second of `fn`, repeated for at least `seconds` (and at least twice).
template <typename Fn>
double calls_per_second(Fn&& fn, double seconds) {
  const auto start = Clock::now();
  std::size_t calls = 0;
  do {
    fn();
    ++calls;
  } while (calls < 2 || seconds_since(start) < seconds);
  return static_cast<double>(calls) / seconds_since(start);
}

}  // namespace

Stat summarize(std::vector<double> rounds) {
  Stat s;
  s.rounds = rounds;
  if (rounds.empty()) return s;
  std::sort(rounds.begin(), rounds.end());
  const std::size_t n = rounds.size();
  s.median = n % 2 ? rounds[n / 2] : 0.5 * (rounds[n / 2 - 1] + rounds[n / 2]);
  s.min = rounds.front();
  s.max = rounds.back();
  return s;
}

double forward_flops(const ModelConfig& c, std::size_t tokens) {
  const double t = static_cast<double>(tokens);
  const double h = c.hidden_size, f = c.intermediate_size;
  const double per_layer = 2.0 * t * (4.0 * h * h + 2.0 * h * f)  // Q, K, V, O; FFN in and out
                           + 2.0 * 2.0 * t * t * h;               // scores and weighted values
  return per_layer * c.num_hidden_layers + 2.0 * (h * h + h * c.num_labels());
}

BenchResult run_engine_bench(const Classifier& classifier, const BenchOptions& o) {
  const Engine& engine = classifier.engine();
  const ModelConfig& config = engine.config();
  BenchResult r;
  r.dtype = dtype_name(engine.dtype());
  r.isa = engine.isa();
  r.threads = engine.threads();

  std::vector<std::vector<std::vector<std::int32_t>>> shape_inputs;
  for (std::size_t tokens : o.shapes) {
    shape_inputs.push_back({synthetic_ids(config, tokens, static_cast<std::uint32_t>(tokens))});
  }
  std::vector<std::vector<std::int32_t>> batch;
  for (std::size_t i = 0; i < o.batch; ++i) {
    batch.push_back(synthetic_ids(config, o.batch_tokens, static_cast<std::uint32_t>(1000 + i)));
  }
  std::vector<std::string_view> texts(o.workload.begin(), o.workload.end());
  for (const auto& text : texts) {
    EncodeOptions encode;
    encode.max_length = o.max_length;
    encode.with_tokens = false;
    r.workload_tokens += classifier.tokenizer().encode(text, encode).size();
  }
  r.workload_texts = texts.size();

  // Warm-up: first-touch of the weights and scratch.
  for (const auto& in : shape_inputs) engine.classify(in);
  engine.classify(batch);

  std::vector<std::vector<double>> shape_ms(o.shapes.size());
  std::vector<double> batch_rate, workload_rate;
  for (int round = 0; round < o.rounds; ++round) {
    for (std::size_t s = 0; s < o.shapes.size(); ++s) {
      const double rate =
          calls_per_second([&] { engine.classify(shape_inputs[s]); }, o.seconds_per_round);
      shape_ms[s].push_back(1000.0 / rate);
    }
    batch_rate.push_back(calls_per_second([&] { engine.classify(batch); }, o.seconds_per_round) *
                         static_cast<double>(o.batch));
    if (!texts.empty()) {
      // As `refusal classify` runs a file: tokenize, group by length, classify.
      const auto start = Clock::now();
      classifier.classify(texts);
      workload_rate.push_back(static_cast<double>(texts.size()) / seconds_since(start));
    }
  }
  for (std::size_t s = 0; s < o.shapes.size(); ++s) {
    ShapeResult sr;
    sr.tokens = o.shapes[s];
    sr.ms = summarize(shape_ms[s]);
    sr.gflops = forward_flops(config, sr.tokens) / (sr.ms.median * 1e-3) / 1e9;
    r.latency.push_back(sr);
  }
  r.batch_seq_per_s = summarize(batch_rate);
  r.workload_texts_per_s = summarize(workload_rate);
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  r.peak_rss_kb = usage.ru_maxrss;
  return r;
}

}  // namespace refusal::bench
