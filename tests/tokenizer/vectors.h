// Helpers shared by the tokenizer tests: reference files, gzip JSONL, the vector hash.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "refusal/tokenizer.h"

namespace refusal::test {

// Tests run from the repository root; shared/ sits beside it.
inline const std::string kShared = "../shared";
inline const std::string kData = "tests/data/tokenizer";
inline const std::string kProtectAi =
    kShared + "/tokenizer/protectai-distilroberta-base-rejection-v1";
inline const std::string kRobertaBase = kShared + "/tokenizer/roberta-base";

// The reference tokenizer, loaded once for all tests of a binary.
inline const Tokenizer& reference_tokenizer() {
  static const Tokenizer t = Tokenizer::from_tokenizer_json(kProtectAi + "/tokenizer.json");
  return t;
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Lines of a file, gunzipped when it ends in .gz.
inline std::vector<std::string> read_lines(const std::string& path) {
  std::string data;
  if (path.size() > 3 && path.substr(path.size() - 3) == ".gz") {
    gzFile f = gzopen(path.c_str(), "rb");
    if (f == nullptr) throw std::runtime_error(path + ": cannot open");
    char buf[1 << 16];
    int n = 0;
    while ((n = gzread(f, buf, sizeof buf)) > 0) data.append(buf, static_cast<size_t>(n));
    gzclose(f);
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(path + ": cannot open");
    data.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t eol = data.find('\n', pos);
    if (eol == std::string::npos) eol = data.size();
    lines.emplace_back(data.substr(pos, eol - pos));
    pos = eol + 1;
  }
  return lines;
}

inline std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::json> out;
  for (const std::string& line : read_lines(path)) {
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

// FNV-1a 64 over values as little-endian uint32, as scripts/vectors/make_tokenizer_vectors.py
// writes.
class Fnv {
 public:
  void add(uint32_t v) {
    for (int i = 0; i < 4; ++i) {
      h_ ^= (v >> (8 * i)) & 0xFF;
      h_ *= 0x100000001B3ull;
    }
  }
  std::string hex() const {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h_));
    return buf;
  }

 private:
  uint64_t h_ = 0xCBF29CE484222325ull;
};

inline std::string fnv_ids(const std::vector<int32_t>& ids) {
  Fnv h;
  for (int32_t id : ids) h.add(static_cast<uint32_t>(id));
  return h.hex();
}

inline std::vector<std::vector<size_t>> offsets_json(const std::vector<Offsets>& o) {
  std::vector<std::vector<size_t>> out;
  for (const auto& [a, b] : o) out.push_back({a, b});
  return out;
}

}  // namespace refusal::test
