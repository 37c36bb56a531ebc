// `refusal bench`: the standard shapes and a realistic workload, for each dtype. The comparison
// with the peers (transformers, ONNX Runtime) is bench/peers/peers.py, which runs this command.
#include <sys/resource.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/data_files.h"
#include "commands.h"
#include "engine_bench.h"
#include "refusal/error.h"
#include "refusal/version.h"

namespace refusal::app {
namespace {

using nlohmann::json;

struct BenchArgs {
  std::string model;
  std::vector<std::string> dtypes = {"fp32"};
  int threads = 0;
  int rounds = 5;
  double seconds = 0.5;
  std::vector<std::size_t> shapes = {16, 64, 128, 512};
  std::string workload;  // set by --workload, else the installed eval set (default_workload)
  std::string json_out;
};

// The default workload: the eval set installed with refusal (data/eval in the source tree).
std::string default_workload() {
  constexpr const char* kRelative = "eval/chatgpt-refusals.jsonl.gz";
  if (auto found = base::find_data_file(kRelative)) return found->string();
  throw Error(std::string("bench: the default workload ") + kRelative +
              " is not installed; looked in: " + base::data_search_path_text() +
              ". Pass --workload FILE, or --workload '' to skip it");
}

std::vector<std::string> read_texts(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) throw Error(path + ": cannot open the workload file");
  std::string data;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) data.append(buf, static_cast<std::size_t>(n));
  gzclose(f);
  std::vector<std::string> texts;
  std::istringstream lines(data);
  std::string line;
  std::size_t number = 0;
  while (std::getline(lines, line)) {
    ++number;
    if (line.empty()) continue;
    try {
      texts.push_back(json::parse(line).at("text").get<std::string>());
    } catch (const std::exception& e) {
      throw Error(path + ": line " + std::to_string(number) + ": " + e.what());
    }
  }
  return texts;
}

json stat_json(const bench::Stat& s) {
  return {{"median", s.median}, {"min", s.min}, {"max", s.max}, {"rounds", s.rounds}};
}

// Peak RSS of `refusal classify` on one text of about `tokens` tokens with `dtype`, in a fresh
// process. The child reports its own VmHWM (REFUSAL_REPORT_PEAK_RSS, see main.cpp): rusage of a
// forked child would count this process's pages too.
long peak_rss_kb(const std::string& model, DType dtype, int threads, std::size_t tokens) {
  std::string text;
  for (std::size_t i = 0; i + 2 < tokens; ++i) text += " word";
  char report[] = "/tmp/refusal-rss-XXXXXX";
  const int fd = mkstemp(report);
  if (fd < 0) return -1;
  close(fd);
  const std::string cmd = "REFUSAL_REPORT_PEAK_RSS=" + std::string(report) + " /proc/" +
                          std::to_string(getpid()) + "/exe classify --model '" + model +
                          "' --dtype " + dtype_name(dtype) + " --threads " +
                          std::to_string(threads) + " --max-length 512 '" + text + "' > /dev/null";
  long kb = -1;
  if (std::system(cmd.c_str()) == 0) {
    std::ifstream in(report);
    in >> kb;
  }
  std::remove(report);
  return kb;
}

int run_bench(const BenchArgs& a) {
  if (a.model.empty()) {
    throw Error("bench: --model is required (e.g. the model made by scripts/make_bench_model.py)");
  }
  const auto texts = a.workload.empty() ? std::vector<std::string>{} : read_texts(a.workload);
  std::vector<DType> dtypes;
  for (const auto& d : a.dtypes) dtypes.push_back(parse_dtype(d));

  std::map<std::string, std::vector<bench::BenchResult>> ours;
  std::vector<std::unique_ptr<Classifier>> classifiers;
  for (DType d : dtypes) {
    classifiers.push_back(std::make_unique<Classifier>(
        Classifier::load(a.model, {.threads = a.threads, .dtype = d}, {.max_length = 512})));
  }
  const int threads = classifiers.front()->engine().threads();
  bench::BenchOptions options;
  options.shapes = a.shapes;
  options.rounds = 1;
  options.seconds_per_round = a.seconds;
  options.workload = texts;
  for (int round = 0; round < a.rounds; ++round) {
    for (std::size_t i = 0; i < dtypes.size(); ++i) {
      std::fprintf(stderr, "round %d/%d: refusal %s\n", round + 1, a.rounds, dtype_name(dtypes[i]));
      ours[dtype_name(dtypes[i])].push_back(bench::run_engine_bench(*classifiers[i], options));
    }
  }

  json out = {{"refusal_version", version()}, {"model", a.model},
              {"threads", threads},           {"rounds", a.rounds},
              {"workload", a.workload},       {"workload_texts", texts.size()}};
  std::printf("| engine | threads |");
  for (auto s : a.shapes) std::printf(" %zu tok (ms) |", s);
  std::printf(" 32×64 (seq/s) | eval (texts/s) | peak RSS |\n|---|---|");
  for (std::size_t i = 0; i < a.shapes.size() + 3; ++i) std::printf("---|");
  std::printf("\n");
  for (std::size_t i = 0; i < dtypes.size(); ++i) {
    const auto& runs = ours[dtype_name(dtypes[i])];
    // Merge the rounds.
    bench::BenchResult merged = runs.front();
    for (std::size_t s = 0; s < merged.latency.size(); ++s) {
      std::vector<double> ms;
      for (const auto& r : runs) ms.push_back(r.latency[s].ms.median);
      merged.latency[s].ms = bench::summarize(ms);
      merged.latency[s].gflops =
          bench::forward_flops(classifiers[i]->engine().config(), merged.latency[s].tokens) /
          (merged.latency[s].ms.median * 1e-3) / 1e9;
    }
    std::vector<double> batch, workload;
    for (const auto& r : runs) {
      batch.push_back(r.batch_seq_per_s.median);
      if (!r.workload_texts_per_s.rounds.empty()) workload.push_back(r.workload_texts_per_s.median);
    }
    merged.batch_seq_per_s = bench::summarize(batch);
    merged.workload_texts_per_s = bench::summarize(workload);
    merged.peak_rss_kb = peak_rss_kb(a.model, dtypes[i], a.threads, a.shapes.back());
    json shapes = json::array();
    std::printf("| refusal %s (%s) | %d |", merged.dtype.c_str(), merged.isa.c_str(), threads);
    for (const auto& s : merged.latency) {
      shapes.push_back({{"tokens", s.tokens}, {"ms", stat_json(s.ms)}, {"gflops", s.gflops}});
      std::printf(" %.2f (%.2f–%.2f; %.0f GFLOP/s) |", s.ms.median, s.ms.min, s.ms.max, s.gflops);
    }
    std::printf(" %.1f | %.1f | %.0f MB |\n", merged.batch_seq_per_s.median,
                merged.workload_texts_per_s.median, static_cast<double>(merged.peak_rss_kb) / 1024);
    out["refusal"][merged.dtype] = {
        {"isa", merged.isa},
        {"latency", shapes},
        {"batch_seq_per_s", stat_json(merged.batch_seq_per_s)},
        {"workload_texts_per_s", stat_json(merged.workload_texts_per_s)},
        {"workload_tokens", merged.workload_tokens},
        {"peak_rss_kb", merged.peak_rss_kb}};
  }
  if (!a.json_out.empty()) {
    std::ofstream f(a.json_out);
    f << out.dump(2) << "\n";
    if (!f) throw Error(a.json_out + ": cannot write");
  }
  return 0;
}

}  // namespace

Command add_bench_command(CLI::App& app) {
  auto a = std::make_shared<BenchArgs>();
  auto* cmd = app.add_subcommand(
      "bench",
      "Measure speed: batch-1 latency at the standard shapes, 32×64 throughput and the eval\n"
      "workload (tokenization included), per dtype, median and spread over rounds. The\n"
      "comparison with transformers and ONNX Runtime is bench/peers/peers.py --refusal, which\n"
      "runs this command round by round (docs/benchmarks.md).");
  cmd->add_option("-m,--model", a->model, "Model folder (e.g. from scripts/make_bench_model.py)")
      ->required();
  cmd->add_option("--dtype", a->dtypes, "Precisions to measure (fp32 bf16 int8)")
      ->check(CLI::IsMember({"fp32", "bf16", "int8"}))
      ->capture_default_str();
  cmd->add_option(
      "--threads", a->threads,
      "Threads (default: $REFUSAL_NUM_THREADS, else $OMP_NUM_THREADS, else the CPUs this "
      "process may use)");
  cmd->add_option("--rounds", a->rounds, "Rounds")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  cmd->add_option("--seconds", a->seconds, "Seconds per shape per round")->capture_default_str();
  cmd->add_option("--shapes", a->shapes, "Batch-1 token counts")->capture_default_str();
  auto* workload = cmd->add_option(
      "--workload", a->workload,
      "JSONL(.gz) with a text field ('' to skip; default: the installed eval set,\n"
      "eval/chatgpt-refusals.jsonl.gz under share/refusal or the source tree's data/)");
  cmd->add_option("--json", a->json_out, "Write every number to this JSON file");
  return [a, workload] {
    if (workload->count() == 0) a->workload = default_workload();
    return run_bench(*a);
  };
}

}  // namespace refusal::app
