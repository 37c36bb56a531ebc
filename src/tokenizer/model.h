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
#include "tokenizer/bert_normalizer.h"
#include "tokenizer/bpe.h"
#include "tokenizer/post_processor.h"
#include "tokenizer/wordpiece.h"

namespace refusal::tokenizer {

enum class ModelType { kBpe, kWordPiece };
enum class DecoderType { kNone, kByteLevel, kWordPiece };

// What the loaders collect before the model is built.
struct ModelSpec {
  std::string origin;  // file names, for messages
  std::unordered_map<std::string, int32_t> vocab;
  std::vector<std::pair<std::string, std::string>> merges;
  std::optional<std::string> unk_token;
  ModelType type = ModelType::kBpe;
  // WordPiece model, BertNormalizer and BertPreTokenizer (BERT).
  std::string continuing_subword_prefix = "##";
  size_t max_input_chars_per_word = 100;
  std::optional<BertNormalizerOptions> normalizer;
  std::vector<AddedToken> added_tokens;
  PostProcessor post;
  DecoderType decoder = DecoderType::kByteLevel;
  std::string decoder_prefix = "##";  // WordPiece decoder
  bool decoder_cleanup = true;
  size_t model_max_length = 512;
  std::optional<std::string> pad_token;
};

struct Model {
  explicit Model(ModelSpec spec);
  Model(const Model&) = delete;  // wordpiece points into vocab
  Model& operator=(const Model&) = delete;

  std::string origin;
  std::unordered_map<std::string, int32_t> vocab;  // token text (byte-level for BPE) -> id
  std::vector<std::string> id_to_token;            // model vocabulary, by id
  ModelType type;
  Bpe bpe;              // type == kBpe
  WordPiece wordpiece;  // type == kWordPiece (points into `vocab`)
  std::optional<BertNormalizerOptions> normalizer;
  AddedVocabulary added;
  PostProcessor post;
  DecoderType decoder;
  std::string decoder_prefix;
  bool decoder_cleanup;
  size_t model_max_length;
  std::optional<int32_t> pad_id;
};

// Loaders (loader.cpp).
ModelSpec spec_from_tokenizer_json(std::string_view json, const std::string& origin);
ModelSpec spec_from_vocab_merges(const std::string& vocab_path, const std::string& merges_path);
// BERT: vocab.txt (one token a line, id = line number - 1) + tokenizer_config.json settings.
ModelSpec spec_from_vocab_txt(const std::string& vocab_path,
                              const std::optional<std::string>& tokenizer_config_path);
// Applies tokenizer_config.json / special_tokens_map.json on top of `spec`.
void apply_tokenizer_config(ModelSpec& spec, const std::string& path, bool take_added_tokens);
void apply_special_tokens_map(ModelSpec& spec, const std::string& path);
std::string read_file(const std::string& path);

}  // namespace refusal::tokenizer
