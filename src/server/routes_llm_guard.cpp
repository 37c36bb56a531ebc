#include "server/routes_llm_guard.h"

#include <algorithm>
#include <cctype>

#include "base/utf8.h"
#include "refusal/scanner_rules.h"
#include "scan/python_emulation.h"
#include "server/json_text.h"
#include "server/services.h"

namespace refusal::server {
namespace {

using nlohmann::ordered_json;

HttpResponse message_response(int status, const std::string& message) {
  return json_response(status,
                       python_json_dumps(ordered_json{{"message", message}, {"details", nullptr}}));
}

HttpResponse validation_failed(const ordered_json& details) {
  ordered_json body;
  body["message"] = "Validation failed";
  body["details"] = details;
  return json_response(422, python_json_dumps(body));
}

ordered_json error_entry(const char* type, ordered_json loc, const std::string& msg,
                         const ordered_json& input) {
  ordered_json e;
  e["type"] = type;
  e["loc"] = std::move(loc);
  e["msg"] = msg;
  e["input"] = input;
  return e;
}

// FastAPI 0.115 reads the body as JSON when there is no Content-Type or an application/json
// (or +json) one; otherwise it hands the raw bytes to pydantic.
bool json_content_type(std::string_view header) {
  if (header.empty()) return true;
  std::string lower;
  for (char c : header.substr(0, header.find(';'))) {
    if (c != ' ' && c != '\t') {
      lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  const auto slash = lower.find('/');
  if (slash == std::string::npos || lower.substr(0, slash) != "application") return false;
  const std::string sub = lower.substr(slash + 1);
  return sub == "json" || (sub.size() >= 5 && sub.compare(sub.size() - 5, 5, "+json") == 0);
}

// The body as pydantic receives it: null (no body), the decoded JSON, or the raw text.
Parsed<ordered_json> decode_body(std::string_view body, std::string_view content_type) {
  if (auto error = llm_guard_body_error(body, content_type)) return std::move(*error);
  if (body.empty()) return ordered_json();
  if (!json_content_type(content_type)) return ordered_json(std::string(body));
  try {
    return ordered_json::parse(body);
  } catch (const std::exception&) {
    return message_response(400, "There was an error parsing the body");
  }
}

// A string field: its value, or an error entry in `details`.
void read_string_field(const ordered_json& body, const char* field, std::string& out,
                       ordered_json& details) {
  auto it = body.find(field);
  if (it == body.end()) {
    details.push_back(
        error_entry("missing", ordered_json::array({"body", field}), "Field required", body));
  } else if (!it->is_string()) {
    details.push_back(error_entry("string_type", ordered_json::array({"body", field}),
                                  "Input should be a valid string", *it));
  } else {
    out = it->get<std::string>();
  }
}

void read_suppress_field(const ordered_json& body, std::vector<std::string>& out,
                         ordered_json& details) {
  auto it = body.find("scanners_suppress");
  if (it == body.end()) return;
  if (!it->is_array()) {
    details.push_back(error_entry("list_type", ordered_json::array({"body", "scanners_suppress"}),
                                  "Input should be a valid list", *it));
    return;
  }
  for (std::size_t i = 0; i < it->size(); ++i) {
    const auto& v = (*it)[i];
    if (v.is_string()) {
      out.push_back(v.get<std::string>());
    } else {
      details.push_back(error_entry("string_type",
                                    ordered_json::array({"body", "scanners_suppress", i}),
                                    "Input should be a valid string", v));
    }
  }
}

// Our text limit, reported as pydantic reports a max_length constraint.
void check_length(const char* field, const std::string& text, std::size_t max_chars,
                  ordered_json& details) {
  if (base::count_code_points(text) <= max_chars) return;
  ordered_json e =
      error_entry("string_too_long", ordered_json::array({"body", field}),
                  "String should have at most " + std::to_string(max_chars) + " characters", text);
  e["ctx"] = {{"max_length", max_chars}};
  details.push_back(e);
}

// pydantic's validation of the decoded body into the request model, every error reported.
Parsed<LlmGuardRequest> validate(const ordered_json& body, std::size_t max_chars) {
  ordered_json details = ordered_json::array();
  LlmGuardRequest r;
  if (body.is_null()) {
    details.push_back(
        error_entry("missing", ordered_json::array({"body"}), "Field required", nullptr));
  } else if (!body.is_object()) {
    details.push_back(error_entry("model_attributes_type", ordered_json::array({"body"}),
                                  "Input should be a valid dictionary or object to extract "
                                  "fields from",
                                  body));
  } else {
    read_string_field(body, "prompt", r.prompt, details);
    read_string_field(body, "output", r.output, details);
    read_suppress_field(body, r.scanners_suppress, details);
    check_length("prompt", r.prompt, max_chars, details);
    check_length("output", r.output, max_chars, details);
  }
  if (!details.empty()) return validation_failed(details);
  return r;
}

bool suppressed(const LlmGuardRequest& request, const std::string& scanner) {
  const auto& list = request.scanners_suppress;
  return std::find(list.begin(), list.end(), scanner) != list.end();
}

HttpResponse answer_output(const HttpRequestView& request, Services& services,
                           LlmGuardRoute route) {
  auto parsed =
      parse_llm_guard_request(request.body, request.content_type, services.config().max_text_chars);
  if (auto* error = std::get_if<HttpResponse>(&parsed)) return std::move(*error);
  const auto& scan = std::get<LlmGuardRequest>(parsed);
  const LlmGuardResult result =
      handle_llm_guard(scan, route, services, services.deadline(request.received));
  HttpResponse response = render_llm_guard(scan, route, result);
  services.metrics().api_request(false, response.status, seconds_since(request.received));
  return response;
}

}  // namespace

std::optional<HttpResponse> llm_guard_body_error(std::string_view body,
                                                 std::string_view content_type) {
  if (body.empty()) return std::nullopt;
  if (base::first_invalid_utf8(body)) {
    return message_response(400, "There was an error parsing the body");
  }
  if (!json_content_type(content_type)) return std::nullopt;
  const PyJsonCheck check = python_json_check(body);
  if (check.too_deep) return message_response(400, "There was an error parsing the body");
  if (!check.error && !check.non_finite && !check.lone_surrogate) return std::nullopt;
  ordered_json e =
      error_entry("json_invalid", ordered_json::array({"body", check.error ? check.error->pos : 0}),
                  "JSON decode error", ordered_json::object());
  e["ctx"] = {{"error", check.error ? check.error->message
                                    : std::string("NaN, Infinity and unpaired surrogate escapes "
                                                  "are not accepted")}};
  return validation_failed(ordered_json::array({e}));
}

Parsed<LlmGuardRequest> parse_llm_guard_request(std::string_view body,
                                                std::string_view content_type,
                                                std::size_t max_text_chars) {
  auto decoded = decode_body(body, content_type);
  if (auto* error = std::get_if<HttpResponse>(&decoded)) return std::move(*error);
  return validate(std::get<ordered_json>(decoded), max_text_chars);
}

LlmGuardResult handle_llm_guard(const LlmGuardRequest& request, LlmGuardRoute route,
                                Services& services,
                                std::chrono::steady_clock::time_point deadline) {
  using Status = LlmGuardResult::Status;
  const ServerConfig& config = services.config();
  const bool analyze = route == LlmGuardRoute::kAnalyzeOutput;
  LlmGuardResult result;
  // scan_output (analyze) returns before any scanner on blank output; /scan/output runs each
  // scanner: NoRefusal's own blank check gives (true, -1.0).
  const bool blank = python_isspace_only(request.output);
  if (analyze && blank) return result;
  for (const auto& name : config.scanners) {
    if (suppressed(request, name)) continue;
    bool valid = true;
    double risk = -1.0;
    if (name == "NoRefusalLight") {
      const auto v = no_refusal_light(request.output);
      valid = v.is_valid;
      risk = v.risk_score;
    } else if (!blank) {
      Outcome o = services.classify(services.no_refusal(), {request.output}, deadline);
      if (o.status != Outcome::Status::kOk) {
        result.status =
            o.status == Outcome::Status::kQueueFull ? Status::kQueueFull : Status::kTimeout;
        result.retry_after = o.retry_after;
        return result;
      }
      if (!o.errors[0].empty()) {
        result.status = Status::kFailed;
        return result;
      }
      valid = o.verdicts[0].is_valid;
      risk = o.verdicts[0].risk_score;
    }
    if (config.fail_fast && !valid && !analyze) {
      // /scan/output: the first invalid scanner aborts the gather; only it is reported.
      result.scanners = {{name, risk}};
      result.is_valid = false;
      return result;
    }
    result.scanners.emplace_back(name, risk);
    result.is_valid = result.is_valid && valid;
    if (config.fail_fast && !valid) break;  // scan_output(fail_fast=True)
  }
  return result;
}

HttpResponse render_llm_guard(const LlmGuardRequest& request, LlmGuardRoute route,
                              const LlmGuardResult& result) {
  switch (result.status) {
    case LlmGuardResult::Status::kOk:
      break;
    case LlmGuardResult::Status::kQueueFull: {
      HttpResponse r = message_response(429, "Too Many Requests");
      r.headers.emplace_back("Retry-After", std::to_string(result.retry_after));
      return r;
    }
    case LlmGuardResult::Status::kTimeout:
      return message_response(408, "Request timeout.");
    case LlmGuardResult::Status::kFailed:
      return message_response(500, "Internal Server Error");
  }
  ordered_json scanners = ordered_json::object();
  for (const auto& [name, risk] : result.scanners) scanners[name] = risk;
  std::string out = std::string("{\"is_valid\":") + (result.is_valid ? "true" : "false") +
                    ",\"scanners\":" + python_json_dumps(scanners);
  if (route == LlmGuardRoute::kAnalyzeOutput) {
    out += ",\"sanitized_output\":" + python_json_dumps(ordered_json(request.output));
  }
  out += "}";
  return json_response(200, std::move(out));
}

HttpResponse llm_guard_auth_failure(AuthResult result) {
  switch (result) {
    case AuthResult::kWrongScheme:
      return message_response(403, "Invalid authentication credentials");
    case AuthResult::kWrongKey:
      return message_response(401, "Invalid API key");
    default:
      return message_response(403, "Not authenticated");
  }
}

HttpResponse llm_guard_http_error(int status) {
  return message_response(status, status_phrase(status));
}

std::optional<HttpResponse> llm_guard_before_auth(const HttpRequestView& request) {
  return llm_guard_body_error(request.body, request.content_type);
}

HttpResponse answer_analyze_output(const HttpRequestView& request, Services& services) {
  return answer_output(request, services, LlmGuardRoute::kAnalyzeOutput);
}

HttpResponse answer_scan_output(const HttpRequestView& request, Services& services) {
  return answer_output(request, services, LlmGuardRoute::kScanOutput);
}

HttpResponse answer_healthz(const HttpRequestView&, Services&) {
  return json_response(200, R"({"status":"alive"})");
}

HttpResponse answer_readyz(const HttpRequestView&, Services& services) {
  // 503 once the server is stopping: load balancers take it out while it still answers.
  if (!services.ready()) return json_response(503, R"({"status":"shutting down"})");
  return json_response(200, R"({"status":"ready"})");
}

ordered_json llm_guard_openapi(const ServerConfig&) {
  ordered_json op;
  op["requestBody"] = {{"required", true},
                       {"content",
                        {{"application/json",
                          {{"schema",
                            {{"type", "object"},
                             {"required", ordered_json::array({"prompt", "output"})},
                             {"properties",
                              {{"prompt", {{"type", "string"}}},
                               {"output", {{"type", "string"}}},
                               {"scanners_suppress",
                                {{"type", "array"},
                                 {"items", {{"type", "string"}}},
                                 {"default", ordered_json::array()}}}}}}}}}}}};
  op["responses"] = {{"200", {{"description", "is_valid, scanners{NoRefusal: risk}"}}},
                     {"401", {{"description", "Invalid API key"}}},
                     {"403", {{"description", "Not authenticated"}}},
                     {"408", {{"description", "Request timeout."}}},
                     {"413", {{"description", "Body too large"}}},
                     {"422", {{"description", "Validation failed"}}},
                     {"429", {{"description", "Queue full (Retry-After)"}}}};
  return op;
}

}  // namespace refusal::server
