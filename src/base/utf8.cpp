#include "base/utf8.h"

#include <algorithm>
#include <cstdint>

#include "refusal/error.h"

namespace refusal::base {

std::optional<std::size_t> first_invalid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    // Skip ASCII eight bytes at a time: most text is ASCII.
    while (i + 8 <= text.size()) {
      std::uint64_t w;
      std::copy_n(text.data() + i, 8, reinterpret_cast<char*>(&w));
      if (w & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i >= text.size()) break;
    const Utf8Step step = decode_utf8(text, i);
    if (!step.valid) return i;
    i += step.length;
  }
  return std::nullopt;
}

std::string repair_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  std::size_t i = 0;
  while (i < text.size()) {
    const Utf8Step step = decode_utf8(text, i);
    if (step.valid) {
      out.append(text.data() + i, step.length);
    } else {
      out += "\xEF\xBF\xBD";
    }
    i += step.length;
  }
  return out;
}

std::size_t count_code_points(std::string_view utf8) {
  std::size_t n = 0;
  for (const char c : utf8) n += !is_utf8_continuation(c);
  return n;
}

std::size_t skip_code_points(std::string_view utf8, std::size_t from, std::size_t count) {
  std::size_t i = from;
  for (; count > 0 && i < utf8.size(); --count) {
    ++i;
    while (i < utf8.size() && is_utf8_continuation(utf8[i])) ++i;
  }
  return i;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::u32string to_code_points(std::string_view utf8, std::vector<std::size_t>* byte_offsets) {
  std::u32string out;
  out.reserve(utf8.size());
  if (byte_offsets != nullptr) {
    byte_offsets->clear();
    byte_offsets->reserve(utf8.size() + 1);
  }
  for (std::size_t i = 0; i < utf8.size();) {
    const Utf8Step step = decode_utf8(utf8, i);
    if (!step.valid) throw Error("invalid UTF-8 in text at byte offset " + std::to_string(i));
    if (byte_offsets != nullptr) byte_offsets->push_back(i);
    out.push_back(step.code_point);
    i += step.length;
  }
  if (byte_offsets != nullptr) byte_offsets->push_back(utf8.size());
  return out;
}

std::string to_utf8(std::u32string_view code_points) {
  std::string out;
  out.reserve(code_points.size());
  for (const char32_t cp : code_points) append_utf8(out, cp);
  return out;
}

}  // namespace refusal::base
