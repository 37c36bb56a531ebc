// JSON as the reference servers write and read it: Python's json (LLM Guard's FastAPI stack)
// and serde_json (TEI).
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace refusal::server {

// json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")) as Starlette's
// JSONResponse renders it: raw UTF-8, floats in repr form ("-1.0", "-0.0", "1e-05").
std::string python_json_dumps(const nlohmann::ordered_json& value);

// serde_json's form of an f32 (ryu): shortest round-trip digits, "1.0", "0.99", "1e-7".
std::string format_f32(float value);

// Why Python's json.loads rejects a document: the decoder's message ("Expecting value") and
// the position in code points, as json.JSONDecodeError carries them (CPython's C scanner).
struct PyJsonError {
  std::string message;
  std::size_t pos = 0;
};

struct PyJsonCheck {
  std::optional<PyJsonError> error;
  bool too_deep = false;        // nesting Python would refuse with RecursionError
  bool non_finite = false;      // NaN / Infinity literals, which Python accepts
  bool lone_surrogate = false;  // \ud800-style escapes, which Python accepts
};

// Checks `utf8` (already valid UTF-8) the way json.loads(str) parses it.
PyJsonCheck python_json_check(std::string_view utf8);

}  // namespace refusal::server
