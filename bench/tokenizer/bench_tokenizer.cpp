// Single-thread tokenizer throughput (compare with bench_hf.py, same texts, same protocol). Usage:
//   bench_tokenizer [--tokenizer tokenizer.json] [--passes N] [--max-length N] [files.jsonl.gz...]
// Defaults (run from the repository root): the tests' reference tokenizer and the eval set
// data/eval/chatgpt-refusals.jsonl.gz; docs/tokenizer.md's numbers are over all of the shared
// data (../shared/data/*/*.jsonl.gz, given as files).
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "refusal/tokenizer.h"

namespace {

std::vector<std::string> read_texts(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) throw std::runtime_error(path + ": cannot open");
  std::string data;
  char buf[1 << 16];
  int n = 0;
  while ((n = gzread(f, buf, sizeof buf)) > 0) data.append(buf, static_cast<size_t>(n));
  gzclose(f);
  std::vector<std::string> texts;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t eol = data.find('\n', pos);
    if (eol == std::string::npos) eol = data.size();
    if (eol > pos) texts.push_back(nlohmann::json::parse(data.substr(pos, eol - pos))["text"]);
    pos = eol + 1;
  }
  return texts;
}

}  // namespace

int main(int argc, char** argv) {
  std::string tokenizer_json =
      "tests/data/tokenizer/protectai-distilroberta-base-rejection-v1/tokenizer.json";
  int passes = 5;
  size_t max_length = refusal::kNoTruncation;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--tokenizer" && i + 1 < argc) {
      tokenizer_json = argv[++i];
    } else if (a == "--passes" && i + 1 < argc) {
      passes = std::max(2, std::atoi(argv[++i]));
    } else if (a == "--max-length" && i + 1 < argc) {
      max_length = std::strtoull(argv[++i], nullptr, 10);
    } else {
      files.push_back(a);
    }
  }
  if (files.empty()) files.push_back("data/eval/chatgpt-refusals.jsonl.gz");
  std::vector<std::string> texts;
  size_t bytes = 0;
  for (const auto& f : files) {
    for (auto& t : read_texts(f)) {
      bytes += t.size();
      texts.push_back(std::move(t));
    }
  }
  const refusal::Tokenizer tok = refusal::Tokenizer::from_tokenizer_json(tokenizer_json);
  const refusal::EncodeOptions opts{.max_length = max_length};
  std::vector<double> seconds;
  size_t tokens = 0;
  for (int p = 0; p < passes; ++p) {
    if (p == 0) tok.clear_cache();
    tokens = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (const auto& t : texts) tokens += tok.encode(t, opts).ids.size();
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  // Pass 0 starts with an empty word cache; the others are warm, like a long-running service.
  std::vector<double> warm(seconds.begin() + 1, seconds.end());
  std::sort(warm.begin(), warm.end());
  const double median = warm[warm.size() / 2];
  std::printf(
      "{\"impl\": \"refusal C++\", \"texts\": %zu, \"bytes\": %zu, \"tokens\": %zu, "
      "\"max_length\": %lld, \"cold_s\": %.3f, \"warm_median_s\": %.3f, "
      "\"texts_per_s\": %.0f, \"tokens_per_s\": %.0f, \"cold_texts_per_s\": %.0f}\n",
      texts.size(), bytes, tokens,
      max_length == refusal::kNoTruncation ? -1LL : static_cast<long long>(max_length), seconds[0],
      median, static_cast<double>(texts.size()) / median, static_cast<double>(tokens) / median,
      static_cast<double>(texts.size()) / seconds[0]);
  return 0;
}
