// LLM Guard API (llm_guard_api 0.0.10): POST /analyze/output, POST /scan/output, GET /healthz,
// GET /readyz, answered byte for byte as its FastAPI app does (tests/data/server/
// llm_guard_api.vectors.json holds the recorded answers), with the NoRefusal and (when
// configured) NoRefusalLight output scanners. Each POST goes parse -> handle -> render.
#pragma once

#include <chrono>
#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/auth.h"
#include "server/config.h"
#include "server/http_types.h"

namespace refusal::server {

class Services;

struct LlmGuardRequest {
  std::string prompt;
  std::string output;
  std::vector<std::string> scanners_suppress;
};

// FastAPI's decoding of the body, which comes before the key check: 400 for a body that is not
// UTF-8 (or nests deeper than Python's json can), 422 json_invalid with CPython's message and
// position for malformed JSON; nothing when the body decodes. A Content-Type other than
// (absent,) application/json or */*+json hands the raw bytes on.
std::optional<HttpResponse> llm_guard_body_error(std::string_view body,
                                                 std::string_view content_type);

// The request: the body decoded as above, then validated as pydantic does (422 with its error
// details: missing, string_type, list_type, model_attributes_type; a text over max_text_chars
// is string_too_long).
Parsed<LlmGuardRequest> parse_llm_guard_request(std::string_view body,
                                                std::string_view content_type,
                                                std::size_t max_text_chars);

enum class LlmGuardRoute { kAnalyzeOutput, kScanOutput };

struct LlmGuardResult {
  enum class Status { kOk, kQueueFull, kTimeout, kFailed } status = Status::kOk;
  bool is_valid = true;
  std::vector<std::pair<std::string, double>> scanners;  // name, risk score; in the order run
  int retry_after = 1;                                   // seconds, with kQueueFull
};

// Runs the configured output scanners (NoRefusal through the batcher, NoRefusalLight) over the
// output as /analyze/output (LLM Guard's scan_output) or /scan/output (its gather) does.
LlmGuardResult handle_llm_guard(const LlmGuardRequest& request, LlmGuardRoute route,
                                Services& services, std::chrono::steady_clock::time_point deadline);

// {"is_valid":…,"scanners":{…}[,"sanitized_output":…]}, or the error of a failed result.
HttpResponse render_llm_guard(const LlmGuardRequest& request, LlmGuardRoute route,
                              const LlmGuardResult& result);

// {"message":…,"details":null}: 403 Not authenticated / Invalid authentication credentials,
// 401 Invalid API key.
HttpResponse llm_guard_auth_failure(AuthResult result);
// {"message":"<reason phrase>","details":null}.
HttpResponse llm_guard_http_error(int status);

// The route table's entries.
HttpResponse answer_analyze_output(const HttpRequestView& request, Services& services);
HttpResponse answer_scan_output(const HttpRequestView& request, Services& services);
HttpResponse answer_healthz(const HttpRequestView& request, Services& services);
HttpResponse answer_readyz(const HttpRequestView& request, Services& services);
std::optional<HttpResponse> llm_guard_before_auth(const HttpRequestView& request);
nlohmann::ordered_json llm_guard_openapi(const ServerConfig& config);

}  // namespace refusal::server
