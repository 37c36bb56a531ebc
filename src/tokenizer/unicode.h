// The character classes of the GPT-2 pre-tokenizer pattern.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/utf8.h"

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

// Class of the code point at p, with an ASCII fast path.
inline CharClass class_at(const char* p, size_t* len) {
  const auto b0 = static_cast<unsigned char>(p[0]);
  if (b0 < 0x80) {
    *len = 1;
    return ascii_class(b0);
  }
  return char_class(base::decode_valid_utf8(p, len));
}

}  // namespace refusal::tokenizer
