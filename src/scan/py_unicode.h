// Python's per-character string predicates and the two regex engines' character classes, as
// nltk's Punkt sees them. Internal to src/scan.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace refusal::scan {

// UTF-8 -> code points; throws refusal::Error naming the byte offset of invalid input.
std::u32string decode_utf8(std::string_view text);
// Like decode_utf8, and also the byte offset of every code point (plus one past the end).
std::u32string decode_utf8(std::string_view text, std::vector<std::size_t>& byte_offsets);
std::string encode_utf8(std::u32string_view text);

bool py_isspace(char32_t c);  // str.isspace()
bool py_isupper(char32_t c);  // str.isupper() of one character
bool py_islower(char32_t c);  // str.islower() of one character
bool py_iscased(char32_t c);  // Unicode Cased (Lowercase | Uppercase | Lt)
bool py_is_case_ignorable(char32_t c);
bool is_decimal_digit(char32_t c);  // \d in both engines: category Nd
std::u32string py_lower(std::u32string_view text);  // str.lower()

// Regex character classes that differ between Python's `re` (nltk 3.9) and the `regex`
// module (nltk >= 3.10).
bool re_space(char32_t c, bool regex_module);               // \s
bool re_word_nondigit(char32_t c, bool regex_module);       // [^\W\d]

}  // namespace refusal::scan
