// Python float semantics the scanners' results depend on: round(), repr() and LLM Guard's
// calculate_risk_score.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "refusal/error.h"
#include "refusal/scanner_rules.h"
#include "scan/python_emulation.h"

namespace refusal {

double python_round(double x, int digits) {
  // CPython's double_round: correctly rounded decimal conversion (_Py_dg_dtoa mode 3), then
  // back with strtod. glibc's printf is exact and rounds ties to even on the binary value,
  // which is the same thing. Out-of-range digit counts behave as in CPython.
  if (!std::isfinite(x)) return x;
  if (digits > 323) return x;
  // The scanners only round to 1 or 2 places; negative counts are not reproduced.
  if (digits < 0) throw Error("python_round: negative digit counts are not supported");
  char buf[512];
  const int n = std::snprintf(buf, sizeof buf, "%.*f", digits, x);
  if (n < 0 || n >= static_cast<int>(sizeof buf)) return x;  // |x| so large it is integral
  return std::strtod(buf, nullptr);
}

std::string format_python_float(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x < 0 ? "-inf" : "inf";
  if (x == 0.0) return std::signbit(x) ? "-0.0" : "0.0";
  // Shortest round-trip digits, as float_repr_style 'short' (repr) produces them.
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  std::string sign;
  if (sci[0] == '-') {
    sign = "-";
    sci.erase(0, 1);
  }
  const auto e_pos = sci.find('e');
  std::string digits = sci.substr(0, e_pos);
  const int exp10 = std::stoi(sci.substr(e_pos + 1));
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int decpt = exp10 + 1;  // value = 0.DIGITS * 10^decpt
  const int ndigits = static_cast<int>(digits.size());
  std::string out = sign;
  if (decpt <= -4 || decpt > 16) {
    out += digits[0];
    if (ndigits > 1) out += "." + digits.substr(1);
    const int e = decpt - 1;
    char ebuf[16];
    std::snprintf(ebuf, sizeof ebuf, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    out += ebuf;
  } else if (decpt <= 0) {
    out += "0." + std::string(static_cast<std::size_t>(-decpt), '0') + digits;
  } else if (decpt >= ndigits) {
    out += digits + std::string(static_cast<std::size_t>(decpt - ndigits), '0') + ".0";
  } else {
    out += digits.substr(0, static_cast<std::size_t>(decpt)) + "." +
           digits.substr(static_cast<std::size_t>(decpt));
  }
  return out;
}

double calculate_risk_score(double score, double threshold) {
  double risk = 0.0;
  if (score > threshold) {
    if (1.0 - threshold == 0.0) throw Error("calculate_risk_score: threshold 1 divides by zero");
    risk = python_round((score - threshold) / (1.0 - threshold), 1);
  } else {
    if (threshold == 0.0) throw Error("calculate_risk_score: threshold 0 divides by zero");
    risk = python_round((score - threshold) / threshold, 1);
  }
  // min(max(risk, -1), 1): Python's max/min keep the first argument unless the other is
  // strictly greater/smaller, so -0.0 survives. (Python would return the int -1 or 1 when
  // clamping; the value is the same.)
  if (-1.0 > risk) risk = -1.0;
  if (1.0 < risk) risk = 1.0;
  return risk;
}

}  // namespace refusal
