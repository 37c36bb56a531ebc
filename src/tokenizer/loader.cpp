// Reading tokenizer.json, vocab.json + merges.txt and the transformers config files.
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "refusal/error.h"
#include "tokenizer/model.h"

namespace refusal::tokenizer {
namespace {

using nlohmann::json;

json parse_json(std::string_view text, const std::string& origin) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    throw Error(origin + ": invalid JSON at byte " + std::to_string(e.byte) + ": " + e.what());
  }
}

[[noreturn]] void unsupported(const std::string& origin, const std::string& component,
                              const std::string& what) {
  throw Error(origin + ": unsupported " + component + ": " + what +
              " (supported: BPE model, ByteLevel pre-tokenizer and decoder, RobertaProcessing "
              "or ByteLevel post-processor, no normalizer)");
}

std::string type_of(const json& j) {
  if (j.is_object() && j.contains("type") && j["type"].is_string()) return j["type"];
  return j.dump().substr(0, 60);
}

bool get_bool(const json& obj, const char* key, bool fallback, const std::string& where) {
  if (!obj.contains(key) || obj[key].is_null()) return fallback;
  if (!obj[key].is_boolean()) throw Error(where + "." + key + ": expected true or false");
  return obj[key].get<bool>();
}

bool empty_or_null(const json& obj, const char* key) {
  return !obj.contains(key) || obj[key].is_null() ||
         (obj[key].is_string() && obj[key].get<std::string>().empty());
}

AddedToken added_token_from(const json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("content") || !j["content"].is_string()) {
    throw Error(where + ": expected an object with a string \"content\"");
  }
  AddedToken t;
  t.content = j["content"];
  if (j.contains("id")) {
    if (!j["id"].is_number_integer() || j["id"].get<int64_t>() < 0) {
      throw Error(where + ".id: expected a non-negative integer");
    }
    t.id = j["id"].get<int32_t>();
  }
  t.special = get_bool(j, "special", true, where);
  t.lstrip = get_bool(j, "lstrip", false, where);
  t.rstrip = get_bool(j, "rstrip", false, where);
  t.normalized = get_bool(j, "normalized", !t.special, where);
  t.single_word = get_bool(j, "single_word", false, where);
  return t;
}

void read_vocab(const json& v, const std::string& where, ModelSpec& spec) {
  if (!v.is_object()) throw Error(where + ": expected an object of token -> id");
  spec.vocab.reserve(v.size());
  for (const auto& [token, id] : v.items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX) {
      throw Error(where + "[\"" + token + "\"]: expected a non-negative integer id");
    }
    spec.vocab.emplace(token, id.get<int32_t>());
  }
}

void read_model(const json& m, const std::string& origin, ModelSpec& spec) {
  const std::string where = origin + ": model";
  if (!m.is_object()) throw Error(where + ": expected an object");
  if (m.contains("type") && m["type"] != "BPE") unsupported(origin, "model", type_of(m));
  if (m.contains("dropout") && !m["dropout"].is_null()) unsupported(origin, "model", "BPE dropout");
  if (!empty_or_null(m, "continuing_subword_prefix")) {
    unsupported(origin, "model", "BPE continuing_subword_prefix");
  }
  if (!empty_or_null(m, "end_of_word_suffix"))
    unsupported(origin, "model", "BPE end_of_word_suffix");
  if (get_bool(m, "byte_fallback", false, where)) unsupported(origin, "model", "BPE byte_fallback");
  if (get_bool(m, "ignore_merges", false, where)) unsupported(origin, "model", "BPE ignore_merges");
  if (get_bool(m, "fuse_unk", false, where)) unsupported(origin, "model", "BPE fuse_unk");
  if (!m.contains("vocab")) throw Error(where + ".vocab: missing");
  read_vocab(m["vocab"], where + ".vocab", spec);
  if (!m.contains("merges") || !m["merges"].is_array()) {
    throw Error(where + ".merges: missing or not an array");
  }
  const json& merges = m["merges"];
  spec.merges.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const json& e = merges[i];
    const std::string at = where + ".merges[" + std::to_string(i) + "]";
    if (e.is_string()) {
      const std::string s = e;
      const size_t sp = s.find(' ');
      if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos) {
        throw Error(at + ": expected \"left right\", got \"" + s + "\"");
      }
      spec.merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
      spec.merges.emplace_back(e[0], e[1]);
    } else {
      throw Error(at + ": expected \"left right\" or [left, right]");
    }
  }
  if (m.contains("unk_token") && m["unk_token"].is_string()) spec.unk_token = m["unk_token"];
}

void read_pre_tokenizer(const json& p, const std::string& origin) {
  if (p.is_null()) unsupported(origin, "pre_tokenizer", "null (ByteLevel is needed)");
  if (type_of(p) != "ByteLevel") unsupported(origin, "pre_tokenizer", type_of(p));
  const std::string where = origin + ": pre_tokenizer";
  if (get_bool(p, "add_prefix_space", false, where)) {
    unsupported(origin, "pre_tokenizer", "ByteLevel add_prefix_space=true");
  }
  if (!get_bool(p, "use_regex", true, where)) {
    unsupported(origin, "pre_tokenizer", "ByteLevel use_regex=false");
  }
}

void read_post_processor(const json& p, const std::string& origin, ModelSpec& spec) {
  const std::string where = origin + ": post_processor";
  if (p.is_null()) return;
  const std::string type = type_of(p);
  if (type == "ByteLevel") {
    spec.post.trim_offsets = get_bool(p, "trim_offsets", true, where);
    return;
  }
  if (type != "RobertaProcessing") unsupported(origin, "post_processor", type);
  auto special = [&](const char* key, std::string& token, int32_t& id) {
    const json& v = p.contains(key) ? p[key] : json();
    if (!v.is_array() || v.size() != 2 || !v[0].is_string() || !v[1].is_number_integer()) {
      throw Error(where + "." + key + ": expected [\"token\", id]");
    }
    token = v[0];
    id = v[1];
  };
  spec.post.roberta = true;
  special("cls", spec.post.cls_token, spec.post.cls_id);
  special("sep", spec.post.sep_token, spec.post.sep_id);
  spec.post.trim_offsets = get_bool(p, "trim_offsets", true, where);
  spec.post.add_prefix_space = get_bool(p, "add_prefix_space", true, where);
}

}  // namespace

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open file");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error(path + ": read error");
  return ss.str();
}

ModelSpec spec_from_tokenizer_json(std::string_view text, const std::string& origin) {
  const json root = parse_json(text, origin);
  if (!root.is_object()) throw Error(origin + ": expected a JSON object at the top");
  ModelSpec spec;
  spec.origin = origin;
  if (root.contains("normalizer") && !root["normalizer"].is_null()) {
    unsupported(origin, "normalizer", type_of(root["normalizer"]));
  }
  read_pre_tokenizer(root.contains("pre_tokenizer") ? root["pre_tokenizer"] : json(), origin);
  if (!root.contains("model")) throw Error(origin + ": model: missing");
  read_model(root["model"], origin, spec);
  read_post_processor(root.contains("post_processor") ? root["post_processor"] : json(), origin,
                      spec);
  if (root.contains("decoder") && !root["decoder"].is_null()) {
    if (type_of(root["decoder"]) != "ByteLevel") {
      unsupported(origin, "decoder", type_of(root["decoder"]));
    }
  } else {
    spec.byte_level_decoder = false;
  }
  if (root.contains("padding") && !root["padding"].is_null()) {
    unsupported(origin, "padding", "fixed padding (pad in the caller)");
  }
  if (root.contains("truncation") && root["truncation"].is_object()) {
    const json& t = root["truncation"];
    if (t.contains("max_length") && t["max_length"].is_number_unsigned()) {
      spec.model_max_length = t["max_length"];
    }
  }
  if (root.contains("added_tokens")) {
    const json& a = root["added_tokens"];
    if (!a.is_array()) throw Error(origin + ": added_tokens: expected an array");
    for (size_t i = 0; i < a.size(); ++i) {
      AddedToken t = added_token_from(a[i], origin + ": added_tokens[" + std::to_string(i) + "]");
      if (t.id < 0) throw Error(origin + ": added_tokens[" + std::to_string(i) + "]: id missing");
      // tokenizer.json does not name the pad token; RoBERTa's is "<pad>" (the config may
      // say otherwise).
      if (t.content == "<pad>") spec.pad_token = t.content;
      spec.added_tokens.push_back(std::move(t));
    }
  }
  return spec;
}

ModelSpec spec_from_vocab_merges(const std::string& vocab_path, const std::string& merges_path) {
  ModelSpec spec;
  spec.origin = vocab_path + " + " + merges_path;
  read_vocab(parse_json(read_file(vocab_path), vocab_path), vocab_path, spec);
  const std::string merges = read_file(merges_path);
  size_t line_no = 0;
  for (size_t pos = 0; pos < merges.size();) {
    size_t eol = merges.find('\n', pos);
    if (eol == std::string::npos) eol = merges.size();
    std::string_view line(merges.data() + pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    // Only the "#version" header is skipped: real merges may start with '#'.
    if (line.starts_with("#version")) continue;
    const size_t sp = line.find(' ');
    if (sp == std::string_view::npos || line.find(' ', sp + 1) != std::string_view::npos) {
      throw Error(merges_path + ":" + std::to_string(line_no) +
                  ": expected \"left right\", got \"" + std::string(line.substr(0, 80)) + "\"");
    }
    spec.merges.emplace_back(line.substr(0, sp), line.substr(sp + 1));
  }
  // transformers' RobertaTokenizer defaults, used when no config file says otherwise.
  if (spec.vocab.count("<s>") && spec.vocab.count("</s>")) {
    spec.post.roberta = true;
    spec.post.trim_offsets = true;
    spec.post.cls_token = "<s>";
    spec.post.sep_token = "</s>";
    for (const char* t : {"<s>", "<pad>", "</s>", "<unk>", "<mask>"}) {
      const auto it = spec.vocab.find(t);
      if (it == spec.vocab.end()) continue;
      AddedToken a;
      a.content = t;
      a.id = it->second;
      a.normalized = false;
      spec.added_tokens.push_back(a);
    }
    spec.pad_token = "<pad>";
  }
  return spec;
}

void apply_tokenizer_config(ModelSpec& spec, const std::string& path, bool take_added_tokens) {
  const json cfg = parse_json(read_file(path), path);
  if (!cfg.is_object()) throw Error(path + ": expected a JSON object");
  if (cfg.contains("model_max_length") && cfg["model_max_length"].is_number()) {
    // transformers writes ~1e30 for "no limit"; keep the default then.
    const double v = cfg["model_max_length"].get<double>();
    if (v >= 1 && v < 1e9) spec.model_max_length = static_cast<size_t>(v);
  }
  if (cfg.contains("pad_token") && cfg["pad_token"].is_string()) spec.pad_token = cfg["pad_token"];
  if (cfg.contains("unk_token") && cfg["unk_token"].is_string() && !spec.unk_token &&
      take_added_tokens) {
    spec.unk_token = cfg["unk_token"];
  }
  if (take_added_tokens && cfg.contains("added_tokens_decoder")) {
    const json& dec = cfg["added_tokens_decoder"];
    if (!dec.is_object()) throw Error(path + ": added_tokens_decoder: expected an object");
    std::vector<AddedToken> tokens;
    for (const auto& [key, value] : dec.items()) {
      const std::string where = path + ": added_tokens_decoder[\"" + key + "\"]";
      AddedToken t = added_token_from(value, where);
      try {
        t.id = std::stoi(key);
      } catch (const std::exception&) {
        throw Error(where + ": the key must be a token id");
      }
      tokens.push_back(std::move(t));
    }
    std::sort(tokens.begin(), tokens.end(),
              [](const AddedToken& a, const AddedToken& b) { return a.id < b.id; });
    spec.added_tokens = std::move(tokens);
  }
  if (take_added_tokens) {
    if (cfg.contains("cls_token") && cfg["cls_token"].is_string()) {
      spec.post.cls_token = cfg["cls_token"];
      spec.post.cls_id = -1;
    }
    if (cfg.contains("sep_token") && cfg["sep_token"].is_string()) {
      spec.post.sep_token = cfg["sep_token"];
      spec.post.sep_id = -1;
    }
  }
}

void apply_special_tokens_map(ModelSpec& spec, const std::string& path) {
  const json m = parse_json(read_file(path), path);
  if (!m.is_object()) throw Error(path + ": expected a JSON object");
  for (const auto& [key, value] : m.items()) {
    if (value.is_array()) continue;  // additional_special_tokens: plain added tokens
    AddedToken t;
    if (value.is_string()) {
      t.content = value;
      t.normalized = false;
    } else {
      t = added_token_from(value, path + ": " + key);
    }
    if (key == "pad_token") spec.pad_token = t.content;
    if (key == "cls_token") spec.post.cls_token = t.content, spec.post.cls_id = -1;
    if (key == "sep_token") spec.post.sep_token = t.content, spec.post.sep_id = -1;
    auto same = [&](const AddedToken& a) { return a.content == t.content; };
    auto it = std::find_if(spec.added_tokens.begin(), spec.added_tokens.end(), same);
    if (it == spec.added_tokens.end()) {
      spec.added_tokens.push_back(t);
    } else if (value.is_object()) {
      const int32_t id = it->id;
      *it = t;
      it->id = id;
    }
  }
}

}  // namespace refusal::tokenizer
