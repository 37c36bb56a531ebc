// Reading the gzip reference vectors under tests/data/scan (made by
// scripts/vectors/make_scan_vectors.py); JSONL files through testing::read_jsonl (test_support.h).
#pragma once

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "refusal/scanner_rules.h"
#include "test_support.h"

namespace refusal::testing {

inline std::filesystem::path scan_data_dir() { return "tests/data/scan"; }
inline std::filesystem::path punkt_dir() { return "data/punkt_tab/english"; }

inline nlohmann::json read_json_gz(const std::filesystem::path& path) {
  return nlohmann::json::parse(read_decompressed(path));
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
