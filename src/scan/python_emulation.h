// Python's str and float semantics that LLM Guard's scanners depend on, reproduced bit for bit.
// Internal to the library (src/scan, src/server); docs/scanner.md says how it was checked.
#pragma once

#include <string>
#include <string_view>

namespace refusal {

// ---- Python string helpers (input is UTF-8; invalid UTF-8 throws refusal::Error) ----

// Python's str.isspace() for one code point: Unicode White_Space plus U+001C..U+001F.
bool python_isspace(char32_t c);
// text.strip() as Python does it: a view into `text` without leading/trailing whitespace.
std::string_view python_strip(std::string_view text);
// True when text.strip() == "" (LLM Guard's empty-output test).
bool python_isspace_only(std::string_view text);
// str.lower(): full lowercase mapping (U+0130 -> "i\u0307") and the Final_Sigma rule.
std::string python_lower(std::string_view text);

// ---- Python numbers ----

// round(x, digits) for a float: correctly rounded, ties to even on the exact binary value,
// sign of zero kept (round(-0.04, 1) == -0.0).
double python_round(double x, int digits);
// repr(x): shortest round-trip digits, "-1.0", "0.2", "-0.0", "1e-05", "1e+16", "inf", "nan".
std::string format_python_float(double x);

}  // namespace refusal
