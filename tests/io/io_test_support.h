// Helpers shared by the batch-job tests: fake classifiers, gzip files, whole jobs.
#pragma once

#include <zlib.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "io/batch_job.h"

namespace refusal::io::testing {

using Json = nlohmann::ordered_json;

inline void write_gz(const std::filesystem::path& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  if (f == nullptr) throw std::runtime_error("cannot write " + path.string());
  if (!bytes.empty()) gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

// A classifier whose answer depends only on the text: its length and a made-up label.
inline std::vector<Json> length_classifier(std::span<const std::string_view> texts) {
  std::vector<Json> out;
  for (const auto text : texts) {
    Json r = Json::object();
    r["label"] = text.size() % 2 == 0 ? "refusal" : "normal";
    r["score"] = static_cast<double>(text.size()) / 7.0;
    r["scores"] = {{"normal", 0.25}, {"refusal", 0.75}};
    r["refusal"] = text.size() % 2 == 0;
    r["length"] = text.size();
    out.push_back(std::move(r));
  }
  return out;
}

// Like the real model in padded batches, its scores depend a little on the batch around a text
// (here on the batch size), so only identical batches give identical bytes.
inline std::vector<Json> batch_sensitive_classifier(std::span<const std::string_view> texts) {
  auto out = length_classifier(texts);
  for (auto& r : out)
    r["score"] = r["score"].get<double>() + 1e-9 * static_cast<double>(texts.size());
  return out;
}

inline const std::vector<std::string>& result_columns() {
  static const std::vector<std::string> columns = {"label", "score", "scores", "refusal", "length"};
  return columns;
}

// Runs a whole job from `input` to `output` and returns its counts.
inline JobCounts run_job(const std::string& input, const std::string& output, OutputFormat format,
                         bool resume, const JobOptions& options, const ClassifyFn& classify,
                         ReaderOptions reader_options = {}) {
  auto reader = open_row_reader(input, reader_options);
  auto writer = make_writer(format, result_columns());
  OutputFile out(output, format, resume);
  return run_batch_job(*reader, *writer, out, options, classify);
}

}  // namespace refusal::io::testing
