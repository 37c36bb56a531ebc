// The BPE model: merges a pre-tokenized word's bytes by merge rank, like HF's `Word::merge_all`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace refusal::tokenizer {

// One token of a word: its id and its byte range [start, end) inside the word.
struct BpePiece {
  int32_t id;
  uint32_t start;
  uint32_t end;
};

// (left id, right id) -> (rank, merged id), open addressing: the merge loop's hot lookup.
class PairMap {
 public:
  struct Value {
    uint32_t rank;
    int32_t new_id;
  };
  void reserve(size_t n);
  // Later duplicates win, as in HF's HashMap collect.
  void insert_or_assign(int32_t a, int32_t b, Value v);
  const Value* find(int32_t a, int32_t b) const {
    if (slots_.empty()) return nullptr;
    const uint64_t key = pack(a, b);
    for (size_t i = hash(key) & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.key == key) return &s.value;
      if (s.key == kEmpty) return nullptr;
    }
  }
  size_t size() const { return size_; }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  struct Slot {
    uint64_t key = kEmpty;
    Value value{};
  };
  static uint64_t pack(int32_t a, int32_t b) {
    return (uint64_t{static_cast<uint32_t>(a)} << 32) | static_cast<uint32_t>(b);
  }
  static size_t hash(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return static_cast<size_t>(k);
  }
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

// Thread-safe word -> pieces cache, sharded so that concurrent encodes rarely contend.
class WordCache {
 public:
  static constexpr size_t kMaxWordBytes = 96;
  bool lookup(std::string_view word, size_t hash, std::vector<BpePiece>& out) const;
  void insert(std::string_view word, size_t hash, const BpePiece* pieces, size_t n) const;
  size_t size() const;
  void clear() const;

 private:
  static constexpr size_t kShards = 64;
  static constexpr size_t kMaxEntriesPerShard = 4096;
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, std::vector<BpePiece>, Hash, std::equal_to<>> map;
  };
  mutable Shard shards_[kShards];
};

class Bpe {
 public:
  // vocab: byte-level token text -> id. merges in rank order. unk: id for bytes missing from the
  // vocabulary (none for GPT-2/RoBERTa, whose vocabulary holds all 256 byte characters).
  // `origin` names the source in errors.
  Bpe(const std::unordered_map<std::string, int32_t>& vocab,
      const std::vector<std::pair<std::string, std::string>>& merges, std::optional<int32_t> unk_id,
      const std::string& origin);

  // Appends the pieces of `word` (raw bytes) to out, through the word cache.
  void tokenize(std::string_view word, std::vector<BpePiece>& out) const;
  // The same without the cache; `force_heap` picks the O(n log n) path for any length.
  void tokenize_uncached(std::string_view word, std::vector<BpePiece>& out,
                         bool force_heap = false) const;

  const WordCache& cache() const { return cache_; }
  size_t num_merges() const { return merges_.size(); }

 private:
  struct Symbol {
    int32_t id;
    uint32_t start;
    uint32_t end;
  };
  void initial_symbols(std::string_view word, std::vector<Symbol>& syms) const;
  void merge_small(std::vector<Symbol>& syms) const;
  void merge_heap(std::vector<Symbol>& syms) const;

  int32_t byte_id_[256];
  std::optional<int32_t> unk_id_;
  PairMap merges_;
  WordCache cache_;
};

}  // namespace refusal::tokenizer
