// Helpers shared by the tokenizer tests: reference files, the vector hash.
#pragma once

#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "refusal/tokenizer.h"
#include "test_support.h"

namespace refusal::test {

// Tests run from the repository root; every file they read is under tests/data.
inline const std::string kData = "tests/data/tokenizer";
inline const std::string kProtectAi = kData + "/protectai-distilroberta-base-rejection-v1";
inline const std::string kRobertaBase = kData + "/roberta-base";
inline const std::string kHfVectors = kData + "/vectors";  // copied from HF tokenizers

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

using testing::read_jsonl;  // gunzipped when the file is gzip
using testing::read_lines;

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
