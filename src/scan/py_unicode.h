// Python's per-character string predicates and the two regex engines' character classes, as
// nltk's Punkt sees them. Internal to src/scan.
#pragma once

#include <string>
#include <string_view>

namespace refusal::scan {

bool py_isspace(char32_t c);  // str.isspace()
bool py_isupper(char32_t c);  // str.isupper() of one character
bool py_islower(char32_t c);  // str.islower() of one character
bool py_iscased(char32_t c);  // Unicode Cased (Lowercase | Uppercase | Lt)
bool py_is_case_ignorable(char32_t c);
bool is_decimal_digit(char32_t c);                  // \d in both engines: category Nd
std::u32string py_lower(std::u32string_view text);  // str.lower()

// Regex character classes that differ between Python's `re` (nltk 3.9) and the `regex`
// module (nltk >= 3.10).
bool re_space(char32_t c, bool regex_module);          // \s
bool re_word_nondigit(char32_t c, bool regex_module);  // [^\W\d]

}  // namespace refusal::scan
