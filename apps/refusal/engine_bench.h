// `refusal bench`'s measurements of the engine: batch-1 latency per shape, fixed-shape batch
// throughput, and a realistic workload (texts → verdicts, tokenization included). Part of the
// `refusal` command, not of the library.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "refusal/classifier.h"

namespace refusal::bench {

// Median and spread of one measurement over rounds.
struct Stat {
  double median = 0.0;
  double min = 0.0;
  double max = 0.0;
  std::vector<double> rounds;
};

Stat summarize(std::vector<double> rounds);

struct BenchOptions {
  std::vector<std::size_t> shapes = {16, 64, 128, 512};  // tokens, specials included, batch 1
  std::size_t batch = 32;                                // the fixed-shape batch: batch × tokens
  std::size_t batch_tokens = 64;
  int rounds = 5;
  double seconds_per_round = 0.5;     // each shape repeats until this much time has passed
  std::vector<std::string> workload;  // texts; empty: no workload measurement
  std::size_t max_length = 512;
};

struct ShapeResult {
  std::size_t tokens = 0;
  Stat ms;            // milliseconds per call
  double gflops = 0;  // achieved, at the median
};

struct BenchResult {
  std::string dtype;
  std::string isa;
  int threads = 0;
  std::vector<ShapeResult> latency;
  Stat batch_seq_per_s;  // batch × batch_tokens
  Stat workload_texts_per_s;
  std::size_t workload_texts = 0;
  std::size_t workload_tokens = 0;
  long peak_rss_kb = 0;
};

// Floating-point operations of one forward pass over a sequence of `tokens` (multiply-adds
// counted as 2): the projections, attention, the FFN and the head.
double forward_flops(const ModelConfig& config, std::size_t tokens);

// Runs every measurement of `options` on `classifier`, `options.rounds` rounds; each round
// measures every shape, then the batch, then the workload.
BenchResult run_engine_bench(const Classifier& classifier, const BenchOptions& options);

}  // namespace refusal::bench
