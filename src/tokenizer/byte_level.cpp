#include "tokenizer/byte_level.h"

#include "base/utf8.h"

namespace refusal::tokenizer {

const ByteAlphabet& byte_alphabet() {
  static const ByteAlphabet alphabet = [] {
    ByteAlphabet a;
    a.cp_to_byte.fill(-1);
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      const char32_t cp = printable ? static_cast<char32_t>(b) : next++;
      a.byte_to_cp[b] = cp;
      base::append_utf8(a.byte_to_utf8[b], cp);
      a.cp_to_byte[cp] = static_cast<int16_t>(b);
    }
    return a;
  }();
  return alphabet;
}

std::optional<std::string> byte_level_to_bytes(std::string_view token) {
  const ByteAlphabet& a = byte_alphabet();
  std::string out;
  out.reserve(token.size());
  if (base::first_invalid_utf8(token)) return std::nullopt;
  for (size_t i = 0; i < token.size();) {
    size_t len = 0;
    const char32_t cp = base::decode_valid_utf8(token.data() + i, &len);
    if (cp >= a.cp_to_byte.size() || a.cp_to_byte[cp] < 0) return std::nullopt;
    out.push_back(static_cast<char>(a.cp_to_byte[cp]));
    i += len;
  }
  return out;
}

std::string bytes_to_byte_level(std::string_view raw) {
  const ByteAlphabet& a = byte_alphabet();
  std::string out;
  out.reserve(raw.size() * 2);
  for (const char c : raw) out += a.byte_to_utf8[static_cast<unsigned char>(c)];
  return out;
}

}  // namespace refusal::tokenizer
