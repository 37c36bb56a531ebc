// Reading tokenizer.json, vocab.json + merges.txt and the transformers config files.
#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/utf8.h"
#include "refusal/error.h"
#include "tokenizer/model.h"
#include "tokenizer/unicode.h"

namespace refusal::tokenizer {
namespace {

using nlohmann::json;

// Largest token id a tokenizer file may use. The id -> token table is as long as the largest id,
// so a file of a few bytes naming id 2,000,000,000 would otherwise cost 64 GB; real vocabularies
// stay far below (RoBERTa 50,265, the largest multilingual ones about 260,000).
constexpr int64_t kMaxTokenId = (int64_t{1} << 22) - 1;
const std::string kTokenIdRange = "an integer id from 0 to " + std::to_string(kMaxTokenId);

bool is_token_id(const json& v) {
  return v.is_number_integer() && v.get<int64_t>() >= 0 && v.get<int64_t>() <= kMaxTokenId;
}

json parse_json(std::string_view text, const std::string& origin) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    throw Error(origin + ": invalid JSON at byte " + std::to_string(e.byte) + ": " + e.what());
  } catch (const json::exception& e) {  // e.g. a number beyond a double: 1e400
    throw Error(origin + ": invalid JSON: " + e.what());
  }
}

[[noreturn]] void unsupported(const std::string& origin, const std::string& component,
                              const std::string& what) {
  throw Error(origin + ": unsupported " + component + ": " + what +
              " (supported: byte-level BPE = BPE model, ByteLevel pre-tokenizer and decoder, no "
              "normalizer; BERT = WordPiece model, BertNormalizer, BertPreTokenizer, WordPiece "
              "decoder; post-processors RobertaProcessing, BertProcessing, TemplateProcessing, "
              "ByteLevel)");
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
    if (!is_token_id(j["id"])) throw Error(where + ".id: expected " + kTokenIdRange);
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
    if (!is_token_id(id)) throw Error(where + "[\"" + token + "\"]: expected " + kTokenIdRange);
    spec.vocab.emplace(token, id.get<int32_t>());
  }
}

size_t get_size(const json& obj, const char* key, size_t fallback, const std::string& where) {
  if (!obj.contains(key) || obj[key].is_null()) return fallback;
  if (!obj[key].is_number_unsigned()) throw Error(where + "." + key + ": expected a number >= 0");
  return obj[key].get<size_t>();
}

std::string get_string(const json& obj, const char* key, const std::string& fallback,
                       const std::string& where) {
  if (!obj.contains(key) || obj[key].is_null()) return fallback;
  if (!obj[key].is_string()) throw Error(where + "." + key + ": expected a string");
  return obj[key].get<std::string>();
}

void read_wordpiece(const json& m, const std::string& where, ModelSpec& spec) {
  spec.type = ModelType::kWordPiece;
  if (!m.contains("vocab")) throw Error(where + ".vocab: missing");
  read_vocab(m["vocab"], where + ".vocab", spec);
  if (!m.contains("unk_token") || !m["unk_token"].is_string()) {
    throw Error(where + ".unk_token: missing (WordPiece needs one, e.g. \"[UNK]\")");
  }
  spec.unk_token = m["unk_token"];
  spec.continuing_subword_prefix = get_string(m, "continuing_subword_prefix", "##", where);
  spec.max_input_chars_per_word = get_size(m, "max_input_chars_per_word", 100, where);
}

void read_model(const json& m, const std::string& origin, ModelSpec& spec) {
  const std::string where = origin + ": model";
  if (!m.is_object()) throw Error(where + ": expected an object");
  if (m.contains("type") && m["type"] == "WordPiece") return read_wordpiece(m, where, spec);
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

void read_pre_tokenizer(const json& p, const std::string& origin, const ModelSpec& spec) {
  if (spec.type == ModelType::kWordPiece) {
    if (type_of(p) == "ByteLevel") {
      unsupported(origin, "model", "WordPiece with a ByteLevel pre-tokenizer");
    }
    if (p.is_null()) unsupported(origin, "pre_tokenizer", "null (BertPreTokenizer is needed)");
    if (type_of(p) != "BertPreTokenizer") unsupported(origin, "pre_tokenizer", type_of(p));
    return;
  }
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

// TemplateProcessing as tokenizer.json stores it: lists of {"SpecialToken": {id, type_id}} and
// {"Sequence": {id: "A"|"B", type_id}}, and special_tokens: name -> {ids, tokens}.
void read_template(const json& p, const std::string& where, ModelSpec& spec) {
  const json specials = p.contains("special_tokens") ? p["special_tokens"] : json::object();
  if (!specials.is_object()) throw Error(where + ".special_tokens: expected an object");
  auto read = [&](const char* key, bool is_pair) {
    const std::string at = where + "." + key;
    if (!p.contains(key) || !p[key].is_array()) throw Error(at + ": missing or not an array");
    std::vector<TemplatePiece> out;
    for (size_t i = 0; i < p[key].size(); ++i) {
      const json& e = p[key][i];
      const std::string here = at + "[" + std::to_string(i) + "]";
      const bool seq = e.is_object() && e.contains("Sequence");
      if (!e.is_object() || e.size() != 1 || !(seq || e.contains("SpecialToken"))) {
        throw Error(here + ": expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
      }
      const json& v = seq ? e["Sequence"] : e["SpecialToken"];
      if (!v.is_object() || !v.contains("id") || !v["id"].is_string()) {
        throw Error(here + ": expected an object with a string \"id\"");
      }
      const std::string id = v["id"];
      const size_t type_id = get_size(v, "type_id", 0, here);
      if (type_id > 255) throw Error(here + ".type_id: too large");
      if (seq) {
        if (id != "A" && (id != "B" || !is_pair)) {
          throw Error(here + ": sequence \"" + id + "\" (expected A" + (is_pair ? " or B)" : ")"));
        }
        out.push_back(
            {static_cast<int8_t>(id == "A" ? 0 : 1), static_cast<uint8_t>(type_id), {}, -1});
        continue;
      }
      if (!specials.contains(id)) {
        throw Error(here + ": special token \"" + id + "\" is not in special_tokens");
      }
      const json& st = specials[id];
      const std::string st_where = where + ".special_tokens[\"" + id + "\"]";
      if (!st.is_object() || !st.contains("ids") || !st["ids"].is_array() ||
          !st.contains("tokens") || !st["tokens"].is_array() ||
          st["ids"].size() != st["tokens"].size()) {
        throw Error(st_where + ": expected ids and tokens of the same length");
      }
      for (size_t k = 0; k < st["ids"].size(); ++k) {
        if (!is_token_id(st["ids"][k]) || !st["tokens"][k].is_string()) {
          throw Error(st_where + ": expected ids (" + kTokenIdRange + ") and string tokens");
        }
        out.push_back({-1, static_cast<uint8_t>(type_id), st["tokens"][k].get<std::string>(),
                       st["ids"][k].get<int32_t>()});
      }
    }
    return out;
  };
  spec.post.kind = PostProcessor::Kind::kTemplate;
  spec.post.single = read("single", false);
  spec.post.pair = read("pair", true);
}

void read_normalizer(const json& n, const std::string& origin, ModelSpec& spec) {
  if (n.is_null()) return;
  if (type_of(n) != "BertNormalizer") unsupported(origin, "normalizer", type_of(n));
  if (spec.type != ModelType::kWordPiece) {
    unsupported(origin, "normalizer", "BertNormalizer with a BPE model");
  }
  const std::string where = origin + ": normalizer";
  BertNormalizerOptions o;
  o.clean_text = get_bool(n, "clean_text", true, where);
  o.handle_chinese_chars = get_bool(n, "handle_chinese_chars", true, where);
  o.lowercase = get_bool(n, "lowercase", true, where);
  // null: strip accents when lowercasing (as BERT's original BasicTokenizer does).
  o.strip_accents = get_bool(n, "strip_accents", o.lowercase, where);
  spec.normalizer = o;
}

void read_decoder(const json& d, const std::string& origin, ModelSpec& spec) {
  if (d.is_null()) {
    spec.decoder = DecoderType::kNone;
    return;
  }
  const std::string type = type_of(d);
  const bool wordpiece = spec.type == ModelType::kWordPiece;
  if (type == "ByteLevel" && !wordpiece) {
    spec.decoder = DecoderType::kByteLevel;
  } else if (type == "WordPiece" && wordpiece) {
    const std::string where = origin + ": decoder";
    spec.decoder = DecoderType::kWordPiece;
    spec.decoder_prefix = get_string(d, "prefix", "##", where);
    spec.decoder_cleanup = get_bool(d, "cleanup", true, where);
  } else {
    unsupported(origin, "decoder",
                type + (wordpiece ? " with a WordPiece model" : " with a BPE model"));
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
  if (type == "TemplateProcessing") return read_template(p, where, spec);
  if (type != "RobertaProcessing" && type != "BertProcessing") {
    unsupported(origin, "post_processor", type);
  }
  auto special = [&](const char* key, std::string& token, int32_t& id) {
    const json& v = p.contains(key) ? p[key] : json();
    if (!v.is_array() || v.size() != 2 || !v[0].is_string() || !is_token_id(v[1])) {
      throw Error(where + "." + key + ": expected [\"token\", id], the id " + kTokenIdRange);
    }
    token = v[0];
    id = v[1];
  };
  special("cls", spec.post.cls_token, spec.post.cls_id);
  special("sep", spec.post.sep_token, spec.post.sep_id);
  if (type == "BertProcessing") {
    spec.post.kind = PostProcessor::Kind::kBert;
    return;
  }
  spec.post.kind = PostProcessor::Kind::kRoberta;
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
  auto field = [&](const char* key) { return root.contains(key) ? root[key] : json(); };
  if (!root.contains("model")) throw Error(origin + ": model: missing");
  if (root["model"].is_object() && type_of(root["model"]) == "WordPiece" &&
      type_of(field("pre_tokenizer")) == "ByteLevel") {
    unsupported(origin, "model", "WordPiece with a ByteLevel pre-tokenizer");
  }
  read_model(root["model"], origin, spec);
  read_normalizer(field("normalizer"), origin, spec);
  read_pre_tokenizer(field("pre_tokenizer"), origin, spec);
  read_post_processor(field("post_processor"), origin, spec);
  read_decoder(field("decoder"), origin, spec);
  // "truncation" and "padding" are ignored, as transformers' pipelines do unless asked: the
  // length comes from EncodeOptions / model_max_length, and padding is the caller's business.
  if (root.contains("added_tokens")) {
    const json& a = root["added_tokens"];
    if (!a.is_array()) throw Error(origin + ": added_tokens: expected an array");
    for (size_t i = 0; i < a.size(); ++i) {
      AddedToken t = added_token_from(a[i], origin + ": added_tokens[" + std::to_string(i) + "]");
      if (t.id < 0) throw Error(origin + ": added_tokens[" + std::to_string(i) + "]: id missing");
      // tokenizer.json does not name the pad token; RoBERTa's is "<pad>" (the config may
      // say otherwise).
      if (t.content == "<pad>" || t.content == "[PAD]") spec.pad_token = t.content;
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
    spec.post.kind = PostProcessor::Kind::kRoberta;
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

ModelSpec spec_from_vocab_txt(const std::string& vocab_path,
                              const std::optional<std::string>& config_path) {
  ModelSpec spec;
  spec.type = ModelType::kWordPiece;
  spec.origin = vocab_path;
  const std::string text = read_file(vocab_path);
  std::unordered_map<std::string, size_t> line_of;
  size_t line_no = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string token = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (!token.empty() && token.back() == '\r') token.pop_back();
    if (base::first_invalid_utf8(token)) {
      throw Error(vocab_path + ":" + std::to_string(line_no) + ": invalid UTF-8");
    }
    const auto [it, fresh] = line_of.emplace(token, line_no);
    if (!fresh) {
      throw Error(vocab_path + ":" + std::to_string(line_no) + ": duplicate token \"" + token +
                  "\" (first on line " + std::to_string(it->second) + ")");
    }
    spec.vocab.emplace(std::move(token), static_cast<int32_t>(line_no - 1));
  }
  if (spec.vocab.empty()) throw Error(vocab_path + ": empty vocabulary");
  json cfg = json::object();
  if (config_path) {
    cfg = parse_json(read_file(*config_path), *config_path);
    if (!cfg.is_object()) throw Error(*config_path + ": expected a JSON object");
    spec.origin += " + " + *config_path;
  }
  const std::string where = config_path.value_or("tokenizer_config.json");
  if (cfg.contains("tokenizer_class") && cfg["tokenizer_class"].is_string()) {
    const std::string cls = cfg["tokenizer_class"];
    if (cls != "BertTokenizer" && cls != "BertTokenizerFast") {
      throw Error(where + ": tokenizer_class " + cls +
                  " with vocab.txt (supported: BertTokenizer, BertTokenizerFast)");
    }
  }
  // A special token is a string or an AddedToken object ({"content": ...}).
  auto token = [&](const char* key, const char* fallback) -> std::string {
    if (!cfg.contains(key) || cfg[key].is_null()) return fallback;
    const json& v = cfg[key];
    if (v.is_string()) return v;
    if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"];
    throw Error(where + ": " + key + ": expected a string or {\"content\": ...}");
  };
  // transformers' BertTokenizer defaults.
  const std::string unk = token("unk_token", "[UNK]"), sep = token("sep_token", "[SEP]"),
                    pad = token("pad_token", "[PAD]"), cls = token("cls_token", "[CLS]"),
                    mask = token("mask_token", "[MASK]");
  BertNormalizerOptions norm;
  norm.lowercase = get_bool(cfg, "do_lower_case", true, where);
  norm.handle_chinese_chars = get_bool(cfg, "tokenize_chinese_chars", true, where);
  norm.strip_accents = get_bool(cfg, "strip_accents", norm.lowercase, where);
  spec.normalizer = norm;
  spec.unk_token = unk;
  spec.post.kind = PostProcessor::Kind::kBert;
  spec.post.cls_token = cls;
  spec.post.sep_token = sep;
  spec.decoder = DecoderType::kWordPiece;
  if (config_path) apply_tokenizer_config(spec, *config_path, true);
  spec.post.cls_token = cls;
  spec.post.sep_token = sep;
  spec.post.cls_id = spec.post.sep_id = -1;
  for (const std::string& t : {pad, unk, cls, sep, mask}) {
    const bool known = std::any_of(spec.added_tokens.begin(), spec.added_tokens.end(),
                                   [&](const AddedToken& a) { return a.content == t; });
    const auto it = spec.vocab.find(t);
    if (known || it == spec.vocab.end()) continue;
    AddedToken a;
    a.content = t;
    a.id = it->second;
    a.normalized = false;  // matched in the raw text, as transformers adds special tokens
    spec.added_tokens.push_back(a);
  }
  spec.pad_token = pad;
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
      const auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
      const bool digits =
          !key.empty() && key.size() <= 7 && std::all_of(key.begin(), key.end(), is_digit);
      if (!digits || std::stol(key) > kMaxTokenId) {
        throw Error(where + ": the key must be a token id (" + kTokenIdRange + ")");
      }
      t.id = static_cast<int32_t>(std::stol(key));
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
