// config.json: the fields a RobertaForSequenceClassification or BertForSequenceClassification
// needs, each checked; the architecture schemes; position ids.
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "model/architecture.h"
#include "model/json_file.h"
#include "refusal/error.h"
#include "refusal/model.h"

namespace refusal {
namespace model {

nlohmann::json read_json_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open (missing or unreadable)");
  std::stringstream text;
  text << in.rdbuf();
  try {
    return nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(path.string() + ": invalid JSON at byte " + std::to_string(e.byte) + ": " +
                e.what());
  } catch (const nlohmann::json::exception& e) {  // e.g. a number beyond a double: 1e400
    throw Error(path.string() + ": invalid JSON: " + e.what());
  }
}

}  // namespace model

namespace {

using nlohmann::json;

// Most labels a config may have (a classification head of 100,000 classes is far beyond any
// refusal classifier, yet small enough that naming them costs nothing).
constexpr int kMaxLabels = 100'000;

class ConfigReader {
 public:
  ConfigReader(const json& doc, std::filesystem::path path) : doc_(doc), path_(std::move(path)) {}

  [[noreturn]] void fail(const std::string& field, const std::string& why) const {
    throw Error(path_.string() + ": field '" + field + "': " + why);
  }

  bool has(const std::string& field) const {
    return doc_.contains(field) && !doc_.at(field).is_null();
  }

  int integer(const std::string& field, std::optional<int> fallback = std::nullopt, int min = 1,
              int max = 1'000'000'000) const {
    if (!has(field)) {
      if (fallback) return *fallback;
      fail(field, "missing");
    }
    const json& v = doc_.at(field);
    if (!v.is_number_integer()) fail(field, "expected an integer, got " + v.dump());
    const auto value = v.get<long long>();
    if (value < min || value > max) {
      fail(field, "value " + std::to_string(value) + " out of range (min " + std::to_string(min) +
                      ", max " + std::to_string(max) + ")");
    }
    return static_cast<int>(value);
  }

  float number(const std::string& field, float fallback) const {
    if (!has(field)) return fallback;
    const json& v = doc_.at(field);
    if (!v.is_number()) fail(field, "expected a number, got " + v.dump());
    const double value = v.get<double>();
    if (!(value > 0.0 && value < 1.0)) fail(field, "value " + v.dump() + " out of range (0, 1)");
    // The engine computes in float: 1e-65 would become 0 (a LayerNorm dividing by zero).
    const auto single = static_cast<float>(value);
    if (!(single > 0.0f && single < 1.0f)) {
      fail(field, "value " + v.dump() + " is 0 or 1 as a 32-bit float; expected inside (0, 1)");
    }
    return single;
  }

  std::string string(const std::string& field, std::optional<std::string> fallback) const {
    if (!has(field)) {
      if (fallback) return *fallback;
      fail(field, "missing");
    }
    const json& v = doc_.at(field);
    if (!v.is_string()) fail(field, "expected a string, got " + v.dump());
    return v.get<std::string>();
  }

  const json& doc() const { return doc_; }

 private:
  const json& doc_;
  std::filesystem::path path_;
};

std::vector<std::string> read_labels(const ConfigReader& r) {
  std::vector<std::string> labels;
  if (r.has("id2label")) {
    const json& m = r.doc().at("id2label");
    if (!m.is_object() || m.empty()) r.fail("id2label", "expected a non-empty object");
    std::map<long, std::string> by_id;
    for (const auto& [key, value] : m.items()) {
      long id = -1;
      try {
        std::size_t used = 0;
        id = std::stol(key, &used);
        if (used != key.size()) id = -1;
      } catch (const std::exception&) {
      }
      if (id < 0) r.fail("id2label", "key '" + key + "' is not a label id");
      if (!value.is_string()) r.fail("id2label", "label of id " + key + " is not a string");
      by_id[id] = value.get<std::string>();
    }
    for (const auto& [id, name] : by_id) {
      if (id != static_cast<long>(labels.size())) {
        r.fail("id2label", "ids must be 0.." + std::to_string(by_id.size() - 1) + ", found " +
                               std::to_string(id));
      }
      labels.push_back(name);
    }
  } else {
    // transformers' default: num_labels (2) labels named LABEL_i. Capped, as the names are
    // made here: a config of a few bytes must not ask for a billion of them.
    const int n = r.integer("num_labels", 2, 1, kMaxLabels);
    for (int i = 0; i < n; ++i) labels.push_back("LABEL_" + std::to_string(i));
  }
  if (r.has("num_labels") &&
      r.integer("num_labels", std::nullopt, 1, kMaxLabels) != static_cast<int>(labels.size())) {
    r.fail("num_labels", "says " + std::to_string(r.integer("num_labels")) + " but id2label has " +
                             std::to_string(labels.size()) + " labels");
  }
  if (r.has("label2id")) {
    const json& m = r.doc().at("label2id");
    if (!m.is_object()) r.fail("label2id", "expected an object");
    for (const auto& [name, id] : m.items()) {
      if (!id.is_number_integer() || id.get<long>() < 0 ||
          id.get<long>() >= static_cast<long>(labels.size()) ||
          labels[static_cast<std::size_t>(id.get<long>())] != name) {
        r.fail("label2id", "entry '" + name + "': " + id.dump() + " contradicts id2label");
      }
    }
  }
  return labels;
}

}  // namespace

ModelConfig load_model_config(const std::filesystem::path& config_json) {
  const json doc = model::read_json_file(config_json);
  if (!doc.is_object()) throw Error(config_json.string() + ": expected a JSON object");
  const ConfigReader r(doc, config_json);

  ModelConfig c;
  c.model_type = r.string("model_type", std::nullopt);
  if (c.model_type != "roberta" && c.model_type != "bert") {
    r.fail("model_type",
           "unsupported model type '" + c.model_type +
               "' (supported: roberta and bert, i.e. RobertaForSequenceClassification "
               "and BertForSequenceClassification)");
  }
  if (r.has("architectures")) {
    const json& a = doc.at("architectures");
    if (!a.is_array()) r.fail("architectures", "expected a list of class names");
    for (const auto& name : a) {
      if (!name.is_string()) r.fail("architectures", "expected strings, got " + name.dump());
      c.architectures.push_back(name.get<std::string>());
    }
    // The classifier, or the bare base model (loadable to fine-tune: refusal train --init).
    const std::set<std::string> supported =
        c.model_type == "bert"
            ? std::set<std::string>{"BertForSequenceClassification", "BertModel"}
            : std::set<std::string>{"RobertaForSequenceClassification", "RobertaModel"};
    bool ok = c.architectures.empty();
    for (const auto& name : c.architectures) ok = ok || supported.count(name) > 0;
    if (!ok) {
      std::string list;
      for (const auto& name : supported) list += (list.empty() ? "" : ", ") + name;
      r.fail("architectures", "unsupported architecture " + a.dump() + " for model_type '" +
                                  c.model_type + "' (supported: " + list + ")");
    }
  }
  c.vocab_size = r.integer("vocab_size");
  c.hidden_size = r.integer("hidden_size");
  c.num_hidden_layers = r.integer("num_hidden_layers");
  c.num_attention_heads = r.integer("num_attention_heads");
  c.intermediate_size = r.integer("intermediate_size");
  c.hidden_act = r.string("hidden_act", "gelu");
  static const std::set<std::string> kActivations = {
      "gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "relu", "silu", "swish"};
  if (kActivations.count(c.hidden_act) == 0) {
    r.fail("hidden_act", "unsupported activation '" + c.hidden_act +
                             "' (supported: gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu, "
                             "silu, swish)");
  }
  c.layer_norm_eps = r.number("layer_norm_eps", 1e-12f);
  c.max_position_embeddings = r.integer("max_position_embeddings");
  c.type_vocab_size = r.integer("type_vocab_size", 2);
  c.pad_token_id = r.integer("pad_token_id", c.model_type == "bert" ? 0 : 1, 0);
  c.position_embedding_type = r.string("position_embedding_type", "absolute");
  if (c.position_embedding_type != "absolute") {
    r.fail("position_embedding_type",
           "unsupported '" + c.position_embedding_type + "' (supported: absolute)");
  }
  c.problem_type = r.string("problem_type", "");
  if (!c.problem_type.empty() && c.problem_type != "single_label_classification" &&
      c.problem_type != "multi_label_classification") {
    r.fail("problem_type", "unsupported '" + c.problem_type +
                               "' (supported: single_label_classification, "
                               "multi_label_classification)");
  }
  c.labels = read_labels(r);

  if (c.hidden_size % c.num_attention_heads != 0) {
    r.fail("num_attention_heads", "hidden_size " + std::to_string(c.hidden_size) +
                                      " is not a multiple of num_attention_heads " +
                                      std::to_string(c.num_attention_heads));
  }
  if (c.pad_token_id >= c.vocab_size) {
    r.fail("pad_token_id", std::to_string(c.pad_token_id) + " is not below vocab_size " +
                               std::to_string(c.vocab_size));
  }
  if (!c.is_bert() && c.max_tokens() < 1) {
    r.fail("max_position_embeddings", std::to_string(c.max_position_embeddings) +
                                          " leaves no room for tokens after the "
                                          "pad_token_id + 1 offset RoBERTa positions start at");
  }
  return c;
}

const ArchitectureScheme& architecture_scheme(const std::string& model_type) {
  static const ArchitectureScheme kRoberta{.model_type = "roberta",
                                           .class_name = "RobertaForSequenceClassification",
                                           .base = "roberta",
                                           .roberta_positions = true,
                                           .pad_position_row = true,
                                           .head_dense = "classifier.dense",
                                           .head_out = "classifier.out_proj",
                                           .dropout_before_dense = true};
  static const ArchitectureScheme kBert{.model_type = "bert",
                                        .class_name = "BertForSequenceClassification",
                                        .base = "bert",
                                        .roberta_positions = false,
                                        .pad_position_row = false,
                                        .head_dense = "bert.pooler.dense",
                                        .head_out = "classifier",
                                        .dropout_before_dense = false};
  if (model_type == "roberta") return kRoberta;
  if (model_type == "bert") return kBert;
  throw Error("unsupported model type '" + model_type + "' (supported: roberta, bert)");
}

const std::string& ModelConfig::class_name() const {
  return architecture_scheme(model_type).class_name;
}

void position_ids(const ModelConfig& config, std::span<const std::int32_t> ids,
                  std::span<std::int32_t> out) {
  if (out.size() != ids.size()) throw Error("position_ids: output size differs from the ids'");
  if (!architecture_scheme(config).roberta_positions) {
    for (std::size_t i = 0; i < ids.size(); ++i) out[i] = static_cast<std::int32_t>(i);
    return;
  }
  const std::int32_t pad = config.pad_token_id;
  std::int32_t count = 0;
  for (std::size_t i = 0; i < ids.size(); ++i) out[i] = ids[i] == pad ? pad : pad + ++count;
}

std::vector<std::int32_t> position_ids(const ModelConfig& config,
                                       const std::vector<std::int32_t>& ids) {
  std::vector<std::int32_t> positions(ids.size());
  position_ids(config, ids, positions);
  return positions;
}

}  // namespace refusal
