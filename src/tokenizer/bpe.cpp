#include "tokenizer/bpe.h"

#include <algorithm>
#include <limits>

#include "refusal/error.h"
#include "tokenizer/byte_level.h"

namespace refusal::tokenizer {
namespace {

constexpr uint32_t kNoRank = std::numeric_limits<uint32_t>::max();
// Up to this many symbols the quadratic scan beats the heap.
constexpr size_t kSmallWord = 48;

}  // namespace

void PairMap::reserve(size_t n) {
  size_t cap = 16;
  while (cap < n * 2) cap <<= 1;
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(cap, Slot{});
  mask_ = cap - 1;
  size_ = 0;
  for (const Slot& s : old) {
    if (s.key != kEmpty) {
      insert_or_assign(static_cast<int32_t>(s.key >> 32), static_cast<int32_t>(s.key & 0xFFFFFFFF),
                       s.value);
    }
  }
}

void PairMap::insert_or_assign(int32_t a, int32_t b, Value v) {
  if ((size_ + 1) * 2 > slots_.size()) reserve(size_ + 1);
  const uint64_t key = pack(a, b);
  for (size_t i = hash(key) & mask_;; i = (i + 1) & mask_) {
    Slot& s = slots_[i];
    if (s.key == key) {
      s.value = v;
      return;
    }
    if (s.key == kEmpty) {
      s.key = key;
      s.value = v;
      ++size_;
      return;
    }
  }
}

bool WordCache::lookup(std::string_view word, size_t hash, std::vector<BpePiece>& out) const {
  Shard& shard = shards_[hash % kShards];
  std::lock_guard<std::mutex> lock(shard.mu);
  const auto it = shard.map.find(word);
  if (it == shard.map.end()) return false;
  out.insert(out.end(), it->second.begin(), it->second.end());
  return true;
}

void WordCache::insert(std::string_view word, size_t hash, const BpePiece* pieces, size_t n) const {
  Shard& shard = shards_[hash % kShards];
  std::lock_guard<std::mutex> lock(shard.mu);
  // A full shard starts over: the cache follows the current texts' vocabulary.
  if (shard.map.size() >= kMaxEntriesPerShard) shard.map.clear();
  shard.map.try_emplace(std::string(word), pieces, pieces + n);
}

size_t WordCache::size() const {
  size_t n = 0;
  for (const Shard& s : shards_) {
    std::lock_guard<std::mutex> lock(s.mu);
    n += s.map.size();
  }
  return n;
}

void WordCache::clear() const {
  for (Shard& s : shards_) {
    std::lock_guard<std::mutex> lock(s.mu);
    s.map.clear();
  }
}

Bpe::Bpe(const std::unordered_map<std::string, int32_t>& vocab,
         const std::vector<std::pair<std::string, std::string>>& merges,
         std::optional<int32_t> unk_id, const std::string& origin)
    : unk_id_(unk_id) {
  const ByteAlphabet& alphabet = byte_alphabet();
  for (int b = 0; b < 256; ++b) {
    const auto it = vocab.find(alphabet.byte_to_utf8[b]);
    byte_id_[b] = it == vocab.end() ? -1 : it->second;
  }
  merges_.reserve(merges.size());
  auto id_of = [&](const std::string& token, size_t rank) {
    const auto it = vocab.find(token);
    if (it == vocab.end()) {
      throw Error(origin + ": merge " + std::to_string(rank + 1) + " (\"" + merges[rank].first +
                  " " + merges[rank].second + "\"): token \"" + token +
                  "\" is not in the vocabulary");
    }
    return it->second;
  };
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    const int32_t a_id = id_of(a, rank);
    const int32_t b_id = id_of(b, rank);
    const int32_t new_id = id_of(a + b, rank);
    merges_.insert_or_assign(a_id, b_id, {static_cast<uint32_t>(rank), new_id});
  }
}

void Bpe::initial_symbols(std::string_view word, std::vector<Symbol>& syms) const {
  syms.clear();
  for (size_t i = 0; i < word.size(); ++i) {
    int32_t id = byte_id_[static_cast<unsigned char>(word[i])];
    if (id < 0) {
      // HF drops a character that is neither in the vocabulary nor covered by an unk token.
      if (!unk_id_) continue;
      id = *unk_id_;
    }
    syms.push_back({id, static_cast<uint32_t>(i), static_cast<uint32_t>(i + 1)});
  }
}

// Repeatedly merges the adjacent pair of lowest rank, the leftmost on ties: the order HF's heap
// pops, since a symbol's heap position is its index and indices keep the text order.
void Bpe::merge_small(std::vector<Symbol>& syms) const {
  const size_t n0 = syms.size();
  if (n0 < 2) return;
  uint32_t rank[kSmallWord];
  int32_t next_id[kSmallWord];
  auto pair_at = [&](size_t i) {
    const PairMap::Value* v = merges_.find(syms[i].id, syms[i + 1].id);
    rank[i] = v ? v->rank : kNoRank;
    next_id[i] = v ? v->new_id : -1;
  };
  for (size_t i = 0; i + 1 < n0; ++i) pair_at(i);
  size_t n = n0;
  while (n > 1) {
    size_t best = 0;
    for (size_t i = 1; i + 1 < n; ++i) {
      if (rank[i] < rank[best]) best = i;
    }
    if (rank[best] == kNoRank) break;
    syms[best].id = next_id[best];
    syms[best].end = syms[best + 1].end;
    syms.erase(syms.begin() + static_cast<std::ptrdiff_t>(best) + 1);
    --n;
    for (size_t i = best + 1; i + 1 < n; ++i) {
      rank[i] = rank[i + 1];
      next_id[i] = next_id[i + 1];
    }
    if (best > 0) pair_at(best - 1);
    if (best + 1 < n) pair_at(best);
  }
}

// HF's `Word::merge_all`: a min-heap of (rank, position) with lazy removal of stale entries.
void Bpe::merge_heap(std::vector<Symbol>& syms) const {
  struct Merge {
    uint32_t rank;
    uint32_t pos;
    int32_t new_id;
  };
  // std heaps are max-heaps: "greater" puts the lowest (rank, pos) on top.
  auto after = [](const Merge& x, const Merge& y) {
    return x.rank != y.rank ? x.rank > y.rank : x.pos > y.pos;
  };
  const size_t n = syms.size();
  if (n < 2) return;
  thread_local std::vector<Merge> heap;
  thread_local std::vector<int32_t> prev, next;
  thread_local std::vector<uint8_t> alive;
  heap.clear();
  prev.resize(n);
  next.resize(n);
  alive.assign(n, 1);
  for (size_t i = 0; i < n; ++i) {
    prev[i] = static_cast<int32_t>(i) - 1;
    next[i] = i + 1 < n ? static_cast<int32_t>(i + 1) : -1;
  }
  auto push = [&](size_t left, size_t right) {
    if (const PairMap::Value* v = merges_.find(syms[left].id, syms[right].id)) {
      heap.push_back({v->rank, static_cast<uint32_t>(left), v->new_id});
      std::push_heap(heap.begin(), heap.end(), after);
    }
  };
  for (size_t i = 0; i + 1 < n; ++i) push(i, i + 1);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), after);
    const Merge top = heap.back();
    heap.pop_back();
    if (!alive[top.pos] || next[top.pos] < 0) continue;
    const auto right = static_cast<size_t>(next[top.pos]);
    const PairMap::Value* v = merges_.find(syms[top.pos].id, syms[right].id);
    if (v == nullptr || v->new_id != top.new_id) continue;  // stale entry
    syms[top.pos].id = top.new_id;
    syms[top.pos].end = syms[right].end;
    alive[right] = 0;
    next[top.pos] = next[right];
    if (next[right] >= 0) prev[static_cast<size_t>(next[right])] = static_cast<int32_t>(top.pos);
    if (prev[top.pos] >= 0) push(static_cast<size_t>(prev[top.pos]), top.pos);
    if (next[top.pos] >= 0) push(top.pos, static_cast<size_t>(next[top.pos]));
  }
  size_t w = 0;
  for (size_t i = 0; i < n; ++i) {
    if (alive[i]) syms[w++] = syms[i];
  }
  syms.resize(w);
}

void Bpe::tokenize_uncached(std::string_view word, std::vector<BpePiece>& out,
                            bool force_heap) const {
  thread_local std::vector<Symbol> syms;
  initial_symbols(word, syms);
  if (syms.size() <= kSmallWord && !force_heap) {
    merge_small(syms);
  } else {
    merge_heap(syms);
  }
  for (const Symbol& s : syms) out.push_back({s.id, s.start, s.end});
}

void Bpe::tokenize(std::string_view word, std::vector<BpePiece>& out) const {
  if (word.size() == 1) {
    const int32_t id = byte_id_[static_cast<unsigned char>(word[0])];
    if (id >= 0) {
      out.push_back({id, 0, 1});
      return;
    }
  }
  if (word.size() > WordCache::kMaxWordBytes) {
    tokenize_uncached(word, out);
    return;
  }
  const size_t hash = std::hash<std::string_view>{}(word);
  if (cache_.lookup(word, hash, out)) return;
  const size_t before = out.size();
  tokenize_uncached(word, out);
  cache_.insert(word, hash, out.data() + before, out.size() - before);
}

}  // namespace refusal::tokenizer
