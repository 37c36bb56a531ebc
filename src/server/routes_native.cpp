// The native API: POST /v1/classify takes a batch of texts with `refusal classify`'s options
// and returns its records; `sentences: true` adds every sentence's own score (the web page
// highlights them).
#include <cmath>
#include <nlohmann/json.hpp>

#include "base/utf8.h"
#include "io/verdict_record.h"
#include "refusal/model.h"
#include "refusal/scanner_rules.h"
#include "server/json_text.h"
#include "server/server_impl.h"

namespace refusal::server {
namespace {

using nlohmann::ordered_json;

void native_error(httplib::Response& res, int status, const std::string& message,
                  const std::string& type) {
  ordered_json j;
  j["error"] = message;
  j["error_type"] = type;
  set_json(res, status, j.dump());
}

ordered_json keyword_record(std::string_view text) {
  const auto v = no_refusal_light(text);
  ordered_json r;
  r["label"] = v.is_valid ? "NORMAL" : "REJECTION";
  r["refusal"] = !v.is_valid;
  r["is_valid"] = v.is_valid;
  r["risk_score"] = v.risk_score;
  r["matched"] = v.matched;
  return r;
}

struct NativeRequest {
  std::vector<std::string> texts;
  std::string preset = "default";
  std::optional<double> threshold;
  std::string match = "full";
  std::string long_text = "truncate";
  std::optional<std::size_t> max_length;
  std::size_t stride = 0;
  bool explain = false;
  bool raw_scores = false;
  bool sentences = false;
};

// Reads the request; an error message when a field is missing or of the wrong type.
std::optional<std::string> parse_request(const ordered_json& body, NativeRequest& r,
                                         std::size_t max_texts) {
  if (!body.is_object()) return "the body must be a JSON object";
  static const std::vector<std::string> known = {"texts",   "text",       "preset",     "threshold",
                                                 "match",   "long",       "max_length", "stride",
                                                 "explain", "raw_scores", "sentences"};
  for (auto it = body.begin(); it != body.end(); ++it) {
    if (std::find(known.begin(), known.end(), it.key()) == known.end()) {
      return "unknown field '" + it.key() + "'";
    }
  }
  if (body.contains("text") == body.contains("texts")) return "give either 'text' or 'texts'";
  if (body.contains("text")) {
    if (!body["text"].is_string()) return "'text' must be a string";
    r.texts.push_back(body["text"].get<std::string>());
  } else {
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
  }
  auto str = [&](const char* key, std::string& out,
                 std::initializer_list<const char*> allowed) -> std::optional<std::string> {
    if (!body.contains(key)) return std::nullopt;
    if (!body[key].is_string()) return std::string("'") + key + "' must be a string";
    out = body[key].get<std::string>();
    for (const char* a : allowed) {
      if (out == a) return std::nullopt;
    }
    return std::string("'") + key + "': unknown value '" + out + "'";
  };
  if (auto e = str("preset", r.preset, {"default", "llm-guard", "keywords"})) return e;
  if (auto e = str("match", r.match, {"full", "sentence"})) return e;
  if (auto e = str("long", r.long_text, {"truncate", "windows"})) return e;
  if (body.contains("threshold")) {
    if (!body["threshold"].is_number()) return "'threshold' must be a number";
    const double t = body["threshold"].get<double>();
    if (!(t >= 0.0 && t <= 1.0)) return "'threshold' must be in [0, 1]";
    r.threshold = t;
  }
  for (const char* key : {"max_length", "stride"}) {
    if (!body.contains(key)) continue;
    if (!body[key].is_number_unsigned()) return std::string("'") + key + "' must be a whole number";
    const auto n = body[key].get<std::size_t>();
    if (std::string(key) == "max_length") {
      if (n < 3 || n > 100000) return "'max_length' must be in [3, 100000]";
      r.max_length = n;
    } else {
      r.stride = n;
    }
  }
  for (const char* key : {"explain", "raw_scores", "sentences"}) {
    if (!body.contains(key)) continue;
    if (!body[key].is_boolean()) return std::string("'") + key + "' must be true or false";
    const bool v = body[key].get<bool>();
    if (std::string(key) == "explain") r.explain = v;
    if (std::string(key) == "raw_scores") r.raw_scores = v;
    if (std::string(key) == "sentences") r.sentences = v;
  }
  return std::nullopt;
}

}  // namespace

void Server::Impl::register_native_routes(httplib::Server& svr) {
  svr.Post("/v1/classify", [this](const httplib::Request& req, httplib::Response& res) {
    if (check_bearer(req) != AuthResult::kOk) {
      res.set_header("WWW-Authenticate", "Bearer");
      native_error(res, 401, "missing or invalid API key (Authorization: Bearer KEY)",
                   "unauthorized");
      return;
    }
    if (base::first_invalid_utf8(req.body)) {
      native_error(res, 400, "the body is not valid UTF-8", "invalid_json");
      return;
    }
    ordered_json body;
    try {
      body = ordered_json::parse(req.body);
    } catch (const std::exception& e) {
      native_error(res, 400, std::string("invalid JSON: ") + e.what(), "invalid_json");
      return;
    }
    NativeRequest r;
    if (auto err = parse_request(body, r, config.max_batch_texts)) {
      native_error(res, 422, *err, "validation");
      return;
    }
    for (std::size_t i = 0; i < r.texts.size(); ++i) {
      if (base::count_code_points(r.texts[i]) > config.max_text_chars) {
        native_error(res, 413,
                     "text " + std::to_string(i) + " is longer than " +
                         std::to_string(config.max_text_chars) + " characters",
                     "validation");
        return;
      }
    }
    const bool keywords = r.preset == "keywords";
    const bool lg = r.preset == "llm-guard";
    ordered_json results = ordered_json::array();
    if (keywords) {
      for (const auto& t : r.texts) {
        ordered_json rec;
        rec["text"] = t;
        rec.update(keyword_record(t));
        results.push_back(rec);
      }
      set_json(res, 200, ordered_json{{"results", results}}.dump());
      return;
    }
    ClassifierOptions o;
    o.preset = parse_preset(r.preset);
    o.match = parse_match_mode(r.match);
    o.long_text = parse_long_text_mode(r.long_text);
    o.threshold = r.threshold;
    o.max_length = r.max_length;
    o.stride = r.stride;
    std::shared_ptr<const Classifier> classifier;
    try {
      classifier = classifier_for(o);
    } catch (const std::exception& e) {
      native_error(res, 422, e.what(), "validation");
      return;
    }
    auto fail = [&](const Outcome& out) {
      if (out.status == Outcome::Status::kQueueFull) {
        res.set_header("Retry-After", std::to_string(out.retry_after));
        native_error(res, 429, "the queue is full; retry later", "overloaded");
        return true;
      }
      if (out.status == Outcome::Status::kTimeout) {
        native_error(res, 408, "request timeout", "timeout");
        return true;
      }
      return false;
    };
    Outcome out = classify(classifier, r.texts, deadline());
    if (fail(out)) return;
    // Per-sentence scores: every sentence classified as a text of its own.
    std::vector<std::vector<Sentence>> sentences(r.texts.size());
    Outcome sentence_out;
    if (r.sentences) {
      std::vector<std::string> all;
      for (std::size_t i = 0; i < r.texts.size(); ++i) {
        sentences[i] = split_sentences(r.texts[i], punkt_params());
        for (const auto& s : sentences[i]) all.push_back(s.text);
      }
      ClassifierOptions so = o;
      so.match = MatchMode::kFull;
      sentence_out = classify(classifier_for(so), std::move(all), deadline());
      if (fail(sentence_out)) return;
    }
    const ModelConfig& mc = engine->config();
    std::size_t next_sentence = 0;
    for (std::size_t i = 0; i < r.texts.size(); ++i) {
      ordered_json rec;
      rec["text"] = r.texts[i];
      if (!out.errors[i].empty()) {
        rec["error"] = out.errors[i];
      } else {
        rec.update(io::verdict_record(out.verdicts[i], mc, {lg, r.raw_scores, r.explain}));
      }
      if (r.sentences) {
        ordered_json list = ordered_json::array();
        for (const auto& s : sentences[i]) {
          const std::size_t k = next_sentence++;
          ordered_json e;
          e["text"] = s.text;
          e["start"] = s.char_begin;
          e["end"] = s.char_end;
          if (sentence_out.errors[k].empty()) {
            e["score"] = sentence_out.verdicts[k].score;
            e["refusal"] = sentence_out.verdicts[k].refusal;
          } else {
            e["error"] = sentence_out.errors[k];
          }
          list.push_back(e);
        }
        rec["sentences"] = list;
      }
      results.push_back(rec);
    }
    set_json(res, 200, ordered_json{{"results", results}}.dump());
  });
}

}  // namespace refusal::server
