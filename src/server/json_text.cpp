#include "server/json_text.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

#include "base/utf8.h"
#include "scan/python_emulation.h"

namespace refusal::server {
namespace {

void dump_string(const std::string& s, std::string& out) {
  // Python's json escapes '"', '\\', and control characters below 0x20 (\n \r \t \b \f by
  // name, the rest as \u00xx); everything else is written as is (ensure_ascii=False).
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          static const char* hex = "0123456789abcdef";
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

void dump(const nlohmann::ordered_json& v, std::string& out) {
  using T = nlohmann::ordered_json::value_t;
  switch (v.type()) {
    case T::null:
      out += "null";
      break;
    case T::boolean:
      out += v.get<bool>() ? "true" : "false";
      break;
    case T::number_integer:
      out += std::to_string(v.get<std::int64_t>());
      break;
    case T::number_unsigned:
      out += std::to_string(v.get<std::uint64_t>());
      break;
    case T::number_float:
      out += format_python_float(v.get<double>());
      break;
    case T::string:
      dump_string(v.get_ref<const std::string&>(), out);
      break;
    case T::array: {
      out += '[';
      bool first = true;
      for (const auto& e : v) {
        if (!first) out += ',';
        first = false;
        dump(e, out);
      }
      out += ']';
      break;
    }
    case T::object: {
      out += '{';
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) out += ',';
        first = false;
        dump_string(it.key(), out);
        out += ':';
        dump(it.value(), out);
      }
      out += '}';
      break;
    }
    default:
      out += "null";
      break;
  }
}

// A recursive-descent copy of CPython's C json scanner (Modules/_json.c), positions in bytes.
class PyScanner {
 public:
  explicit PyScanner(std::string_view s) : s_(s) {}

  PyJsonCheck run() {
    std::size_t idx = skip_ws(0);
    std::size_t end = 0;
    if (!value(idx, end, 0)) return finish();
    end = skip_ws(end);
    if (end != s_.size()) fail("Extra data", end);
    return finish();
  }

 private:
  std::string_view s_;
  PyJsonCheck check_;

  PyJsonCheck finish() {
    if (check_.error) check_.error->pos = base::count_code_points(s_.substr(0, check_.error->pos));
    return check_;
  }
  bool fail(const char* msg, std::size_t pos) {
    if (!check_.error && !check_.too_deep) check_.error = PyJsonError{msg, pos};
    return false;
  }
  std::size_t skip_ws(std::size_t i) const {
    while (i < s_.size() && (s_[i] == ' ' || s_[i] == '\t' || s_[i] == '\n' || s_[i] == '\r')) ++i;
    return i;
  }
  bool lit(std::size_t i, const char* word) const {
    const std::size_t n = std::strlen(word);
    return i + n <= s_.size() && s_.substr(i, n) == word;
  }
  static bool digit(char c) { return c >= '0' && c <= '9'; }
  static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  // scan_once: false with check_.error set ("Expecting value" for StopIteration).
  bool value(std::size_t idx, std::size_t& next, int depth) {
    if (idx >= s_.size()) return fail("Expecting value", idx);
    const char c = s_[idx];
    if (c == '"') return string(idx + 1, next);
    if (c == '{' || c == '[') {
      if (depth >= 500) {
        check_.too_deep = true;
        return false;
      }
      return c == '{' ? object(idx + 1, next, depth + 1) : array(idx + 1, next, depth + 1);
    }
    if (c == 'n' && lit(idx, "null")) return next = idx + 4, true;
    if (c == 't' && lit(idx, "true")) return next = idx + 4, true;
    if (c == 'f' && lit(idx, "false")) return next = idx + 5, true;
    if (c == 'N' && lit(idx, "NaN")) return check_.non_finite = true, next = idx + 3, true;
    if (c == 'I' && lit(idx, "Infinity")) return check_.non_finite = true, next = idx + 8, true;
    if (c == '-' && lit(idx + 1, "Infinity")) {
      check_.non_finite = true;
      next = idx + 9;
      return true;
    }
    return number(idx, next);
  }

  bool number(std::size_t start, std::size_t& next) {
    const std::size_t n = s_.size();
    std::size_t i = start;
    if (s_[i] == '-') {
      ++i;
      if (i >= n) return fail("Expecting value", start);
    }
    if (s_[i] >= '1' && s_[i] <= '9') {
      ++i;
      while (i < n && digit(s_[i])) ++i;
    } else if (s_[i] == '0') {
      ++i;
    } else {
      return fail("Expecting value", start);
    }
    if (i + 1 < n && s_[i] == '.' && digit(s_[i + 1])) {
      i += 2;
      while (i < n && digit(s_[i])) ++i;
    }
    if (i + 1 < n && (s_[i] == 'e' || s_[i] == 'E')) {
      const std::size_t e_start = i;
      ++i;
      if (i + 1 < n && (s_[i] == '-' || s_[i] == '+')) ++i;
      while (i < n && digit(s_[i])) ++i;
      if (!digit(s_[i - 1])) i = e_start;
    }
    next = i;
    return true;
  }

  bool string(std::size_t end, std::size_t& next) {
    const std::size_t begin = end - 1;
    const std::size_t len = s_.size();
    while (true) {
      char c = 0;
      std::size_t i = end;
      for (; i < len; ++i) {
        c = s_[i];
        if (c == '"' || c == '\\') break;
        if (static_cast<unsigned char>(c) <= 0x1f) return fail("Invalid control character at", i);
      }
      if (i >= len || !(c == '"' || c == '\\'))
        return fail("Unterminated string starting at", begin);
      ++i;
      if (c == '"') {
        next = i;
        return true;
      }
      if (i == len) return fail("Unterminated string starting at", begin);
      c = s_[i];
      if (c != 'u') {
        end = i + 1;
        if (std::strchr("\"\\/bfnrt", c) == nullptr || c == 0)
          return fail("Invalid \\escape", end - 2);
        continue;
      }
      ++i;
      end = i + 4;
      if (end >= len) return fail("Invalid \\uXXXX escape", i - 1);
      unsigned cp = 0;
      for (; i < end; ++i) {
        const int h = hexval(s_[i]);
        if (h < 0) return fail("Invalid \\uXXXX escape", end - 5);
        cp = cp * 16 + static_cast<unsigned>(h);
      }
      if (cp >= 0xD800 && cp <= 0xDBFF && end + 6 < len && s_[end] == '\\' && s_[end + 1] == 'u') {
        unsigned lo = 0;
        bool ok = true;
        for (std::size_t k = end + 2; k < end + 6; ++k) {
          const int h = hexval(s_[k]);
          if (h < 0) return fail("Invalid \\uXXXX escape", end + 1);
          lo = lo * 16 + static_cast<unsigned>(h);
        }
        if (lo >= 0xDC00 && lo <= 0xDFFF) {
          end += 6;
        } else {
          ok = false;
        }
        if (!ok) check_.lone_surrogate = true;
      } else if (cp >= 0xD800 && cp <= 0xDFFF) {
        check_.lone_surrogate = true;
      }
    }
  }

  bool object(std::size_t idx, std::size_t& next, int depth) {
    const std::size_t len = s_.size();
    idx = skip_ws(idx);
    if (idx >= len || s_[idx] != '}') {
      while (true) {
        if (idx >= len || s_[idx] != '"') {
          return fail("Expecting property name enclosed in double quotes", idx);
        }
        std::size_t after = 0;
        if (!string(idx + 1, after)) return false;
        idx = skip_ws(after);
        if (idx >= len || s_[idx] != ':') return fail("Expecting ':' delimiter", idx);
        idx = skip_ws(idx + 1);
        if (!value(idx, after, depth)) return false;
        idx = skip_ws(after);
        if (idx < len && s_[idx] == '}') break;
        if (idx >= len || s_[idx] != ',') return fail("Expecting ',' delimiter", idx);
        idx = skip_ws(idx + 1);
      }
    }
    next = idx + 1;
    return true;
  }

  bool array(std::size_t idx, std::size_t& next, int depth) {
    const std::size_t len = s_.size();
    idx = skip_ws(idx);
    if (idx >= len || s_[idx] != ']') {
      while (true) {
        std::size_t after = 0;
        if (!value(idx, after, depth)) return false;
        idx = skip_ws(after);
        if (idx < len && s_[idx] == ']') break;
        if (idx >= len || s_[idx] != ',') return fail("Expecting ',' delimiter", idx);
        idx = skip_ws(idx + 1);
      }
    }
    next = idx + 1;
    return true;
  }
};

}  // namespace

std::string python_json_dumps(const nlohmann::ordered_json& value) {
  std::string out;
  dump(value, out);
  return out;
}

std::string format_f32(float value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value < 0 ? "-inf" : "inf";
  // Shortest digits and exponent, then ryu's layout (ryu::Buffer::format_finite for f32).
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
  std::string sci(buf, r.ptr);
  std::string out;
  if (sci[0] == '-') {
    out += '-';
    sci.erase(0, 1);
  }
  const auto e = sci.find('e');
  std::string digits = sci.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int exp = std::stoi(sci.substr(e + 1));
  if (digits == "0") return out + "0.0";
  const int length = static_cast<int>(digits.size());
  const int kk = exp + 1;  // 10^(kk-1) <= v < 10^kk
  const int k = kk - length;
  if (0 <= k && kk <= 13) {
    out += digits + std::string(static_cast<std::size_t>(k), '0') + ".0";
  } else if (0 < kk && kk <= 13) {
    out += digits.substr(0, static_cast<std::size_t>(kk)) + "." +
           digits.substr(static_cast<std::size_t>(kk));
  } else if (-6 < kk && kk <= 0) {
    out += "0." + std::string(static_cast<std::size_t>(-kk), '0') + digits;
  } else if (length == 1) {
    out += digits + "e" + std::to_string(kk - 1);
  } else {
    out += digits.substr(0, 1) + "." + digits.substr(1) + "e" + std::to_string(kk - 1);
  }
  return out;
}

PyJsonCheck python_json_check(std::string_view utf8) { return PyScanner(utf8).run(); }

}  // namespace refusal::server
