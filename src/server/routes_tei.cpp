// Hugging Face text-embeddings-inference's classifier API: POST /predict, GET /health,
// GET /info, with TEI's request forms (a text, a pair, a batch of texts and pairs), its
// response shape (every label, highest score first, f32 scores as serde_json writes them) and
// its errors ({"error","error_type"}: 413 validation, 429 overloaded, 424 backend).
#include <algorithm>
#include <nlohmann/json.hpp>

#include "base/utf8.h"
#include "refusal/model.h"
#include "refusal/version.h"
#include "server/json_text.h"
#include "server/server_impl.h"

namespace refusal::server {
namespace {

using nlohmann::ordered_json;

struct Sequence {
  std::string first;
  std::optional<std::string> second;
};

std::string tei_error(const std::string& error, const std::string& type) {
  ordered_json j;
  j["error"] = error;
  j["error_type"] = type;
  return j.dump();
}

void text_error(httplib::Response& res, int status, const std::string& text) {
  res.status = status;
  res.set_content(text, "text/plain; charset=utf-8");
}

const char* deserialize_prefix = "Failed to deserialize the JSON body into the target type: ";

// serde's PredictInput: "a" | ["a"] | ["a","b"] (one pair) | [["a"],["a","b"],...] (batch).
std::optional<std::string> parse_inputs(const ordered_json& v, std::vector<Sequence>& out,
                                        bool& batch) {
  const char* expecting =
      "a string, a pair of strings [string, string] or a batch of mixed strings and pairs "
      "[[string], [string, string], ...]";
  if (v.is_string()) {
    out.push_back({v.get<std::string>(), std::nullopt});
    batch = false;
    return std::nullopt;
  }
  if (!v.is_array()) return std::string("inputs: invalid type, expected ") + expecting;
  if (v.empty()) return std::string("inputs: invalid length 0, expected ") + expecting;
  if (v[0].is_string()) {
    batch = false;
    if (v.size() > 2) return std::string("inputs: invalid length 3, expected ") + expecting;
    for (const auto& e : v) {
      if (!e.is_string()) return std::string("inputs: invalid type, expected a string");
    }
    out.push_back({v[0].get<std::string>(),
                   v.size() == 2 ? std::optional<std::string>(v[1].get<std::string>())
                                 : std::nullopt});
    return std::nullopt;
  }
  batch = true;
  for (const auto& e : v) {
    if (!e.is_array()) return std::string("inputs: invalid type, expected a sequence");
    if (e.size() != 1 && e.size() != 2) {
      return "inputs: invalid length " + std::to_string(e.size()) + ", expected " + expecting;
    }
    for (const auto& s : e) {
      if (!s.is_string()) return std::string("inputs: invalid type, expected a string");
    }
    out.push_back({e[0].get<std::string>(),
                   e.size() == 2 ? std::optional<std::string>(e[1].get<std::string>())
                                 : std::nullopt});
  }
  return std::nullopt;
}

const char* tei_dtype(DType d) {
  switch (d) {
    case DType::kBf16: return "bfloat16";
    case DType::kInt8: return "int8";
    default: return "float32";
  }
}

}  // namespace

void Server::Impl::register_tei_routes(httplib::Server& svr) {
  auto authorized = [this](const httplib::Request& req) {
    if (config.api_keys.empty()) return true;
    const std::string h = req.get_header_value("Authorization");
    for (const auto& key : config.api_keys) {
      if (h == "Bearer " + key) return true;
    }
    return false;
  };

  svr.Get("/health", [](const httplib::Request&, httplib::Response& res) { res.status = 200; });

  svr.Get("/info", [this](const httplib::Request&, httplib::Response& res) {
    const ModelConfig& mc = engine->config();
    ordered_json id2label = ordered_json::object();
    ordered_json label2id = ordered_json::object();
    for (std::size_t i = 0; i < mc.labels.size(); ++i) {
      id2label[std::to_string(i)] = mc.labels[i];
      label2id[mc.labels[i]] = i;
    }
    ordered_json info;
    info["model_id"] = config.model;
    info["model_sha"] = nullptr;
    info["model_dtype"] = tei_dtype(engine->dtype());
    info["model_type"] = {{"classifier", {{"id2label", id2label}, {"label2id", label2id}}}};
    info["max_concurrent_requests"] = config.queue_capacity;
    info["max_input_length"] = mc.max_tokens();
    info["max_batch_tokens"] = config.batch_tokens;
    info["max_batch_requests"] = config.batch_max_texts;
    info["max_client_batch_size"] = config.max_client_batch_size;
    info["auto_truncate"] = config.auto_truncate;
    info["tokenization_workers"] = config.http_threads;
    info["version"] = version();
    info["sha"] = nullptr;
    info["docker_label"] = nullptr;
    set_json(res, 200, info.dump());
  });

  svr.Post("/predict", [this, authorized](const httplib::Request& req, httplib::Response& res) {
    if (!authorized(req)) {
      res.status = 401;
      return;
    }
    const std::string ct = req.get_header_value("Content-Type");
    if (ct.rfind("application/json", 0) != 0) {
      text_error(res, 415, "Expected request with `Content-Type: application/json`");
      return;
    }
    if (base::first_invalid_utf8(req.body)) {
      text_error(res, 400, "Failed to parse the request body as JSON: invalid UTF-8");
      return;
    }
    ordered_json body;
    try {
      body = ordered_json::parse(req.body);
    } catch (const std::exception& e) {
      text_error(res, 400, std::string("Failed to parse the request body as JSON: ") + e.what());
      return;
    }
    if (!body.is_object()) {
      text_error(res, 422, std::string(deserialize_prefix) +
                               "invalid type, expected struct PredictRequest");
      return;
    }
    auto it = body.find("inputs");
    if (it == body.end()) {
      text_error(res, 422, std::string(deserialize_prefix) + "missing field `inputs`");
      return;
    }
    std::vector<Sequence> seqs;
    bool batch = false;
    if (auto err = parse_inputs(*it, seqs, batch)) {
      text_error(res, 422, deserialize_prefix + *err);
      return;
    }
    bool truncate = config.auto_truncate;
    bool raw_scores = false;
    bool left = false;
    for (const char* key : {"truncate", "raw_scores"}) {
      auto f = body.find(key);
      if (f == body.end() || f->is_null()) continue;
      if (!f->is_boolean()) {
        text_error(res, 422, std::string(deserialize_prefix) + key +
                                 ": invalid type, expected a boolean");
        return;
      }
      (std::string(key) == "truncate" ? truncate : raw_scores) = f->get<bool>();
    }
    if (auto f = body.find("truncation_direction"); f != body.end() && !f->is_null()) {
      if (!f->is_string() || (*f != "Left" && *f != "Right")) {
        text_error(res, 422, std::string(deserialize_prefix) +
                                 "truncation_direction: unknown variant, expected `Left` or "
                                 "`Right`");
        return;
      }
      left = *f == "Left";
    }
    if (batch && seqs.size() > config.max_client_batch_size) {
      set_json(res, 413,
               tei_error("batch size " + std::to_string(seqs.size()) +
                             " > maximum allowed batch size " +
                             std::to_string(config.max_client_batch_size),
                         "validation"));
      return;
    }
    // Tokenize here (the HTTP threads are TEI's tokenization workers).
    const std::size_t max_input = static_cast<std::size_t>(engine->config().max_tokens());
    std::vector<std::vector<std::int32_t>> ids;
    std::vector<std::string> keys;
    std::size_t chars = 0;
    std::size_t tokens = 0;
    for (const auto& s : seqs) {
      const std::size_t n = base::count_code_points(s.first) +
                            (s.second ? base::count_code_points(*s.second) : 0);
      chars += n;
      if (s.first.empty() && (!s.second || s.second->empty())) {
        set_json(res, 413, tei_error("Input validation error: `inputs` cannot be empty",
                                     "validation"));
        return;
      }
      if (n > config.max_text_chars) {
        set_json(res, 413, tei_error("Input validation error: `inputs` must have less than " +
                                         std::to_string(config.max_text_chars) + " characters",
                                     "validation"));
        return;
      }
      EncodeOptions eo;
      eo.max_length = kNoTruncation;
      eo.with_tokens = false;
      Encoding e = s.second ? tokenizer.encode_pair(s.first, *s.second, eo)
                            : tokenizer.encode(s.first, eo);
      if (e.ids.size() > max_input) {
        if (!truncate) {
          set_json(res, 413,
                   tei_error("Input validation error: `inputs` must have less than " +
                                 std::to_string(max_input) + " tokens. Given: " +
                                 std::to_string(e.ids.size()),
                             "validation"));
          return;
        }
        if (left && !s.second) {
          std::vector<std::int32_t> cut;
          cut.push_back(e.ids.front());
          cut.insert(cut.end(), e.ids.end() - static_cast<std::ptrdiff_t>(max_input - 1),
                     e.ids.end());
          e.ids = std::move(cut);
        } else {
          eo.max_length = max_input;
          e = s.second ? tokenizer.encode_pair(s.first, *s.second, eo)
                       : tokenizer.encode(s.first, eo);
        }
      }
      tokens += e.ids.size();
      std::string key = "tei|" + std::to_string(e.ids.size()) + "|";
      for (auto id : e.ids) key += std::to_string(id) + ",";
      keys.push_back(std::move(key));
      ids.push_back(std::move(e.ids));
    }
    Outcome o = run_ids(std::move(ids), std::move(keys), deadline());
    if (o.status == Outcome::Status::kQueueFull) {
      res.set_header("Retry-After", std::to_string(o.retry_after));
      set_json(res, 429, tei_error("Model is overloaded", "overloaded"));
      return;
    }
    if (o.status == Outcome::Status::kTimeout) {
      set_json(res, 408, tei_error("Request timeout", "backend"));
      return;
    }
    const auto& labels = engine->config().labels;
    std::string out = batch ? "[" : "";
    for (std::size_t i = 0; i < o.outputs.size(); ++i) {
      if (!o.errors[i].empty()) {
        set_json(res, 424, tei_error(o.errors[i], "backend"));
        return;
      }
      const auto& scores = raw_scores ? o.outputs[i].logits : o.outputs[i].probabilities;
      std::vector<std::size_t> order(scores.size());
      for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
      for (float s : scores) {
        if (std::isnan(s)) {
          set_json(res, 424, tei_error("score is NaN", "backend"));
          return;
        }
      }
      // TEI: a stable ascending sort, then reversed.
      std::stable_sort(order.begin(), order.end(),
                       [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
      std::reverse(order.begin(), order.end());
      if (i > 0) out += ",";
      out += "[";
      for (std::size_t k = 0; k < order.size(); ++k) {
        if (k > 0) out += ",";
        out += "{\"score\":" + format_f32(scores[order[k]]) +
               ",\"label\":" + ordered_json(labels[order[k]]).dump() + "}";
      }
      out += "]";
    }
    if (batch) out += "]";
    res.set_header("x-compute-type", "cpu");
    res.set_header("x-compute-characters", std::to_string(chars));
    res.set_header("x-compute-tokens", std::to_string(tokens));
    set_json(res, 200, out);
  });
}

}  // namespace refusal::server
