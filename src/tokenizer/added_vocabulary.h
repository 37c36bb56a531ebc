// Added (and special) tokens, cut out of the raw text before pre-tokenization like HF's
// AddedVocabulary: leftmost-longest matching, then the single_word, lstrip and rstrip rules.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "refusal/tokenizer.h"

namespace refusal::tokenizer {

// A piece of the input: an added token (token >= 0, an index into tokens()) or plain text.
struct Segment {
  size_t begin;
  size_t end;
  int32_t token;
};

class AddedVocabulary {
 public:
  AddedVocabulary() = default;
  explicit AddedVocabulary(std::vector<AddedToken> tokens);

  // Cuts text into segments in order. Tokens with normalized=false are matched on the whole
  // text first; the normalized ones then inside the remaining plain pieces (there is no
  // normalizer, so both passes see the raw text, but the pass order decides overlaps).
  void split(std::string_view text, std::vector<Segment>& out) const;

  const std::vector<AddedToken>& tokens() const { return tokens_; }
  const AddedToken* by_id(int32_t id) const;
  const AddedToken* by_content(std::string_view content) const;
  bool empty() const { return tokens_.empty(); }

 private:
  // Byte trie over the token contents of one pass.
  struct Trie {
    struct Node {
      std::vector<std::pair<unsigned char, int32_t>> children;
      int32_t token = -1;
    };
    std::vector<Node> nodes;
    std::array<bool, 256> first{};
    void add(std::string_view s, int32_t token);
    bool empty() const { return nodes.size() <= 1; }
    // Longest token starting at text[pos]: its index and end, or -1.
    int32_t longest_at(std::string_view text, size_t pos, size_t limit, size_t* end) const;
  };
  void find_matches(std::string_view text, size_t begin, size_t end, const Trie& trie,
                    std::vector<Segment>& out) const;

  std::vector<AddedToken> tokens_;
  std::unordered_map<int32_t, size_t> by_id_;
  std::unordered_map<std::string, size_t> by_content_;
  Trie raw_;         // normalized = false
  Trie normalized_;  // normalized = true
};

}  // namespace refusal::tokenizer
