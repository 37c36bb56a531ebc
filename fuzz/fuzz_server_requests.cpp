// libFuzzer target: any bytes as the body (and Content-Type) of each HTTP route that reads
// one: LLM Guard's /analyze/output and /scan/output (parse_llm_guard_request, with the body
// check that runs before the key check), TEI's /predict (parse_tei_request), the native
// /v1/classify (parse_native_request), and any bytes as an Authorization header
// (check_bearer). Promises checked: a request is either parsed within its limits (texts valid
// UTF-8, no more texts or characters than allowed) or answered with a 4xx whose body is valid
// UTF-8 (JSON bodies parse); LLM Guard's answer echoes the output back intact.
//
// Input: byte 0 = route (0 LLM Guard, 1 TEI, 2 native, 3 the auth header); byte 1 = the
// Content-Type (an index into kContentTypes); the rest = the body.
#include <cstdint>
#include <string>
#include <variant>

#include "base/utf8.h"
#include "fuzz_support.h"
#include "server/auth.h"
#include "server/routes_llm_guard.h"
#include "server/routes_native.h"
#include "server/routes_tei.h"

namespace {

using namespace refusal::server;
using Json = nlohmann::ordered_json;

const char* const kContentTypes[] = {"application/json",
                                     "",
                                     "text/plain",
                                     "application/json; charset=utf-8",
                                     "application/vnd.api+json",
                                     "application/x-www-form-urlencoded",
                                     "*/*"};

constexpr std::size_t kMaxChars = 64;  // small, so the length limits are reached

bool valid_utf8(std::string_view s) { return !refusal::base::first_invalid_utf8(s); }

void check_error(const HttpResponse& r) {
  FUZZ_CHECK(r.status == 400 || r.status == 413 || r.status == 415 || r.status == 422);
  FUZZ_CHECK(valid_utf8(r.body));
  if (r.content_type.rfind("application/json", 0) == 0) {
    FUZZ_CHECK(Json::accept(r.body));
  }
}

void llm_guard(std::string_view body, std::string_view content_type) {
  if (auto early = llm_guard_body_error(body, content_type)) check_error(*early);
  auto parsed = parse_llm_guard_request(body, content_type, kMaxChars);
  if (auto* error = std::get_if<HttpResponse>(&parsed)) return check_error(*error);
  const auto& request = std::get<LlmGuardRequest>(parsed);
  FUZZ_CHECK(valid_utf8(request.prompt) && valid_utf8(request.output));
  FUZZ_CHECK(refusal::base::count_code_points(request.output) <= kMaxChars);
  for (const auto& s : request.scanners_suppress) FUZZ_CHECK(valid_utf8(s));
  LlmGuardResult result;
  result.is_valid = false;
  result.scanners = {{"NoRefusal", 1.0}};
  const HttpResponse r = render_llm_guard(request, LlmGuardRoute::kAnalyzeOutput, result);
  FUZZ_CHECK(r.status == 200 && valid_utf8(r.body));
  const Json answer = Json::parse(r.body);
  FUZZ_CHECK(answer.at("sanitized_output") == request.output);
}

void tei(std::string_view body, std::string_view content_type) {
  const TeiLimits limits{.max_client_batch_size = 4, .max_text_chars = kMaxChars};
  auto parsed = parse_tei_request(body, content_type, limits);
  if (auto* error = std::get_if<HttpResponse>(&parsed)) return check_error(*error);
  const auto& request = std::get<TeiRequest>(parsed);
  FUZZ_CHECK(!request.inputs.empty() && request.inputs.size() <= limits.max_client_batch_size);
  FUZZ_CHECK(request.batch || request.inputs.size() == 1);
  for (const auto& in : request.inputs) {
    FUZZ_CHECK(valid_utf8(in.first) && (!in.second || valid_utf8(*in.second)));
    FUZZ_CHECK(refusal::base::count_code_points(in.first) <= kMaxChars);
  }
}

void native(std::string_view body) {
  const NativeLimits limits{.max_batch_texts = 4, .max_text_chars = kMaxChars};
  auto parsed = parse_native_request(body, limits);
  if (auto* error = std::get_if<HttpResponse>(&parsed)) return check_error(*error);
  const auto& request = std::get<NativeRequest>(parsed);
  FUZZ_CHECK(request.texts.size() <= limits.max_batch_texts);
  for (const auto& t : request.texts) {
    FUZZ_CHECK(valid_utf8(t) && refusal::base::count_code_points(t) <= kMaxChars);
  }
  if (request.threshold) FUZZ_CHECK(*request.threshold >= 0.0 && *request.threshold <= 1.0);
}

void auth(std::string_view header) {
  static const std::string keys[] = {"secret-key-1", "k"};
  const AuthResult r = check_bearer(header, keys);
  const bool exact = header == "Bearer secret-key-1" || header == "Bearer k";
  if (exact) FUZZ_CHECK(r == AuthResult::kOk);
  if (r == AuthResult::kOk) {
    // Only a Bearer scheme (any case) and a configured key pass.
    const auto space = header.find(' ');
    FUZZ_CHECK(space == 6);
    const std::string_view key = header.substr(7);
    FUZZ_CHECK(key == keys[0] || key == keys[1]);
  }
  FUZZ_CHECK(check_bearer(header, {}) == AuthResult::kOk);  // no keys: no auth
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::string_view content_type =
      kContentTypes[data[1] % (sizeof kContentTypes / sizeof kContentTypes[0])];
  const std::string_view body(reinterpret_cast<const char*>(data + 2), size - 2);
  switch (data[0] % 4) {
    case 0:
      llm_guard(body, content_type);
      break;
    case 1:
      tei(body, content_type);
      break;
    case 2:
      native(body);
      break;
    default:
      auth(body);
  }
  return 0;
}
