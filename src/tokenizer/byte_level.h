// GPT-2's byte-level alphabet and pre-tokenizer (the ByteLevel component of HF tokenizers).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tokenizer/unicode.h"

namespace refusal::tokenizer {

// bytes_to_unicode(): printable Latin-1 bytes map to themselves, the other 68 bytes to
// U+0100..U+0143, so every byte string becomes printable text ("Ġ" is the space).
struct ByteAlphabet {
  std::array<char32_t, 256> byte_to_cp{};
  std::array<std::string, 256> byte_to_utf8{};
  std::array<int16_t, 0x144> cp_to_byte{};  // -1 where the code point is not in the alphabet
};
const ByteAlphabet& byte_alphabet();

// Byte-level token text -> raw bytes; nullopt if a character is outside the alphabet.
std::optional<std::string> byte_level_to_bytes(std::string_view token);
std::string bytes_to_byte_level(std::string_view raw);

// Splits text[begin, end) like Oniguruma running the GPT-2 pattern
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// and calls emit(piece_begin, piece_end) for each match; the matches tile the range. emit
// returns false to stop early (truncation needs no more).
// A hand-written state machine: the alternatives are tried in order at each position.
template <class Emit>
void split_words(const char* s, size_t begin, size_t end, Emit&& emit) {
  size_t i = begin;
  while (i < end) {
    const char c = s[i];
    if (c == '\'' && i + 1 < end) {
      const char n = s[i + 1];
      if (n == 's' || n == 't' || n == 'm' || n == 'd') {
        if (!emit(i, i + 2)) return;
        i += 2;
        continue;
      }
      if (i + 2 < end) {
        const char n2 = s[i + 2];
        if ((n == 'r' && n2 == 'e') || (n == 'v' && n2 == 'e') || (n == 'l' && n2 == 'l')) {
          if (!emit(i, i + 3)) return;
          i += 3;
          continue;
        }
      }
    }
    size_t len = 0;
    CharClass k = class_at(s + i, &len);
    size_t run = i + len;
    if (c == ' ' && i + 1 < end) {
      // " ?X+": the optional space belongs to a following letter/number/other run.
      size_t len1 = 0;
      const CharClass k1 = class_at(s + i + 1, &len1);
      if (k1 != CharClass::kSpace) {
        k = k1;
        run = i + 1 + len1;
      }
    }
    if (k != CharClass::kSpace) {
      while (run < end) {
        size_t l = 0;
        if (class_at(s + run, &l) != k) break;
        run += l;
      }
      if (!emit(i, run)) return;
      i = run;
      continue;
    }
    // \s+(?!\S) keeps the last space of a run for the word after it; \s+ takes a lone one.
    size_t last = i;
    while (run < end) {
      size_t l = 0;
      if (class_at(s + run, &l) != CharClass::kSpace) break;
      last = run;
      run += l;
    }
    const size_t stop = (run == end || last == i) ? run : last;
    if (!emit(i, stop)) return;
    i = stop;
  }
}

}  // namespace refusal::tokenizer
