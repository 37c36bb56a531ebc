#include "server/routes_native.h"

#include <algorithm>

#include "base/utf8.h"
#include "io/verdict_record.h"
#include "refusal/error.h"
#include "server/json_text.h"
#include "server/services.h"

namespace refusal::server {
namespace {

using nlohmann::ordered_json;

HttpResponse native_error(int status, const std::string& message, const std::string& type) {
  return api_error_response({status, message, type});
}

std::optional<std::string> read_texts(const ordered_json& body, std::size_t max_texts,
                                      NativeRequest& r) {
  if (body.contains("text") == body.contains("texts")) return "give either 'text' or 'texts'";
  if (body.contains("text")) {
    if (!body["text"].is_string()) return "'text' must be a string";
    r.texts.push_back(body["text"].get<std::string>());
    return std::nullopt;
  }
  const auto& t = body["texts"];
  if (!t.is_array()) return "'texts' must be an array of strings";
  if (t.size() > max_texts) {
    return "'texts' has " + std::to_string(t.size()) + " texts; at most " +
           std::to_string(max_texts) + " per request";
  }
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (!t[i].is_string()) return "texts[" + std::to_string(i) + "] must be a string";
    r.texts.push_back(t[i].get<std::string>());
  }
  return std::nullopt;
}

// preset, match, long: names the library parses (its error names the value and the choices).
std::optional<std::string> read_modes(const ordered_json& body, NativeRequest& r) {
  for (const char* key : {"preset", "match", "long"}) {
    if (!body.contains(key)) continue;
    if (!body[key].is_string()) return std::string("'") + key + "' must be a string";
    const auto& name = body[key].get_ref<const std::string&>();
    try {
      const std::string_view k = key;
      if (k == "preset") r.preset = parse_preset(name);
      if (k == "match") r.match = parse_match_mode(name);
      if (k == "long") r.long_text = parse_long_text_mode(name);
    } catch (const Error& e) {
      return std::string(e.what());
    }
  }
  return std::nullopt;
}

std::optional<std::string> read_numbers(const ordered_json& body, NativeRequest& r) {
  if (body.contains("threshold")) {
    if (!body["threshold"].is_number()) return "'threshold' must be a number";
    const double t = body["threshold"].get<double>();
    if (!(t >= 0.0 && t <= 1.0)) return "'threshold' must be in [0, 1]";
    r.threshold = t;
  }
  for (const char* key : {"max_length", "stride"}) {
    if (!body.contains(key)) continue;
    if (!body[key].is_number_unsigned()) {
      return std::string("'") + key + "' must be a whole number";
    }
    const auto n = body[key].get<std::size_t>();
    if (std::string_view(key) == "stride") {
      r.stride = n;
    } else if (n < 3 || n > 100000) {
      return "'max_length' must be in [3, 100000]";
    } else {
      r.max_length = n;
    }
  }
  return std::nullopt;
}

std::optional<std::string> read_flags(const ordered_json& body, NativeRequest& r) {
  for (const char* key : {"explain", "raw_scores", "sentences"}) {
    if (!body.contains(key)) continue;
    if (!body[key].is_boolean()) return std::string("'") + key + "' must be true or false";
    const std::string_view k = key;
    (k == "explain"      ? r.explain
     : k == "raw_scores" ? r.raw_scores
                         : r.sentences) = body[key].get<bool>();
  }
  return std::nullopt;
}

// The fields of the request object; an error message when one is unknown, missing or wrong.
std::optional<std::string> read_fields(const ordered_json& body, std::size_t max_texts,
                                       NativeRequest& r) {
  if (!body.is_object()) return "the body must be a JSON object";
  static constexpr std::string_view kKnown[] = {"texts",   "text",       "preset",     "threshold",
                                                "match",   "long",       "max_length", "stride",
                                                "explain", "raw_scores", "sentences"};
  for (auto it = body.begin(); it != body.end(); ++it) {
    if (std::find(std::begin(kKnown), std::end(kKnown), it.key()) == std::end(kKnown)) {
      return "unknown field '" + it.key() + "'";
    }
  }
  if (auto e = read_texts(body, max_texts, r)) return e;
  if (auto e = read_modes(body, r)) return e;
  if (auto e = read_numbers(body, r)) return e;
  return read_flags(body, r);
}

std::optional<ApiError> failed(const Outcome& out) {
  if (out.status == Outcome::Status::kQueueFull) {
    return ApiError{429, "the queue is full; retry later", "overloaded", out.retry_after};
  }
  if (out.status == Outcome::Status::kTimeout) {
    return ApiError{408, "request timeout", "timeout"};
  }
  return std::nullopt;
}

std::vector<TextResult> text_results(Outcome& out) {
  std::vector<TextResult> results(out.verdicts.size());
  for (std::size_t i = 0; i < results.size(); ++i) {
    results[i] = {std::move(out.verdicts[i]), std::move(out.errors[i])};
  }
  return results;
}

// Every sentence of every text classified as a text of its own, in full-match mode.
std::optional<ApiError> classify_sentences(const NativeRequest& request, ClassifierOptions options,
                                           Services& services,
                                           std::chrono::steady_clock::time_point deadline,
                                           NativeResult& result) {
  std::vector<std::vector<Sentence>> split;
  std::vector<std::string> all;
  for (const auto& text : request.texts) {
    split.push_back(split_sentences(text, services.punkt()));
    for (const auto& s : split.back()) all.push_back(s.text);
  }
  options.match = MatchMode::kFull;
  Outcome out = services.classify(services.classifier_for(options), std::move(all), deadline);
  if (auto error = failed(out)) return error;
  std::vector<TextResult> each = text_results(out);
  std::size_t next = 0;
  for (auto& sentences : split) {
    auto& list = result.sentences.emplace_back();
    for (auto& s : sentences) list.push_back({std::move(s), std::move(each[next++])});
  }
  return std::nullopt;
}

ordered_json sentence_json(const SentenceResult& s) {
  ordered_json e;
  e["text"] = s.sentence.text;
  e["start"] = s.sentence.char_begin;
  e["end"] = s.sentence.char_end;
  if (s.result.ok()) {
    e["score"] = s.result.verdict.score;
    e["refusal"] = s.result.verdict.refusal;
  } else {
    e["error"] = s.result.error;
  }
  return e;
}

ordered_json text_record(const NativeRequest& request, const NativeResult& result, std::size_t i,
                         const ModelConfig& model) {
  ordered_json rec;
  rec["text"] = request.texts[i];
  if (request.preset == Preset::kKeywords) {
    rec.update(io::keyword_record(request.texts[i]));
  } else if (!result.texts[i].ok()) {
    rec["error"] = result.texts[i].error;
  } else {
    const io::RecordFields fields{request.preset == Preset::kLlmGuard, request.raw_scores,
                                  request.explain};
    rec.update(io::verdict_record(result.texts[i].verdict, model, fields));
  }
  if (request.sentences && request.preset != Preset::kKeywords) {
    ordered_json list = ordered_json::array();
    for (const auto& s : result.sentences[i]) list.push_back(sentence_json(s));
    rec["sentences"] = list;
  }
  return rec;
}

}  // namespace

NativeLimits native_limits(const ServerConfig& config) {
  return {config.max_batch_texts, config.max_text_chars};
}

Parsed<NativeRequest> parse_native_request(std::string_view body, const NativeLimits& limits) {
  if (base::first_invalid_utf8(body)) {
    return native_error(400, "the body is not valid UTF-8", "invalid_json");
  }
  ordered_json json;
  try {
    json = ordered_json::parse(body);
  } catch (const std::exception& e) {
    // nlohmann's "last read: '…'" may end inside a character: the answer must stay UTF-8.
    return native_error(400, "invalid JSON: " + base::repair_utf8(e.what()), "invalid_json");
  }
  NativeRequest r;
  if (auto error = read_fields(json, limits.max_batch_texts, r)) {
    return native_error(422, *error, "validation");
  }
  for (std::size_t i = 0; i < r.texts.size(); ++i) {
    if (base::count_code_points(r.texts[i]) > limits.max_text_chars) {
      return native_error(413,
                          "text " + std::to_string(i) + " is longer than " +
                              std::to_string(limits.max_text_chars) + " characters",
                          "validation");
    }
  }
  return r;
}

NativeResult handle_native(const NativeRequest& request, Services& services,
                           std::chrono::steady_clock::time_point deadline) {
  NativeResult result;
  if (request.preset == Preset::kKeywords) return result;  // NoRefusalLight: no model
  ClassifierOptions o;
  o.preset = request.preset;
  o.match = request.match;
  o.long_text = request.long_text;
  o.threshold = request.threshold;
  o.max_length = request.max_length;
  o.stride = request.stride;
  std::shared_ptr<const Classifier> classifier;
  try {
    classifier = services.classifier_for(o);
  } catch (const std::exception& e) {  // options the library refuses for this model
    result.error = ApiError{422, e.what(), "validation"};
    return result;
  }
  Outcome out = services.classify(classifier, request.texts, deadline);
  result.error = failed(out);
  if (result.error) return result;
  result.texts = text_results(out);
  if (request.sentences) result.error = classify_sentences(request, o, services, deadline, result);
  return result;
}

HttpResponse render_native(const NativeRequest& request, const NativeResult& result,
                           const ModelConfig& model) {
  if (result.error) return api_error_response(*result.error);
  ordered_json results = ordered_json::array();
  for (std::size_t i = 0; i < request.texts.size(); ++i) {
    results.push_back(text_record(request, result, i, model));
  }
  return json_response(200, ordered_json{{"results", results}}.dump());
}

HttpResponse native_auth_failure(AuthResult) {
  HttpResponse r =
      native_error(401, "missing or invalid API key (Authorization: Bearer KEY)", "unauthorized");
  r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

HttpResponse native_http_error(int status) {
  return native_error(status, status_phrase(status), "http");
}

HttpResponse answer_classify(const HttpRequestView& request, Services& services) {
  auto parsed = parse_native_request(request.body, native_limits(services.config()));
  if (auto* error = std::get_if<HttpResponse>(&parsed)) return std::move(*error);
  const auto& classify = std::get<NativeRequest>(parsed);
  const NativeResult result =
      handle_native(classify, services, services.deadline(request.received));
  HttpResponse response = render_native(classify, result, services.engine().config());
  services.metrics().api_request(classify.texts.size() > 1, response.status,
                                 seconds_since(request.received));
  return response;
}

ordered_json native_openapi(const ServerConfig&) {
  const ordered_json schema = {
      {"type", "object"},
      {"properties",
       {{"text", {{"type", "string"}}},
        {"texts", {{"type", "array"}, {"items", {{"type", "string"}}}}},
        {"preset", {{"type", "string"}, {"enum", {"default", "llm-guard", "keywords"}}}},
        {"threshold", {{"type", "number"}}},
        {"match", {{"type", "string"}, {"enum", ordered_json::array({"full", "sentence"})}}},
        {"long", {{"type", "string"}, {"enum", ordered_json::array({"truncate", "windows"})}}},
        {"max_length", {{"type", "integer"}}},
        {"stride", {{"type", "integer"}}},
        {"explain", {{"type", "boolean"}}},
        {"raw_scores", {{"type", "boolean"}}},
        {"sentences", {{"type", "boolean"}}}}}};
  ordered_json op;
  op["requestBody"] = {{"required", true},
                       {"content", {{"application/json", {{"schema", schema}}}}}};
  op["responses"] = {{"200", {{"description", "{results: [record, ...]}"}}},
                     {"400", {{"description", "Invalid JSON"}}},
                     {"401", {{"description", "Missing or wrong Bearer key"}}},
                     {"408", {{"description", "Timeout"}}},
                     {"413", {{"description", "Too large"}}},
                     {"422", {{"description", "Validation error"}}},
                     {"429", {{"description", "Queue full (Retry-After)"}}}};
  return op;
}

}  // namespace refusal::server
