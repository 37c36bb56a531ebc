// UTF-8: the one decoder, validator and encoder that the tokenizer, the scanners, the readers,
// the server and the evaluation share. Strict RFC 3629: no overlongs, no surrogates, nothing
// above U+10FFFF.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace refusal::base {

inline bool is_utf8_continuation(char c) {
  return (static_cast<unsigned char>(c) & 0xC0u) == 0x80u;
}

// The code point at p, in text already known to be valid UTF-8; *length receives its byte
// length. The tokenizer's hot path: no checks.
inline char32_t decode_valid_utf8(const char* p, std::size_t* length) {
  const auto b0 = static_cast<unsigned char>(p[0]);
  if (b0 < 0x80) {
    *length = 1;
    return b0;
  }
  const auto b1 = static_cast<unsigned char>(p[1]) & 0x3Fu;
  if (b0 < 0xE0) {
    *length = 2;
    return (char32_t{b0 & 0x1Fu} << 6) | b1;
  }
  const auto b2 = static_cast<unsigned char>(p[2]) & 0x3Fu;
  if (b0 < 0xF0) {
    *length = 3;
    return (char32_t{b0 & 0x0Fu} << 12) | (char32_t{b1} << 6) | b2;
  }
  const auto b3 = static_cast<unsigned char>(p[3]) & 0x3Fu;
  *length = 4;
  return (char32_t{b0 & 0x07u} << 18) | (char32_t{b1} << 12) | (char32_t{b2} << 6) | b3;
}

// One step of checked decoding.
struct Utf8Step {
  char32_t code_point = 0;  // U+FFFD when !valid
  std::size_t length = 0;   // bytes consumed: the sequence, or its maximal ill-formed subpart
  bool valid = false;
};

// Decodes text[at] (at < text.size()). An ill-formed sequence consumes its maximal ill-formed
// subpart (Unicode table 3-7, "substitution of maximal subparts"): at least one byte.
inline Utf8Step decode_utf8(std::string_view text, std::size_t at) {
  const auto b0 = static_cast<unsigned char>(text[at]);
  if (b0 < 0x80) return {b0, 1, true};
  std::size_t need = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  char32_t cp = 0;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
    cp = b0 & 0x1Fu;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    cp = b0 & 0x0Fu;
    if (b0 == 0xE0) lo = 0xA0;  // overlong
    if (b0 == 0xED) hi = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    cp = b0 & 0x07u;
    if (b0 == 0xF0) lo = 0x90;  // overlong
    if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return {U'\uFFFD', 1, false};
  }
  for (std::size_t k = 1; k <= need; ++k) {
    if (at + k >= text.size()) return {U'\uFFFD', k, false};
    const auto b = static_cast<unsigned char>(text[at + k]);
    if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) return {U'\uFFFD', k, false};
    cp = (cp << 6) | (b & 0x3Fu);
  }
  return {cp, need + 1, true};
}

// Byte offset of the first byte of the first ill-formed sequence; nullopt when `text` is valid.
std::optional<std::size_t> first_invalid_utf8(std::string_view text);

// `text` with every maximal ill-formed subpart replaced by U+FFFD (what Python's
// errors="replace" and Rust's String::from_utf8_lossy do).
std::string repair_utf8(std::string_view text);

// Code points in valid UTF-8.
std::size_t count_code_points(std::string_view utf8);

// Byte offset `count` code points after byte `from` in valid UTF-8 (`from` on a character
// boundary), or utf8.size() when the text ends first.
std::size_t skip_code_points(std::string_view utf8, std::size_t from, std::size_t count);

// Start of the code point that holds byte `at` of valid UTF-8.
inline std::size_t code_point_start(std::string_view utf8, std::size_t at) {
  while (at > 0 && is_utf8_continuation(utf8[at])) --at;
  return at;
}

// Appends the UTF-8 form of `cp`, a Unicode scalar value.
void append_utf8(std::string& out, char32_t cp);

// UTF-8 -> code points. With `byte_offsets`, also the byte offset of every code point plus one
// past the end. Throws refusal::Error naming the byte offset of invalid input.
std::u32string to_code_points(std::string_view utf8,
                              std::vector<std::size_t>* byte_offsets = nullptr);

// Code points (Unicode scalar values) -> UTF-8.
std::string to_utf8(std::u32string_view code_points);

}  // namespace refusal::base
