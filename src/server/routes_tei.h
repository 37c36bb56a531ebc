// Hugging Face text-embeddings-inference's classifier API: POST /predict, GET /health,
// GET /info, with TEI's request forms (a text, a pair, a batch of texts and pairs), its
// response shape (every label, highest score first, f32 scores as serde_json writes them) and
// its errors ({"error","error_type"}: 413 validation, 429 overloaded, 424 backend; axum's
// plain-text 400 / 415 / 422 for requests it cannot read). /predict goes parse -> handle ->
// render.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "refusal/engine.h"
#include "refusal/model.h"
#include "server/auth.h"
#include "server/config.h"
#include "server/http_types.h"

namespace refusal::server {

class Services;

struct TeiInput {
  std::string first;
  std::optional<std::string> second;  // a pair: <s> first </s></s> second </s>
};

struct TeiRequest {
  std::vector<TeiInput> inputs;
  bool batch = false;  // [[...], ...]: the answer is a list of answers
  bool truncate = false;
  bool truncate_left = false;  // truncation_direction "Left"
  bool raw_scores = false;
  std::size_t chars = 0;  // code points of all inputs (x-compute-characters)
};

struct TeiLimits {
  std::size_t max_client_batch_size = 32;
  std::size_t max_text_chars = 100000;
  bool auto_truncate = false;  // `truncate` when the request does not say
};

TeiLimits tei_limits(const ServerConfig& config);

// The request, or TEI's answer to a bad one: 415 without an application/json Content-Type,
// 400 malformed JSON, 422 wrong shapes or types (plain text, as axum's Json rejection), 413
// validation errors in JSON (too many inputs, an empty or too long text).
Parsed<TeiRequest> parse_tei_request(std::string_view body, std::string_view content_type,
                                     const TeiLimits& limits);

struct TeiResult {
  std::optional<ApiError> error;        // validation (413), overloaded (429), backend (408, 424)
  std::vector<Classification> outputs;  // one per input
  std::size_t tokens = 0;               // x-compute-tokens
};

// Tokenizes the inputs here (the HTTP threads are TEI's tokenization workers; too many tokens
// without `truncate` is a 413), then runs the ids through the batcher and the cache.
TeiResult handle_tei(const TeiRequest& request, Services& services,
                     std::chrono::steady_clock::time_point deadline);

// [{"score","label"},…] per input (a list of those for a batch) with TEI's x-compute-*
// headers, or the error of a failed result; 424 when a score is NaN.
HttpResponse render_tei(const TeiRequest& request, const TeiResult& result,
                        std::span<const std::string> labels);

// GET /info: TEI's Info fields for this model and these settings.
HttpResponse render_tei_info(const ServerConfig& config, const ModelConfig& model, DType dtype);

// 401, empty body (TEI's auth layer).
HttpResponse tei_auth_failure(AuthResult result);
// Empty bodies as axum's, but 413 {"error":"Payload Too Large","error_type":"validation"}.
HttpResponse tei_http_error(int status);

// The route table's entries.
HttpResponse answer_predict(const HttpRequestView& request, Services& services);
HttpResponse answer_health(const HttpRequestView& request, Services& services);
HttpResponse answer_info(const HttpRequestView& request, Services& services);
nlohmann::ordered_json tei_openapi(const ServerConfig& config);

}  // namespace refusal::server
