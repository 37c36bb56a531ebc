#include "server/config.h"

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>

#include "refusal/classifier.h"
#include "refusal/error.h"

namespace refusal::server {
namespace {

struct Field {
  SettingInfo info;
  std::function<void(ServerConfig&, const std::string&)> set;
  std::function<std::string(const ServerConfig&)> get;
};

std::string trim(const std::string& s) {
  std::size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

double parse_double(const std::string& v) {
  std::size_t used = 0;
  const double d = std::stod(v, &used);
  if (used != v.size()) throw std::invalid_argument(v);
  return d;
}

std::size_t parse_size(const std::string& v) {
  if (v.empty() || v[0] == '-') throw std::invalid_argument(v);
  std::size_t used = 0;
  const unsigned long long n = std::stoull(v, &used);
  if (used != v.size()) throw std::invalid_argument(v);
  return static_cast<std::size_t>(n);
}

// A duration: finite and not negative.
double parse_seconds(const std::string& v) {
  const double d = parse_double(v);
  if (!(d >= 0.0 && d < 1e9)) throw std::invalid_argument(v);
  return d;
}

bool parse_bool(const std::string& v) {
  std::string l;
  for (char c : v) l += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (l == "1" || l == "true" || l == "yes" || l == "on") return true;
  if (l == "0" || l == "false" || l == "no" || l == "off") return false;
  throw std::invalid_argument(v);
}

std::string fmt_double(double d) {
  std::ostringstream s;
  s << d;
  return s.str();
}

std::vector<std::string> split_keys(const std::string& v) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : v + ",") {
    if (c == ',') {
      auto t = trim(cur);
      if (!t.empty()) out.push_back(t);
      cur.clear();
    } else {
      cur += c;
    }
  }
  return out;
}

#define REFUSAL_SIZE(NAME, HELP)                                                          \
  Field {                                                                                 \
    {#NAME, HELP}, [](ServerConfig& c, const std::string& v) { c.NAME = parse_size(v); }, \
        [](const ServerConfig& c) { return std::to_string(c.NAME); }                      \
  }
#define REFUSAL_DOUBLE(NAME, HELP)                                                          \
  Field {                                                                                   \
    {#NAME, HELP}, [](ServerConfig& c, const std::string& v) { c.NAME = parse_double(v); }, \
        [](const ServerConfig& c) { return fmt_double(c.NAME); }                            \
  }
#define REFUSAL_BOOL(NAME, HELP)                                                          \
  Field {                                                                                 \
    {#NAME, HELP}, [](ServerConfig& c, const std::string& v) { c.NAME = parse_bool(v); }, \
        [](const ServerConfig& c) { return std::string(c.NAME ? "true" : "false"); }      \
  }
#define REFUSAL_STRING(NAME, HELP)                                            \
  Field {                                                                     \
    {#NAME, HELP}, [](ServerConfig& c, const std::string& v) { c.NAME = v; }, \
        [](const ServerConfig& c) { return c.NAME; }                          \
  }

const std::vector<Field>& fields() {
  static const std::vector<Field> f = {
      REFUSAL_STRING(host, "Address to bind (loopback by default; 0.0.0.0 for all)"),
      Field{{"port", "TCP port (0: any free port, printed at startup)"},
            [](ServerConfig& c, const std::string& v) {
              const auto p = parse_size(v);
              if (p > 65535) throw std::invalid_argument(v);
              c.port = static_cast<int>(p);
            },
            [](const ServerConfig& c) { return std::to_string(c.port); }},
      REFUSAL_STRING(model,
                     "Model folder, Hugging Face cache folder, or hub id in the local cache "
                     "(default: the bundled model)"),
      Field{{"threads", "Engine threads (0: the CPUs this process may use)"},
            [](ServerConfig& c, const std::string& v) {
              c.threads = static_cast<int>(parse_size(v));
            },
            [](const ServerConfig& c) { return std::to_string(c.threads); }},
      Field{{"dtype", "fp32 (exact), bf16 or int8"},
            [](ServerConfig& c, const std::string& v) {
              if (v != "fp32" && v != "bf16" && v != "int8") throw std::invalid_argument(v);
              c.dtype = v;
            },
            [](const ServerConfig& c) { return c.dtype; }},
      Field{{"api_keys",
             "Comma-separated Bearer keys; any one is accepted (empty: no auth). Prefer the "
             "environment variable or the config file to a flag: flags show in `ps`"},
            [](ServerConfig& c, const std::string& v) { c.api_keys = split_keys(v); },
            [](const ServerConfig& c) {
              return c.api_keys.empty() ? std::string()
                                        : std::to_string(c.api_keys.size()) + " key(s)";
            }},
      Field{{"threshold", "LLM Guard NoRefusal threshold: invalid when score > threshold"},
            [](ServerConfig& c, const std::string& v) {
              const double d = parse_double(v);
              if (!(d > 0.0 && d < 1.0)) throw std::invalid_argument(v);
              c.threshold = d;
            },
            [](const ServerConfig& c) {
              return fmt_double(c.threshold.value_or(preset_threshold(Preset::kLlmGuard)));
            }},
      Field{{"match_type", "LLM Guard NoRefusal match_type: full or sentence"},
            [](ServerConfig& c, const std::string& v) {
              if (v != "full" && v != "sentence") throw std::invalid_argument(v);
              c.match_type = v;
            },
            [](const ServerConfig& c) { return c.match_type; }},
      Field{{"max_length", "LLM Guard NoRefusal model_max_length: tokens per model input"},
            [](ServerConfig& c, const std::string& v) {
              const auto n = parse_size(v);
              if (n < 3) throw std::invalid_argument(v);
              c.max_length = n;
            },
            [](const ServerConfig& c) {
              return std::to_string(c.max_length ? *c.max_length
                                                 : *preset_max_length(Preset::kLlmGuard));
            }},
      REFUSAL_BOOL(fail_fast, "LLM Guard scan_fail_fast: stop at the first invalid scanner"),
      Field{{"scanners",
             "LLM Guard output scanners, in order, comma-separated: NoRefusal, NoRefusalLight"},
            [](ServerConfig& c, const std::string& v) {
              auto list = split_keys(v);
              if (list.empty()) throw std::invalid_argument(v);
              for (std::size_t i = 0; i < list.size(); ++i) {
                if (list[i] != "NoRefusal" && list[i] != "NoRefusalLight") {
                  throw std::invalid_argument(v);
                }
                for (std::size_t j = 0; j < i; ++j) {
                  if (list[j] == list[i]) throw std::invalid_argument(v);
                }
              }
              c.scanners = list;
            },
            [](const ServerConfig& c) {
              std::string s;
              for (const auto& n : c.scanners) s += (s.empty() ? "" : ",") + n;
              return s;
            }},
      REFUSAL_SIZE(max_client_batch_size, "TEI /predict: most inputs per request (413 beyond)"),
      REFUSAL_BOOL(auto_truncate,
                   "TEI /predict: truncate long inputs when the request does not say"),
      REFUSAL_SIZE(max_body_bytes, "Largest request body in bytes (413 beyond)"),
      REFUSAL_SIZE(max_text_chars, "Longest text in code points (422/413 beyond)"),
      REFUSAL_SIZE(max_batch_texts, "Most texts per /v1/classify request"),
      REFUSAL_DOUBLE(request_timeout, "Seconds a request may wait for its verdicts (408 beyond)"),
      REFUSAL_DOUBLE(read_timeout, "Seconds without a byte from the client before it is dropped"),
      REFUSAL_DOUBLE(write_timeout, "Seconds without the client reading before it is dropped"),
      REFUSAL_DOUBLE(request_read_timeout,
                     "Seconds to receive one whole request, headers and body (slow clients)"),
      REFUSAL_DOUBLE(keep_alive_timeout, "Seconds an idle keep-alive connection is kept"),
      REFUSAL_SIZE(keep_alive_max, "Requests served on one connection"),
      REFUSAL_SIZE(http_threads,
                   "Requests read and answered at once (idle connections hold no thread)"),
      REFUSAL_SIZE(queue_capacity, "Texts waiting for the model; beyond it: 429 + Retry-After"),
      REFUSAL_SIZE(batch_tokens, "Estimated tokens per dynamic batch"),
      REFUSAL_SIZE(batch_max_texts, "Texts per dynamic batch"),
      REFUSAL_DOUBLE(batch_wait_ms, "Milliseconds to wait for more requests when a batch is small"),
      REFUSAL_SIZE(cache_size, "Results kept in the exact-match LRU cache (0: off)"),
      REFUSAL_BOOL(access_log, "One JSON access-log line per request on stderr"),
      Field{{"shutdown_delay",
             "Seconds to keep serving after SIGTERM, with /readyz answering 503, before the "
             "server stops accepting connections (time for load balancers to stop routing)"},
            [](ServerConfig& c, const std::string& v) { c.shutdown_delay = parse_seconds(v); },
            [](const ServerConfig& c) { return fmt_double(c.shutdown_delay); }},
      Field{{"drain_timeout",
             "Seconds the accepted requests may take to finish once the server stops accepting; "
             "then it exits with those unanswered (0: no limit)"},
            [](ServerConfig& c, const std::string& v) { c.drain_timeout = parse_seconds(v); },
            [](const ServerConfig& c) { return fmt_double(c.drain_timeout); }},
      REFUSAL_STRING(llm_guard_config,
                     "An LLM Guard API config (scanners.yml): its NoRefusal / NoRefusalLight "
                     "entries, NoRefusal's threshold, match_type and model_max_length, the auth "
                     "token, scan_output_timeout and scan_fail_fast are taken from it"),
  };
  return f;
}

const Field& field(const std::string& name) {
  for (const auto& f : fields()) {
    if (f.info.name == name) return f;
  }
  throw Error("unknown setting '" + name + "'");
}

}  // namespace

const std::vector<SettingInfo>& settings() {
  static const std::vector<SettingInfo> s = [] {
    std::vector<SettingInfo> out;
    for (const auto& f : fields()) out.push_back(f.info);
    return out;
  }();
  return s;
}

void apply_setting(ServerConfig& config, const std::string& name, const std::string& value) {
  const Field& f = field(name);
  try {
    f.set(config, trim(value));
  } catch (const Error&) {
    throw;
  } catch (const std::exception&) {
    throw Error("setting " + name + ": invalid value '" + value + "'");
  }
}

std::string setting_value(const ServerConfig& config, const std::string& name) {
  return field(name).get(config);
}

std::string env_name(const std::string& name) {
  std::string e = "REFUSAL_SERVE_";
  for (char c : name) e += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return e;
}

std::map<std::string, std::string> read_config_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("config file " + path + ": cannot be read");
  std::map<std::string, std::string> out;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    auto t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    const auto sep = t.find_first_of("=:");
    if (sep == std::string::npos) {
      throw Error("config file " + path + ":" + std::to_string(n) + ": expected key = value");
    }
    std::string key = trim(t.substr(0, sep));
    for (char& c : key) {
      if (c == '-') c = '_';
    }
    std::string value = trim(t.substr(sep + 1));
    if (value.size() >= 2 && (value[0] == '"' || value[0] == '\'') && value.back() == value[0]) {
      value = value.substr(1, value.size() - 2);
    }
    bool known = false;
    for (const auto& s : settings()) known = known || s.name == key;
    if (!known) {
      throw Error("config file " + path + ":" + std::to_string(n) + ": unknown setting '" + key +
                  "'");
    }
    out[key] = value;
  }
  return out;
}

namespace {

// ${NAME:default} -> the variable's value, else the default (LLM Guard's config syntax).
std::string expand_env(const std::string& v) {
  if (v.size() < 4 || v.compare(0, 2, "${") != 0 || v.back() != '}') return v;
  const std::string inner = v.substr(2, v.size() - 3);
  const auto colon = inner.find(':');
  const std::string name = inner.substr(0, colon);
  if (const char* e = std::getenv(name.c_str()); e != nullptr) return e;
  return colon == std::string::npos ? "" : inner.substr(colon + 1);
}

std::string unquote(std::string v) {
  v = trim(v);
  if (v.size() >= 2 && (v[0] == '"' || v[0] == '\'') && v.back() == v[0]) {
    v = v.substr(1, v.size() - 2);
  }
  return expand_env(v);
}

std::size_t indent_of(const std::string& line) {
  std::size_t i = 0;
  while (i < line.size() && line[i] == ' ') ++i;
  return i;
}

}  // namespace

std::map<std::string, std::string> read_llm_guard_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("LLM Guard config " + path + ": cannot be read");
  std::map<std::string, std::string> out;
  std::string line;
  std::string section;  // top-level key we are in
  bool in_no_refusal = false;
  std::size_t no_refusal_indent = 0;
  bool bearer = false;
  std::string token;
  std::string scanner_list;
  auto take_param = [&](const std::string& key, const std::string& value) {
    if (key == "threshold") out["threshold"] = value;
    if (key == "match_type") out["match_type"] = value;
    if (key == "model_max_length") {
      // LLM Guard only applies it when > 0.
      try {
        if (std::stol(value) > 0) out["max_length"] = value;
      } catch (const std::exception&) {
      }
    }
  };
  while (std::getline(in, line)) {
    const auto hash = line.find(" #");
    if (hash != std::string::npos) line = line.substr(0, hash);
    if (trim(line).empty() || trim(line)[0] == '#') continue;
    const std::size_t ind = indent_of(line);
    std::string t = trim(line);
    if (ind == 0) {
      section = t.substr(0, t.find(':'));
      in_no_refusal = false;
      continue;
    }
    if (section == "output_scanners" && t.rfind("- ", 0) == 0) {
      const std::string item = trim(t.substr(2));
      const std::string type =
          item.rfind("type", 0) == 0 ? unquote(item.substr(item.find(':') + 1)) : "";
      in_no_refusal = type == "NoRefusal";
      if (type == "NoRefusal" || type == "NoRefusalLight") {
        scanner_list += (scanner_list.empty() ? "" : ",") + type;
      }
      no_refusal_indent = ind;
      continue;
    }
    if (in_no_refusal && ind > no_refusal_indent) {
      const auto colon = t.find(':');
      if (colon == std::string::npos) continue;
      const std::string key = trim(t.substr(0, colon));
      std::string value = trim(t.substr(colon + 1));
      if (key == "params" && !value.empty() && value.front() == '{' && value.back() == '}') {
        // params: {threshold: 0.9, match_type: sentence}
        std::string body = value.substr(1, value.size() - 2) + ",";
        std::string cur;
        for (char c : body) {
          if (c == ',') {
            const auto c2 = cur.find(':');
            if (c2 != std::string::npos)
              take_param(trim(cur.substr(0, c2)), unquote(cur.substr(c2 + 1)));
            cur.clear();
          } else {
            cur += c;
          }
        }
      } else if (!value.empty()) {
        take_param(key, unquote(value));
      }
      continue;
    }
    const auto colon = t.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = trim(t.substr(0, colon));
    const std::string value = unquote(t.substr(colon + 1));
    if (section == "auth" && key == "type") bearer = value == "http_bearer";
    if (section == "auth" && key == "token") token = value;
    if (section == "app" && key == "scan_output_timeout" && !value.empty()) {
      out["request_timeout"] = value;
    }
    if (section == "app" && key == "scan_fail_fast" && !value.empty()) out["fail_fast"] = value;
  }
  if (!scanner_list.empty()) out["scanners"] = scanner_list;
  if (bearer) {
    if (token.empty()) {
      throw Error("LLM Guard config " + path +
                  ": auth type http_bearer with an empty token would refuse every request "
                  "(set the token, e.g. AUTH_TOKEN)");
    }
    out["api_keys"] = token;
  }
  return out;
}

ServerConfig load_config(const std::string& file,
                         const std::map<std::string, std::string>& overrides) {
  ServerConfig config;
  std::map<std::string, std::string> from_file;
  if (!file.empty()) from_file = read_config_file(file);
  // Where is llm_guard_config given? The last source that sets it wins.
  std::string llm_guard_file;
  if (auto it = from_file.find("llm_guard_config"); it != from_file.end())
    llm_guard_file = it->second;
  if (const char* v = std::getenv(env_name("llm_guard_config").c_str()); v != nullptr) {
    llm_guard_file = v;
  }
  if (auto it = overrides.find("llm_guard_config"); it != overrides.end())
    llm_guard_file = it->second;
  for (const auto& [k, v] : from_file) apply_setting(config, k, v);
  if (!llm_guard_file.empty()) {
    for (const auto& [k, v] : read_llm_guard_config(llm_guard_file)) apply_setting(config, k, v);
  }
  for (const auto& s : settings()) {
    if (const char* v = std::getenv(env_name(s.name).c_str()); v != nullptr) {
      apply_setting(config, s.name, v);
    }
  }
  for (const auto& [k, v] : overrides) apply_setting(config, k, v);
  return config;
}

}  // namespace refusal::server
