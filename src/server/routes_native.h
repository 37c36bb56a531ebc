// The native API: POST /v1/classify takes a batch of texts with `refusal classify`'s options
// and returns its records (io::verdict_record, io::keyword_record); `sentences: true` adds
// every sentence's own score (the web page highlights them). Errors are {"error","error_type"}.
// The route goes parse -> handle -> render.
#pragma once

#include <chrono>
#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "refusal/classifier.h"
#include "refusal/model.h"
#include "refusal/scanner_rules.h"
#include "server/auth.h"
#include "server/config.h"
#include "server/http_types.h"

namespace refusal::server {

class Services;

struct NativeRequest {
  std::vector<std::string> texts;
  Preset preset = Preset::kDefault;
  MatchMode match = MatchMode::kFull;
  LongTextMode long_text = LongTextMode::kTruncate;
  std::optional<double> threshold;        // unset: the preset's
  std::optional<std::size_t> max_length;  // unset: the preset's, else the model's
  std::size_t stride = 0;
  bool explain = false;
  bool raw_scores = false;
  bool sentences = false;
};

struct NativeLimits {
  std::size_t max_batch_texts = 256;
  std::size_t max_text_chars = 100000;
};

NativeLimits native_limits(const ServerConfig& config);

// The request, or the API's error: 400 invalid_json (not UTF-8, malformed), 422 validation
// (not an object, unknown field, wrong type, a value out of range, more than max_batch_texts
// texts), 413 validation (a text over max_text_chars).
Parsed<NativeRequest> parse_native_request(std::string_view body, const NativeLimits& limits);

struct SentenceResult {
  Sentence sentence;
  TextResult result;  // the sentence classified as a text of its own
};

struct NativeResult {
  std::optional<ApiError> error;  // validation (422), overloaded (429), timeout (408)
  std::vector<TextResult> texts;  // one per text; empty for the keywords preset
  std::vector<std::vector<SentenceResult>> sentences;  // per text, with `sentences: true`
};

// Classifies the texts (and, when asked, each of their sentences) through the batcher and the
// cache. The keywords preset needs no model: nothing to do here.
NativeResult handle_native(const NativeRequest& request, Services& services,
                           std::chrono::steady_clock::time_point deadline);

// {"results":[record,…]}: for each text `refusal classify`'s record (text first), an "error"
// field in place of the verdict for a text that failed, then its "sentences"; or the error of
// a failed result.
HttpResponse render_native(const NativeRequest& request, const NativeResult& result,
                           const ModelConfig& model);

// 401 unauthorized, with WWW-Authenticate: Bearer.
HttpResponse native_auth_failure(AuthResult result);
// {"error":"<reason phrase>","error_type":"http"}.
HttpResponse native_http_error(int status);

// The route table's entries.
HttpResponse answer_classify(const HttpRequestView& request, Services& services);
nlohmann::ordered_json native_openapi(const ServerConfig& config);

}  // namespace refusal::server
