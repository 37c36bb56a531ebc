// `refusal bench`: the standard shapes and a realistic workload, for each dtype, optionally
// interleaved with the peers (transformers, ONNX Runtime) run by bench/peers/peers.py.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "base/data_files.h"
#include "bench/engine_bench.h"
#include "commands.h"
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
  bool peers = false;
  std::string python = ".venv-bench/bin/python";
  std::string peers_script = "bench/peers/peers.py";
  std::string peers_args;
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

// One round of the peers: runs the Python script and returns its JSON.
json run_peers_round(const BenchArgs& a, int threads, const std::string& model_folder) {
  char path[] = "/tmp/refusal-peers-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) throw Error("peers: cannot create a temporary file");
  close(fd);
  std::string shapes;
  for (auto s : a.shapes) shapes += (shapes.empty() ? "" : ",") + std::to_string(s);
  const std::string cmd = a.python + " " + a.peers_script + " --model " + model_folder +
                          " --threads " + std::to_string(threads) + " --rounds 1 --shapes " +
                          shapes + (a.workload.empty() ? "" : " --workload '" + a.workload + "'") +
                          " --json " + path + " " + a.peers_args + " 1>&2";
  if (std::system(cmd.c_str()) != 0) {
    std::remove(path);
    throw Error("peers: `" + cmd + "` failed (set up bench/peers, see docs/benchmarks.md)");
  }
  std::ifstream in(path);
  json j = json::parse(in);
  std::remove(path);
  return j;
}

// The value of one measurement in one peers round (each round ran every peer once), or
// nothing when that round did not measure it.
std::optional<double> peer_value(const json& round, const std::string& peer,
                                 const std::string& what, const std::string& shape) {
  const json* v = &round;
  for (const std::string& key : {std::string("peers"), peer, what}) {
    if (!v->is_object() || !v->contains(key)) return std::nullopt;
    v = &(*v)[key];
  }
  if (!shape.empty()) {
    if (!v->contains(shape)) return std::nullopt;
    v = &(*v)[shape];
  }
  if (!v->is_object() || !v->contains("median") || !(*v)["median"].is_number()) return std::nullopt;
  return (*v)["median"].get<double>();
}

struct Row {
  std::string name;
  std::vector<bench::Stat> latency;  // per shape, ms
  bench::Stat batch, workload;       // seq/s, texts/s
};

std::string cell(const bench::Stat& s, int digits) {
  if (s.rounds.empty()) return "–";
  char buf[96];
  std::snprintf(buf, sizeof buf, "%.*f [%.*f–%.*f]", digits, s.median, digits, s.min, digits,
                s.max);
  return buf;
}

std::string ratio(double num, double den) {
  if (!(num > 0) || !(den > 0)) return "–";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f×", num / den);
  return buf;
}

// Prints every engine's medians over the interleaved rounds and the ratios issue 5 asks for;
// returns them for the JSON report.
json report_with_peers(const BenchArgs& a, const std::vector<Row>& ours,
                       const std::vector<json>& peer_rounds) {
  const std::vector<std::pair<std::string, std::string>> peers = {
      {"transformers", "transformers (PyTorch fp32)"},
      {"ort-fp32", "ONNX Runtime fp32"},
      {"ort-int8", "ONNX Runtime int8"}};
  std::vector<Row> rows;
  for (const auto& [key, name] : peers) {
    Row r{name, {}, {}, {}};
    for (auto shape : a.shapes) {
      std::vector<double> v;
      for (const auto& round : peer_rounds) {
        if (auto x = peer_value(round, key, "latency_ms", std::to_string(shape))) v.push_back(*x);
      }
      r.latency.push_back(v.empty() ? bench::Stat{} : bench::summarize(v));
    }
    std::vector<double> batch, workload;
    for (const auto& round : peer_rounds) {
      if (auto x = peer_value(round, key, "batch32x64_seq_per_s", "")) batch.push_back(*x);
      if (auto x = peer_value(round, key, "workload_texts_per_s", "")) workload.push_back(*x);
    }
    if (!batch.empty()) r.batch = bench::summarize(batch);
    if (!workload.empty()) r.workload = bench::summarize(workload);
    rows.push_back(r);
  }
  for (const auto& r : ours) rows.push_back(r);

  std::printf("\nAll engines, median [min–max] over %zu interleaved rounds:\n\n| engine |",
              peer_rounds.size());
  for (auto s : a.shapes) std::printf(" %zu tok (ms) |", s);
  std::printf(" 32×64 (seq/s) | eval (texts/s) |\n|---|");
  for (std::size_t i = 0; i < a.shapes.size() + 2; ++i) std::printf("---|");
  std::printf("\n");
  json table = json::array();
  for (const auto& r : rows) {
    std::printf("| %s |", r.name.c_str());
    json lat = json::object();
    for (std::size_t i = 0; i < r.latency.size(); ++i) {
      std::printf(" %s |", cell(r.latency[i], 2).c_str());
      if (!r.latency[i].rounds.empty()) lat[std::to_string(a.shapes[i])] = stat_json(r.latency[i]);
    }
    std::printf(" %s | %s |\n", cell(r.batch, 1).c_str(), cell(r.workload, 1).c_str());
    table.push_back(
        {{"engine", r.name},
         {"latency_ms", lat},
         {"batch32x64_seq_per_s", r.batch.rounds.empty() ? json() : stat_json(r.batch)},
         {"workload_texts_per_s", r.workload.rounds.empty() ? json() : stat_json(r.workload)}});
  }

  // Ratios of medians. Latency: ours / theirs (below 1 is faster); throughput: ours / theirs.
  auto find = [&](const std::string& prefix) -> const Row* {
    for (const auto& r : rows) {
      if (r.name.rfind(prefix, 0) == 0) return &r;
    }
    return nullptr;
  };
  const Row* t = find("transformers");
  const Row* ort32 = find("ONNX Runtime fp32");
  const Row* ort8 = find("ONNX Runtime int8");
  json ratios = json::array();
  std::printf(
      "\nRatios of medians (latency: ours / theirs, lower is faster; throughput: ours / "
      "theirs, higher is faster):\n\n| ours vs | ");
  for (auto s : a.shapes) std::printf("%zu tok | ", s);
  std::printf("32×64 | eval |\n|---|");
  for (std::size_t i = 0; i < a.shapes.size() + 2; ++i) std::printf("---|");
  std::printf("\n");
  auto line = [&](const Row* us, const Row* them, const std::string& label) {
    if (us == nullptr || them == nullptr) return;
    std::printf("| %s |", label.c_str());
    json lat = json::object();
    for (std::size_t i = 0; i < a.shapes.size(); ++i) {
      const double u = us->latency[i].median, v = them->latency[i].median;
      std::printf(" %s |", ratio(u, v).c_str());
      if (u > 0 && v > 0) lat[std::to_string(a.shapes[i])] = u / v;
    }
    std::printf(" %s | %s |\n", ratio(us->batch.median, them->batch.median).c_str(),
                ratio(us->workload.median, them->workload.median).c_str());
    ratios.push_back({{"ours_vs", label},
                      {"latency", lat},
                      {"batch32x64", us->batch.median > 0 && them->batch.median > 0
                                         ? json(us->batch.median / them->batch.median)
                                         : json()},
                      {"workload", us->workload.median > 0 && them->workload.median > 0
                                       ? json(us->workload.median / them->workload.median)
                                       : json()}});
  };
  const Row* f32 = find("refusal fp32");
  const Row* b16 = find("refusal bf16");
  const Row* i8 = find("refusal int8");
  line(f32, ort32, "refusal fp32 vs ONNX Runtime fp32");
  line(f32, t, "refusal fp32 vs transformers");
  line(i8, ort8, "refusal int8 vs ONNX Runtime int8");
  // ONNX Runtime's int8 runs fast or slow for a whole process (issue 5): compare with its
  // fast mode too, its best round on every measure.
  if (ort8 != nullptr) {
    Row fast = *ort8;
    for (auto& l : fast.latency) l.median = l.min;
    fast.batch.median = fast.batch.max;
    fast.workload.median = fast.workload.max;
    line(i8, &fast, "refusal int8 vs ONNX Runtime int8, its best round");
  }
  line(b16, f32, "refusal bf16 vs refusal fp32");
  return {{"table", table}, {"ratios", ratios}};
}

int run_bench(const BenchArgs& a) {
  if (a.model.empty()) {
    throw Error("bench: --model is required (e.g. the model made by scripts/make_bench_model.py)");
  }
  const auto texts = a.workload.empty() ? std::vector<std::string>{} : read_texts(a.workload);
  std::vector<DType> dtypes;
  for (const auto& d : a.dtypes) dtypes.push_back(parse_dtype(d));

  std::map<std::string, std::vector<bench::BenchResult>> ours;
  std::vector<json> peer_rounds;
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
    if (a.peers) {
      std::fprintf(stderr, "round %d/%d: peers\n", round + 1, a.rounds);
      peer_rounds.push_back(
          run_peers_round(a, threads, classifiers.front()->engine().files().folder.string()));
    }
  }

  json out = {{"refusal_version", version()}, {"model", a.model},
              {"threads", threads},           {"rounds", a.rounds},
              {"workload", a.workload},       {"workload_texts", texts.size()}};
  std::vector<Row> our_rows;
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
    Row row{"refusal " + merged.dtype, {}, merged.batch_seq_per_s, merged.workload_texts_per_s};
    for (const auto& s : merged.latency) row.latency.push_back(s.ms);
    our_rows.push_back(row);
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
  if (a.peers) {
    out["peer_rounds"] = peer_rounds;
    out["summary"] = report_with_peers(a, our_rows, peer_rounds);
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
      "workload (tokenization included), per dtype, median and spread over rounds; with\n"
      "--peers, transformers and ONNX Runtime interleaved round by round (docs/benchmarks.md).");
  cmd->add_option("-m,--model", a->model, "Model folder (e.g. from scripts/make_bench_model.py)")
      ->required();
  cmd->add_option("--dtype", a->dtypes, "Precisions to measure (fp32 bf16 int8)")
      ->check(CLI::IsMember({"fp32", "bf16", "int8"}))
      ->capture_default_str();
  cmd->add_option("--threads", a->threads, "Threads (default: the CPUs this process may use)");
  cmd->add_option("--rounds", a->rounds, "Rounds")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  cmd->add_option("--seconds", a->seconds, "Seconds per shape per round")->capture_default_str();
  cmd->add_option("--shapes", a->shapes, "Batch-1 token counts")->capture_default_str();
  auto* workload = cmd->add_option(
      "--workload", a->workload,
      "JSONL(.gz) with a text field ('' to skip; default: the installed eval set,\n"
      "eval/chatgpt-refusals.jsonl.gz under share/refusal or the source tree's data/)");
  cmd->add_flag("--peers", a->peers, "Also run bench/peers/peers.py each round");
  cmd->add_option("--python", a->python, "Python with the peers installed")->capture_default_str();
  cmd->add_option("--peers-args", a->peers_args,
                  "Extra options for bench/peers/peers.py (e.g. '--wait-quiet 300')");
  cmd->add_option("--json", a->json_out, "Write every number to this JSON file");
  return [a, workload] {
    if (workload->count() == 0) a->workload = default_workload();
    return run_bench(*a);
  };
}

}  // namespace refusal::app
