// BERT's WordPiece model as HF tokenizers runs it: greedy longest-match-first over the chars of
// a word, "##" before every piece but the first, and the whole word as [UNK] when a piece is
// missing or the word is longer than max_input_chars_per_word.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace refusal::tokenizer {

// A piece of a word: its id and its code points [begin, end) within the word.
struct WordPieceToken {
  int32_t id;
  uint32_t begin;
  uint32_t end;
};

class WordPiece {
 public:
  WordPiece() = default;
  WordPiece(const std::unordered_map<std::string, int32_t>& vocab, int32_t unk_id,
            std::string prefix, size_t max_input_chars_per_word);

  // Appends the pieces of one word (normalized code points, none of them whitespace).
  void tokenize(std::u32string_view word, std::vector<WordPieceToken>& out) const;

  const std::string& prefix() const { return prefix_; }

 private:
  const std::unordered_map<std::string, int32_t>* vocab_ = nullptr;
  int32_t unk_id_ = -1;
  std::string prefix_ = "##";
  size_t max_chars_ = 100;
  size_t max_token_bytes_ = 0;  // no piece is longer: bounds the search
};

}  // namespace refusal::tokenizer
