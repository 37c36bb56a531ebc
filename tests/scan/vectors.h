// Reading the gzip reference vectors under tests/data/scan (made by
// scripts/vectors/make_scan_vectors.py).
#pragma once

#include <zlib.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "refusal/scanner_rules.h"

namespace refusal::testing {

inline std::filesystem::path scan_data_dir() { return "tests/data/scan"; }
inline std::filesystem::path punkt_dir() { return "data/punkt_tab/english"; }

inline std::string read_gzip(const std::filesystem::path& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw std::runtime_error("cannot open " + path.string());
  std::string out;
  char buf[1 << 16];
  int n = 0;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  gzclose(f);
  if (n < 0) throw std::runtime_error("cannot read " + path.string());
  return out;
}

inline std::vector<nlohmann::json> read_jsonl_gz(const std::filesystem::path& path) {
  const std::string data = read_gzip(path);
  std::vector<nlohmann::json> rows;
  std::size_t start = 0;
  while (start < data.size()) {
    auto nl = data.find('\n', start);
    if (nl == std::string::npos) nl = data.size();
    if (nl > start) rows.push_back(nlohmann::json::parse(data.substr(start, nl - start)));
    start = nl + 1;
  }
  return rows;
}

inline nlohmann::json read_json_gz(const std::filesystem::path& path) {
  return nlohmann::json::parse(read_gzip(path));
}

// A float written by the script: a number, or repr() text for inf/nan.
inline double json_double(const nlohmann::json& j) {
  if (j.is_number()) return j.get<double>();
  const std::string s = j.get<std::string>();
  if (s == "inf") return HUGE_VAL;
  if (s == "-inf") return -HUGE_VAL;
  return std::nan("");
}

}  // namespace refusal::testing
