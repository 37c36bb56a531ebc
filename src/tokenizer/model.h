// Everything a loaded tokenizer holds; built by loader.cpp, used by tokenizer.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "refusal/tokenizer.h"
#include "tokenizer/added_vocabulary.h"
#include "tokenizer/bpe.h"

namespace refusal::tokenizer {

// The post-processor: RobertaProcessing adds <s> A </s> (or <s> A </s></s> B </s>); it and
// ByteLevel trim the spaces that byte-level tokens carry out of their offsets.
struct PostProcessor {
  bool roberta = false;       // add the special tokens
  bool trim_offsets = false;  // RobertaProcessing / ByteLevel trim_offsets
  bool add_prefix_space = false;
  std::string cls_token, sep_token;
  int32_t cls_id = -1, sep_id = -1;
  size_t added(bool pair) const { return roberta ? (pair ? 4 : 2) : 0; }
};

// What the loaders collect before the model is built.
struct ModelSpec {
  std::string origin;  // file names, for messages
  std::unordered_map<std::string, int32_t> vocab;
  std::vector<std::pair<std::string, std::string>> merges;
  std::optional<std::string> unk_token;
  std::vector<AddedToken> added_tokens;
  PostProcessor post;
  bool byte_level_decoder = true;
  size_t model_max_length = 512;
  std::optional<std::string> pad_token;
};

struct Model {
  explicit Model(ModelSpec spec);

  std::string origin;
  std::unordered_map<std::string, int32_t> vocab;  // byte-level token text -> id
  std::vector<std::string> id_to_token;            // model vocabulary, by id
  Bpe bpe;
  AddedVocabulary added;
  PostProcessor post;
  bool byte_level_decoder;
  size_t model_max_length;
  std::optional<int32_t> pad_id;
};

// Loaders (loader.cpp).
ModelSpec spec_from_tokenizer_json(std::string_view json, const std::string& origin);
ModelSpec spec_from_vocab_merges(const std::string& vocab_path, const std::string& merges_path);
// Applies tokenizer_config.json / special_tokens_map.json on top of `spec`.
void apply_tokenizer_config(ModelSpec& spec, const std::string& path, bool take_added_tokens);
void apply_special_tokens_map(ModelSpec& spec, const std::string& path);
std::string read_file(const std::string& path);

}  // namespace refusal::tokenizer
