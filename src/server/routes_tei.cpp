#include "server/routes_tei.h"

#include <algorithm>
#include <cmath>

#include "base/utf8.h"
#include "refusal/tokenizer.h"
#include "refusal/version.h"
#include "server/json_text.h"
#include "server/services.h"

namespace refusal::server {
namespace {

using nlohmann::ordered_json;

HttpResponse tei_error(int status, const std::string& error, const std::string& type) {
  return api_error_response({status, error, type});
}

constexpr std::string_view kDeserializePrefix =
    "Failed to deserialize the JSON body into the target type: ";

HttpResponse deserialize_error(const std::string& what) {
  return text_response(422, std::string(kDeserializePrefix) + what);
}

std::optional<std::string> read_pair_or_text(const ordered_json& v, TeiInput& out) {
  for (const auto& e : v) {
    if (!e.is_string()) return std::string("inputs: invalid type, expected a string");
  }
  out.first = v[0].get<std::string>();
  if (v.size() == 2) out.second = v[1].get<std::string>();
  return std::nullopt;
}

// serde's PredictInput: "a" | ["a"] | ["a","b"] (one pair) | [["a"],["a","b"],...] (batch).
std::optional<std::string> read_inputs(const ordered_json& v, TeiRequest& r) {
  const std::string expecting =
      "a string, a pair of strings [string, string] or a batch of mixed strings and pairs "
      "[[string], [string, string], ...]";
  if (v.is_string()) {
    r.inputs.push_back({v.get<std::string>(), std::nullopt});
    return std::nullopt;
  }
  if (!v.is_array()) return "inputs: invalid type, expected " + expecting;
  if (v.empty()) return "inputs: invalid length 0, expected " + expecting;
  if (v[0].is_string()) {
    if (v.size() > 2) return "inputs: invalid length 3, expected " + expecting;
    r.inputs.emplace_back();
    return read_pair_or_text(v, r.inputs.back());
  }
  r.batch = true;
  for (const auto& e : v) {
    if (!e.is_array()) return std::string("inputs: invalid type, expected a sequence");
    if (e.size() != 1 && e.size() != 2) {
      return "inputs: invalid length " + std::to_string(e.size()) + ", expected " + expecting;
    }
    r.inputs.emplace_back();
    if (auto err = read_pair_or_text(e, r.inputs.back())) return err;
  }
  return std::nullopt;
}

// truncate, raw_scores, truncation_direction (null: the default).
std::optional<std::string> read_options(const ordered_json& body, TeiRequest& r) {
  for (const char* key : {"truncate", "raw_scores"}) {
    auto f = body.find(key);
    if (f == body.end() || f->is_null()) continue;
    if (!f->is_boolean()) return std::string(key) + ": invalid type, expected a boolean";
    (std::string_view(key) == "truncate" ? r.truncate : r.raw_scores) = f->get<bool>();
  }
  if (auto f = body.find("truncation_direction"); f != body.end() && !f->is_null()) {
    if (!f->is_string() || (*f != "Left" && *f != "Right")) {
      return std::string("truncation_direction: unknown variant, expected `Left` or `Right`");
    }
    r.truncate_left = *f == "Left";
  }
  return std::nullopt;
}

// TEI's validation before tokenizing: batch size, empty texts, our text limit.
std::optional<HttpResponse> check_limits(TeiRequest& r, const TeiLimits& limits) {
  if (r.batch && r.inputs.size() > limits.max_client_batch_size) {
    return tei_error(413,
                     "batch size " + std::to_string(r.inputs.size()) +
                         " > maximum allowed batch size " +
                         std::to_string(limits.max_client_batch_size),
                     "validation");
  }
  for (const auto& in : r.inputs) {
    if (in.first.empty() && (!in.second || in.second->empty())) {
      return tei_error(413, "Input validation error: `inputs` cannot be empty", "validation");
    }
    const std::size_t n =
        base::count_code_points(in.first) + (in.second ? base::count_code_points(*in.second) : 0);
    if (n > limits.max_text_chars) {
      return tei_error(413,
                       "Input validation error: `inputs` must have less than " +
                           std::to_string(limits.max_text_chars) + " characters",
                       "validation");
    }
    r.chars += n;
  }
  return std::nullopt;
}

// The input's ids; nullopt (with `error` set) when it is too long and may not be truncated.
std::optional<std::vector<std::int32_t>> tokenize(const Tokenizer& tokenizer, const TeiInput& in,
                                                  const TeiRequest& r, std::size_t max_input,
                                                  std::optional<ApiError>& error) {
  EncodeOptions eo;
  eo.max_length = kNoTruncation;
  eo.with_tokens = false;
  auto encode = [&] {
    return in.second ? tokenizer.encode_pair(in.first, *in.second, eo).ids
                     : tokenizer.encode(in.first, eo).ids;
  };
  std::vector<std::int32_t> ids = encode();
  if (ids.size() <= max_input) return ids;
  if (!r.truncate) {
    error =
        ApiError{413,
                 "Input validation error: `inputs` must have less than " +
                     std::to_string(max_input) + " tokens. Given: " + std::to_string(ids.size()),
                 "validation"};
    return std::nullopt;
  }
  if (r.truncate_left && !in.second) {  // keep <s> and the last max_input - 1 ids
    std::vector<std::int32_t> cut = {ids.front()};
    cut.insert(cut.end(), ids.end() - static_cast<std::ptrdiff_t>(max_input - 1), ids.end());
    return cut;
  }
  eo.max_length = max_input;
  return encode();
}

std::string cache_key(const std::vector<std::int32_t>& ids) {
  std::string key = "tei|" + std::to_string(ids.size()) + "|";
  for (auto id : ids) key += std::to_string(id) + ",";
  return key;
}

// Every label, highest score first (TEI: a stable ascending sort, then reversed).
std::string render_scores(std::span<const float> scores, std::span<const std::string> labels) {
  std::vector<std::size_t> order(scores.size());
  for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
  std::reverse(order.begin(), order.end());
  std::string out = "[";
  for (std::size_t k = 0; k < order.size(); ++k) {
    if (k > 0) out += ",";
    out += "{\"score\":" + format_f32(scores[order[k]]) +
           ",\"label\":" + ordered_json(labels[order[k]]).dump() + "}";
  }
  return out + "]";
}

const char* tei_dtype(DType d) {
  switch (d) {
    case DType::kBf16:
      return "bfloat16";
    case DType::kInt8:
      return "int8";
    default:
      return "float32";
  }
}

}  // namespace

TeiLimits tei_limits(const ServerConfig& config) {
  return {config.max_client_batch_size, config.max_text_chars, config.auto_truncate};
}

Parsed<TeiRequest> parse_tei_request(std::string_view body, std::string_view content_type,
                                     const TeiLimits& limits) {
  if (content_type.substr(0, 16) != "application/json") {
    return text_response(415, "Expected request with `Content-Type: application/json`");
  }
  if (base::first_invalid_utf8(body)) {
    return text_response(400, "Failed to parse the request body as JSON: invalid UTF-8");
  }
  ordered_json json;
  try {
    json = ordered_json::parse(body);
  } catch (const std::exception& e) {
    // nlohmann's "last read: '…'" may end inside a character: the answer must stay UTF-8.
    return text_response(
        400, "Failed to parse the request body as JSON: " + base::repair_utf8(e.what()));
  }
  if (!json.is_object()) return deserialize_error("invalid type, expected struct PredictRequest");
  auto inputs = json.find("inputs");
  if (inputs == json.end()) return deserialize_error("missing field `inputs`");
  TeiRequest r;
  r.truncate = limits.auto_truncate;
  if (auto err = read_inputs(*inputs, r)) return deserialize_error(*err);
  if (auto err = read_options(json, r)) return deserialize_error(*err);
  if (auto error = check_limits(r, limits)) return std::move(*error);
  return r;
}

TeiResult handle_tei(const TeiRequest& request, Services& services,
                     std::chrono::steady_clock::time_point deadline) {
  TeiResult result;
  const std::size_t max_input = static_cast<std::size_t>(services.engine().config().max_tokens());
  std::vector<std::vector<std::int32_t>> ids;
  std::vector<std::string> keys;
  for (const auto& in : request.inputs) {
    auto one = tokenize(services.tokenizer(), in, request, max_input, result.error);
    if (!one) return result;
    result.tokens += one->size();
    keys.push_back(cache_key(*one));
    ids.push_back(std::move(*one));
  }
  Outcome o = services.run_ids(std::move(ids), std::move(keys), deadline);
  if (o.status == Outcome::Status::kQueueFull) {
    result.error = ApiError{429, "Model is overloaded", "overloaded", o.retry_after};
  } else if (o.status == Outcome::Status::kTimeout) {
    result.error = ApiError{408, "Request timeout", "backend"};
  } else if (auto bad = std::find_if(o.errors.begin(), o.errors.end(),
                                     [](const std::string& e) { return !e.empty(); });
             bad != o.errors.end()) {
    result.error = ApiError{424, *bad, "backend"};
  } else {
    result.outputs = std::move(o.outputs);
  }
  return result;
}

HttpResponse render_tei(const TeiRequest& request, const TeiResult& result,
                        std::span<const std::string> labels) {
  if (result.error) return api_error_response(*result.error);
  std::string out = request.batch ? "[" : "";
  for (std::size_t i = 0; i < result.outputs.size(); ++i) {
    const auto& o = result.outputs[i];
    const std::vector<float>& scores = request.raw_scores ? o.logits : o.probabilities;
    if (std::any_of(scores.begin(), scores.end(), [](float s) { return std::isnan(s); })) {
      return tei_error(424, "score is NaN", "backend");
    }
    if (i > 0) out += ",";
    out += render_scores(scores, labels);
  }
  if (request.batch) out += "]";
  HttpResponse r = json_response(200, std::move(out));
  r.headers = {{"x-compute-type", "cpu"},
               {"x-compute-characters", std::to_string(request.chars)},
               {"x-compute-tokens", std::to_string(result.tokens)}};
  return r;
}

HttpResponse render_tei_info(const ServerConfig& config, const ModelConfig& model, DType dtype) {
  ordered_json id2label = ordered_json::object();
  ordered_json label2id = ordered_json::object();
  for (std::size_t i = 0; i < model.labels.size(); ++i) {
    id2label[std::to_string(i)] = model.labels[i];
    label2id[model.labels[i]] = i;
  }
  ordered_json info;
  info["model_id"] = config.model;
  info["model_sha"] = nullptr;
  info["model_dtype"] = tei_dtype(dtype);
  info["model_type"] = {{"classifier", {{"id2label", id2label}, {"label2id", label2id}}}};
  info["max_concurrent_requests"] = config.queue_capacity;
  info["max_input_length"] = model.max_tokens();
  info["max_batch_tokens"] = config.batch_tokens;
  info["max_batch_requests"] = config.batch_max_texts;
  info["max_client_batch_size"] = config.max_client_batch_size;
  info["auto_truncate"] = config.auto_truncate;
  info["tokenization_workers"] = config.http_threads;
  info["version"] = version();
  info["sha"] = nullptr;
  info["docker_label"] = nullptr;
  return json_response(200, info.dump());
}

HttpResponse tei_auth_failure(AuthResult) { return HttpResponse{.status = 401}; }

HttpResponse tei_http_error(int status) {
  if (status == 413) return tei_error(413, "Payload Too Large", "validation");
  return HttpResponse{.status = status};
}

HttpResponse answer_predict(const HttpRequestView& request, Services& services) {
  auto parsed =
      parse_tei_request(request.body, request.content_type, tei_limits(services.config()));
  if (auto* error = std::get_if<HttpResponse>(&parsed)) return std::move(*error);
  const auto& predict = std::get<TeiRequest>(parsed);
  const TeiResult result = handle_tei(predict, services, services.deadline(request.received));
  HttpResponse response = render_tei(predict, result, services.engine().config().labels);
  services.metrics().api_request(predict.batch, response.status, seconds_since(request.received));
  return response;
}

HttpResponse answer_health(const HttpRequestView&, Services&) { return HttpResponse{}; }

HttpResponse answer_info(const HttpRequestView&, Services& services) {
  return render_tei_info(services.config(), services.engine().config(), services.engine().dtype());
}

ordered_json tei_openapi(const ServerConfig& config) {
  ordered_json schema = {
      {"type", "object"},
      {"required", ordered_json::array({"inputs"})},
      {"properties",
       {{"inputs", {{"description", "a string, a pair [a, b], or a batch [[a], [a, b], ...]"}}},
        {"truncate", {{"type", "boolean"}, {"default", config.auto_truncate}}},
        {"truncation_direction",
         {{"type", "string"},
          {"enum", ordered_json::array({"Left", "Right"})},
          {"default", "Right"}}},
        {"raw_scores", {{"type", "boolean"}, {"default", false}}}}}};
  ordered_json op;
  op["requestBody"] = {{"required", true},
                       {"content", {{"application/json", {{"schema", schema}}}}}};
  op["responses"] = {{"200", {{"description", "[{score,label},...] or a list of them"}}},
                     {"400", {{"description", "Invalid JSON"}}},
                     {"401", {{"description", "Missing or wrong Bearer key"}}},
                     {"413", {{"description", "Validation error (too long, too many, empty)"}}},
                     {"422", {{"description", "Wrong types"}}},
                     {"429", {{"description", "Model is overloaded"}}}};
  return op;
}

}  // namespace refusal::server
