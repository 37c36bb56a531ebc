// HF's BertNormalizer and BertPreTokenizer character rules, with the alignment of every
// normalized code point to the original bytes it came from (what HF's NormalizedString keeps).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace refusal::tokenizer {

struct BertNormalizerOptions {
  bool clean_text = true;            // drop controls / NUL / U+FFFD, whitespace -> ' '
  bool handle_chinese_chars = true;  // put spaces around CJK ideographs
  bool strip_accents = true;         // NFD, then drop nonspacing marks (Mn)
  bool lowercase = true;             // Rust's char::to_lowercase (may give several chars)
};

// How BertPreTokenizer sees a code point: whitespace splits words and is dropped, punctuation
// is a word of its own.
enum class BertClass : uint8_t { kOther, kWhitespace, kPunctuation };
BertClass bert_class(char32_t cp);

// What clean_text / handle_chinese_chars do with a code point: 'x' removed, 'w' becomes a
// space, 'c' CJK ideograph, 'n' nothing.
char bert_clean_flag(char32_t cp);

// Appends what strip_accents and/or lowercase make of one code point.
void bert_map_char(char32_t cp, bool lowercase, bool strip_accents, std::u32string& out);

// Normalized text: code points, each with the original byte range it came from.
struct NormalizedText {
  std::u32string chars;
  std::vector<uint32_t> start;
  std::vector<uint32_t> end;
  void clear() {
    chars.clear();
    start.clear();
    end.clear();
  }
};

// Normalizes text[begin, end) (valid UTF-8); alignments are byte offsets into `text`.
void bert_normalize(const BertNormalizerOptions& options, std::string_view text, size_t begin,
                    size_t end, NormalizedText& out);

}  // namespace refusal::tokenizer
