// Code points, UTF-8 and the character classes of the GPT-2 pre-tokenizer pattern.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace refusal::tokenizer {

// The classes that the GPT-2 pattern (see byte_level.h) tells apart. kSpace is Oniguruma's
// Unicode `\s`: U+0009..000D, U+0085, Zs, Zl, Zp; it is also the White_Space set that Rust's
// char::is_whitespace uses for lstrip/rstrip.
enum class CharClass : uint8_t { kOther, kLetter, kNumber, kSpace };

// utf8proc (Unicode 15.0) plus the letters and numbers added up to Unicode 16.0, the version
// HF tokenizers' Oniguruma uses (checked on every code point by tests/tokenizer).
CharClass char_class(char32_t cp);

inline CharClass ascii_class(unsigned char c) {
  // Built once: letters, digits, \t..\r and space; everything else in ASCII is kOther.
  struct Table {
    CharClass v[128];
    constexpr Table() : v() {
      for (int i = 0; i < 128; ++i) {
        CharClass k = CharClass::kOther;
        if ((i >= 'a' && i <= 'z') || (i >= 'A' && i <= 'Z')) k = CharClass::kLetter;
        if (i >= '0' && i <= '9') k = CharClass::kNumber;
        if ((i >= 9 && i <= 13) || i == ' ') k = CharClass::kSpace;
        v[i] = k;
      }
    }
  };
  static constexpr Table table;
  return table.v[c];
}

// Decodes the code point at p (valid UTF-8 assumed); *len receives its byte length.
inline char32_t decode_utf8(const char* p, size_t* len) {
  const auto b0 = static_cast<unsigned char>(p[0]);
  if (b0 < 0x80) {
    *len = 1;
    return b0;
  }
  const auto b1 = static_cast<unsigned char>(p[1]) & 0x3Fu;
  if (b0 < 0xE0) {
    *len = 2;
    return (char32_t{b0 & 0x1Fu} << 6) | b1;
  }
  const auto b2 = static_cast<unsigned char>(p[2]) & 0x3Fu;
  if (b0 < 0xF0) {
    *len = 3;
    return (char32_t{b0 & 0x0Fu} << 12) | (char32_t{b1} << 6) | b2;
  }
  const auto b3 = static_cast<unsigned char>(p[3]) & 0x3Fu;
  *len = 4;
  return (char32_t{b0 & 0x07u} << 18) | (char32_t{b1} << 12) | (char32_t{b2} << 6) | b3;
}

// Class of the code point at p, with an ASCII fast path.
inline CharClass class_at(const char* p, size_t* len) {
  const auto b0 = static_cast<unsigned char>(p[0]);
  if (b0 < 0x80) {
    *len = 1;
    return ascii_class(b0);
  }
  return char_class(decode_utf8(p, len));
}

inline bool is_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0u) == 0x80u; }

void append_utf8(std::string& out, char32_t cp);

// Byte offset of the first ill-formed UTF-8 sequence, or npos if `s` is valid.
size_t find_invalid_utf8(std::string_view s);

// `s` with every maximal ill-formed subsequence replaced by U+FFFD (Unicode's "substitution of
// maximal subparts", which is what Python's errors="replace" and Rust's from_utf8_lossy do).
std::string repair_utf8(std::string_view s);

// Number of code points in s[0, end).
size_t count_code_points(std::string_view s, size_t end);

}  // namespace refusal::tokenizer
