// A model as found on disk: where its files are, and what its config.json says.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "refusal/tokenizer.h"

namespace refusal {

// The files of one model, and how each was found.
struct ModelFiles {
  std::string request;           // what the user asked for: a folder, a cache folder or a hub id
  std::string resolved_as;       // "folder", "hf-cache folder" or "hub id (local cache)"
  std::filesystem::path folder;  // the folder holding config.json
  std::filesystem::path config;  // config.json
  std::vector<std::filesystem::path> weights;  // model.safetensors, or the shards of the index
  std::optional<std::filesystem::path> weights_index;  // model.safetensors.index.json
  TokenizerFiles tokenizer;                            // find_tokenizer_files(folder)
};

// Finds a model: a folder with config.json; a Hugging Face cache folder
// (`models--ORG--NAME`, or one of its `snapshots/REV/`); or a hub id such as
// `ProtectAI/distilroberta-base-rejection-v1` (optionally `@REVISION`), looked up in the local
// cache only (HF_HUB_CACHE, else HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
// ~/.cache/huggingface/hub). Never touches the network. Throws refusal::Error saying where it
// looked and how to download the model when nothing is found.
ModelFiles resolve_model(const std::string& model);

// The hub cache folder that resolve_model searches, from the environment.
std::filesystem::path hf_hub_cache_dir();

// What config.json says, checked. Only what the engine uses is kept.
struct ModelConfig {
  std::string model_type;  // "roberta" or "bert"
  std::vector<std::string> architectures;
  int vocab_size = 0;
  int hidden_size = 0;
  int num_hidden_layers = 0;
  int num_attention_heads = 0;
  int intermediate_size = 0;
  std::string hidden_act;  // "gelu" (exact erf), "gelu_new", "relu", ...
  float layer_norm_eps = 1e-12f;
  int max_position_embeddings = 0;
  int type_vocab_size = 0;
  int pad_token_id = 1;
  std::string position_embedding_type = "absolute";
  std::string problem_type;  // "", "single_label_classification", "multi_label_classification"
  std::vector<std::string> labels;  // id2label, by id

  int num_labels() const { return static_cast<int>(labels.size()); }
  int head_dim() const { return hidden_size / num_attention_heads; }
  // The transformers class the engine runs this model as: "RobertaForSequenceClassification"
  // or "BertForSequenceClassification".
  const std::string& class_name() const;
  bool is_bert() const { return model_type == "bert"; }
  // The longest input, specials included: RoBERTa positions start after pad_token_id, BERT's
  // at 0.
  int max_tokens() const {
    return is_bert() ? max_position_embeddings : max_position_embeddings - pad_token_id - 1;
  }
  bool multi_label() const { return problem_type == "multi_label_classification"; }
};

// Reads and checks config.json. Errors name the file and the field.
ModelConfig load_model_config(const std::filesystem::path& config_json);

// Position ids as transformers computes them for one unpadded sequence: BERT 0..n-1; RoBERTa
// pad ids keep pad_token_id, every other token counts up from pad_token_id + 1.
std::vector<std::int32_t> position_ids(const ModelConfig& config,
                                       const std::vector<std::int32_t>& ids);
// The same into `out` (out.size() == ids.size()), without allocating.
void position_ids(const ModelConfig& config, std::span<const std::int32_t> ids,
                  std::span<std::int32_t> out);

}  // namespace refusal
