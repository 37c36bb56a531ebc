#include "tokenizer/wordpiece.h"

#include <algorithm>

#include "base/utf8.h"
#include "tokenizer/unicode.h"

namespace refusal::tokenizer {

WordPiece::WordPiece(const std::unordered_map<std::string, int32_t>& vocab, int32_t unk_id,
                     std::string prefix, size_t max_input_chars_per_word)
    : vocab_(&vocab),
      unk_id_(unk_id),
      prefix_(std::move(prefix)),
      max_chars_(max_input_chars_per_word) {
  for (const auto& [token, id] : vocab) max_token_bytes_ = std::max(max_token_bytes_, token.size());
}

void WordPiece::tokenize(std::u32string_view word, std::vector<WordPieceToken>& out) const {
  const auto n = static_cast<uint32_t>(word.size());
  if (n == 0) return;
  if (word.size() > max_chars_) {
    out.push_back({unk_id_, 0, n});
    return;
  }
  // The word in UTF-8 and where each char starts, so candidates are substrings.
  thread_local std::string utf8;
  thread_local std::vector<uint32_t> at;
  thread_local std::string key;
  utf8.clear();
  at.clear();
  for (const char32_t c : word) {
    at.push_back(static_cast<uint32_t>(utf8.size()));
    base::append_utf8(utf8, c);
  }
  at.push_back(static_cast<uint32_t>(utf8.size()));
  const size_t first = out.size();
  for (uint32_t start = 0; start < n;) {
    const size_t lead = start > 0 ? prefix_.size() : 0;
    uint32_t end = n;
    // Longer candidates cannot be in the vocabulary.
    while (end > start && lead + at[end] - at[start] > max_token_bytes_) --end;
    int32_t id = -1;
    for (; end > start; --end) {
      key.assign(start > 0 ? prefix_ : std::string_view());
      key.append(utf8, at[start], at[end] - at[start]);
      const auto it = vocab_->find(key);
      if (it != vocab_->end()) {
        id = it->second;
        break;
      }
    }
    if (id < 0) {
      // One piece is missing: HF gives the whole word as [UNK].
      out.resize(first);
      out.push_back({unk_id_, 0, n});
      return;
    }
    out.push_back({id, start, end});
    start = end;
  }
}

}  // namespace refusal::tokenizer
