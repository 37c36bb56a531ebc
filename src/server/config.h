// `refusal serve` settings: defaults, then a config file, then REFUSAL_SERVE_* environment
// variables, then command-line flags (each later source wins). One table lists every setting,
// so the file keys, the variables and the flags can never drift apart.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace refusal::server {

struct ServerConfig {
  // Listening and the model.
  std::string host = "127.0.0.1";
  int port = 8000;
  std::string model;
  int threads = 0;  // engine threads; 0: the CPUs this process may use
  std::string dtype = "fp32";
  // Auth: Bearer keys, any of which is accepted. None: no auth.
  std::vector<std::string> api_keys;
  // LLM Guard's NoRefusal scanner (its scanners.yml params). Unset: the llm-guard preset's
  // (refusal/classifier.h: threshold 0.75, 128 tokens per model input).
  std::optional<double> threshold;
  std::string match_type = "full";        // full | sentence
  std::optional<std::size_t> max_length;  // tokens per model input
  bool fail_fast = false;                 // scan_fail_fast: stop at the first invalid scanner
  // The LLM Guard output scanners, in order: NoRefusal and/or NoRefusalLight.
  std::vector<std::string> scanners = {"NoRefusal"};
  // TEI /predict.
  std::size_t max_client_batch_size = 32;
  bool auto_truncate = false;
  // Limits.
  std::size_t max_body_bytes = 4u << 20;  // request body
  std::size_t max_text_chars = 100000;    // code points per text
  std::size_t max_batch_texts = 256;      // texts per /v1/classify request
  double request_timeout = 30.0;          // s, queue + compute (LLM Guard: 30) -> 408
  double read_timeout = 5.0;              // s without a byte from the client
  double write_timeout = 5.0;             // s without the client taking a byte
  double request_read_timeout = 10.0;     // s to receive one whole request
  double keep_alive_timeout = 5.0;        // s an idle keep-alive connection is kept
  std::size_t keep_alive_max = 1000;      // requests per connection
  std::size_t http_threads = 64;          // requests read and answered at once
  // Dynamic batching.
  std::size_t queue_capacity = 1024;  // texts waiting; beyond: 429 + Retry-After
  std::size_t batch_tokens = 16384;   // estimated tokens per scheduled batch
  std::size_t batch_max_texts = 256;  // texts per scheduled batch
  double batch_wait_ms = 0.0;         // linger for more requests when below budget
  std::size_t cache_size = 10000;     // LRU result cache entries; 0: off
  std::string llm_guard_config;       // an LLM Guard scanners.yml to read
  // Logging.
  bool access_log = true;  // one JSON line per request on stderr
  // Stopping (SIGTERM / SIGINT): not ready at once, serve on for shutdown_delay s (load
  // balancers stop routing meanwhile), stop accepting, then drain for up to drain_timeout s.
  double shutdown_delay = 0.0;
  double drain_timeout = 0.0;  // 0: until every accepted request is answered
};

struct SettingInfo {
  std::string name;  // file key; flag --name-with-dashes; env REFUSAL_SERVE_NAME
  std::string help;
};

// Every setting, in --help order.
const std::vector<SettingInfo>& settings();

// Sets one setting from its text form; throws refusal::Error naming the setting.
void apply_setting(ServerConfig& config, const std::string& name, const std::string& value);

// The text form of a setting's current value (for --help defaults and the startup log).
std::string setting_value(const ServerConfig& config, const std::string& name);

// Reads `key = value` or `key: value` lines ('#' comments, blank lines, optional quotes).
// Unknown keys are errors that name the file and line.
std::map<std::string, std::string> read_config_file(const std::string& path);

// The environment variable of a setting: REFUSAL_SERVE_ + upper-case name.
std::string env_name(const std::string& name);

// The settings an LLM Guard API config (its scanners.yml) gives: the NoRefusal scanner's
// params (threshold, match_type, model_max_length), the bearer token, scan_output_timeout and
// scan_fail_fast. Values may use its ${ENV:default} form. Only what refusal serve uses is read.
std::map<std::string, std::string> read_llm_guard_config(const std::string& path);

// defaults <- file (if non-empty path) <- environment <- `overrides` (flags given). The
// `llm_guard_config` setting, from any of them, is read where it is given: its values sit
// between the file's and the environment's.
ServerConfig load_config(const std::string& file,
                         const std::map<std::string, std::string>& overrides);

}  // namespace refusal::server
