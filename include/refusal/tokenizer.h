// Byte-level BPE (GPT-2 / RoBERTa) and WordPiece (BERT) tokenizers that give the same ids,
// tokens and offsets as Hugging Face `tokenizers` (see docs/tokenizer.md for the pipelines and
// what is supported).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace refusal {

// What encode() does with bytes that are not UTF-8.
enum class Utf8Errors {
  kReplace,  // each maximal ill-formed subsequence becomes U+FFFD, like Python errors="replace"
  kStrict,   // throw refusal::Error naming the byte offset of the first bad byte
};

// max_length value that turns truncation off.
inline constexpr size_t kNoTruncation = std::numeric_limits<size_t>::max();

struct EncodeOptions {
  // Most tokens per encoding, special tokens included. 0 = the tokenizer's model_max_length
  // (512 for RoBERTa and BERT); kNoTruncation = keep everything.
  size_t max_length = 0;
  bool add_special_tokens = true;
  Utf8Errors utf8_errors = Utf8Errors::kReplace;
  // Fill Encoding::tokens (the classifier only needs ids; skipping the strings is faster).
  bool with_tokens = true;
};

// [start, end) of a token in the input.
using Offsets = std::pair<size_t, size_t>;

struct Encoding {
  std::vector<int32_t> ids;
  // Token strings: byte-level for BPE ("Ġworld"), wordpieces for BERT ("##ing"); empty if
  // !with_tokens.
  std::vector<std::string> tokens;
  // Code point offsets, exactly what the Python `tokenizers` / transformers return.
  std::vector<Offsets> offsets;
  // UTF-8 byte offsets (what the Rust core computes), into the text after U+FFFD repair.
  std::vector<Offsets> byte_offsets;
  std::vector<uint8_t> special_tokens_mask;  // 1 for <s>, </s>, [CLS], [SEP]
  std::vector<int8_t> sequence_ids;          // -1 special, 0 first text, 1 second text
  std::vector<uint8_t> type_ids;             // token_type_ids: BERT's second text is 1
  bool truncated = false;                    // tokens were dropped by max_length

  size_t size() const { return ids.size(); }
};

// A token matched in the raw text before pre-tokenization (HF's AddedToken).
struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = true;
  bool lstrip = false;       // also swallow the whitespace before it
  bool rstrip = false;       // also swallow the whitespace after it
  bool normalized = true;    // matched after normalization (second pass)
  bool single_word = false;  // only when not inside a word
};

// The tokenizer files of a model folder; those not there are empty.
struct TokenizerFiles {
  std::filesystem::path folder;
  std::optional<std::filesystem::path> tokenizer_json;
  std::optional<std::filesystem::path> vocab_json;
  std::optional<std::filesystem::path> merges_txt;
  std::optional<std::filesystem::path> vocab_txt;  // BERT's WordPiece vocabulary
  std::optional<std::filesystem::path> tokenizer_config;
  std::optional<std::filesystem::path> special_tokens_map;
};

// Looks for tokenizer.json, vocab.json, merges.txt, vocab.txt, tokenizer_config.json and
// special_tokens_map.json in `folder` (regular files, or links to them).
TokenizerFiles find_tokenizer_files(const std::filesystem::path& folder);

namespace tokenizer {
struct Model;  // internal: src/tokenizer/model.h
}

// Immutable once loaded; copies share the model. encode*/decode are thread-safe.
class Tokenizer {
 public:
  // A HF tokenizer.json: byte-level BPE (BPE model, ByteLevel pre-tokenizer and decoder,
  // RobertaProcessing or no post-processor) or BERT (WordPiece model, BertNormalizer,
  // BertPreTokenizer, TemplateProcessing/BertProcessing, WordPiece decoder); anything else is
  // refused, naming the component. Its "truncation" and "padding" are ignored.
  static Tokenizer from_tokenizer_json(const std::filesystem::path& path);
  // The same from JSON text; `origin` names it in error messages.
  static Tokenizer from_tokenizer_json_string(std::string_view json, std::string_view origin);
  // GPT-2 style files; the optional configs give added tokens and model_max_length.
  static Tokenizer from_vocab_merges(
      const std::filesystem::path& vocab_json, const std::filesystem::path& merges_txt,
      const std::optional<std::filesystem::path>& tokenizer_config_json = std::nullopt,
      const std::optional<std::filesystem::path>& special_tokens_map_json = std::nullopt);
  // A model folder: from_files(find_tokenizer_files(folder)).
  static Tokenizer from_model_folder(const std::filesystem::path& folder);
  // tokenizer.json if present, else vocab.json + merges.txt (RoBERTa), else vocab.txt (BERT:
  // do_lower_case, tokenize_chinese_chars, strip_accents from the config); reads
  // tokenizer_config.json (model_max_length, added tokens) and special_tokens_map.json.
  static Tokenizer from_files(const TokenizerFiles& files);

  // One text: <s> tokens </s> ([CLS] tokens [SEP]), truncated to options.max_length.
  Encoding encode(std::string_view utf8, const EncodeOptions& options = {}) const;
  // Two texts: <s> a </s></s> b </s> ([CLS] a [SEP] b [SEP]), truncated longest-first like HF.
  Encoding encode_pair(std::string_view first, std::string_view second,
                       const EncodeOptions& options = {}) const;
  // All of a long text as windows of <= max_length tokens (specials included) that overlap by
  // `stride` tokens: HF's encoding plus its `overflowing` (return_overflowing_tokens=True).
  // options.max_length is ignored. Throws if stride leaves no room to advance.
  std::vector<Encoding> encode_windows(std::string_view utf8, size_t max_length, size_t stride,
                                       const EncodeOptions& options = {}) const;

  // Ids back to text (ByteLevel or WordPiece decoder; invalid UTF-8 becomes U+FFFD). Unknown
  // ids are skipped.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = true) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::optional<std::string> id_to_token(int32_t id) const;
  size_t vocab_size() const;  // model vocabulary plus added tokens beyond it
  size_t model_max_length() const;
  // Special tokens the post-processor adds: 2 for one text, 4 (RoBERTa) or 3 (BERT) for a pair.
  size_t num_special_tokens_to_add(bool pair = false) const;
  std::optional<int32_t> pad_token_id() const;
  const std::vector<AddedToken>& added_tokens() const;

  // Words kept in the BPE word cache (for tests and benchmarks).
  size_t cache_size() const;
  void clear_cache() const;

 private:
  explicit Tokenizer(std::shared_ptr<const tokenizer::Model> model);
  std::shared_ptr<const tokenizer::Model> model_;
};

}  // namespace refusal
