// The tensors of a RobertaForSequenceClassification or BertForSequenceClassification (or of a
// bare RobertaModel/BertModel, without the head), bound by name and checked against the config
// at load, so the forward pass needs no checks.
#pragma once

#include <cstdint>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "model/safetensors.h"
#include "refusal/model.h"

namespace refusal::model {

struct LayerNormWeights {
  std::span<const float> gamma, beta;
};

struct LinearWeights {
  std::span<const float> weight;  // [out, in], PyTorch's layout
  std::span<const float> bias;    // [out]
};

struct EncoderLayerWeights {
  LinearWeights query, key, value, attention_out;
  LayerNormWeights attention_norm;
  LinearWeights intermediate, output;
  LayerNormWeights output_norm;
};

struct EncoderWeights {
  std::span<const float> word_embeddings;        // [vocab, hidden]
  std::span<const float> position_embeddings;    // [max_positions, hidden]
  std::span<const float> token_type_embeddings;  // [type_vocab, hidden]
  LayerNormWeights embedding_norm;
  std::vector<EncoderLayerWeights> layers;
  bool has_head = false;           // false: a bare base model
  LinearWeights classifier_dense;  // [hidden, hidden]: classifier.dense / pooler
  LinearWeights classifier_out;    // [labels, hidden]: out_proj / classifier
};

// Where the tensors of `config`'s architecture are in a set of files: the encoder's with the
// `roberta.`/`bert.` prefix (a *ForSequenceClassification) or without (a bare base model), and
// whether the classification head is there.
struct TensorLayout {
  std::string file_prefix;  // "bert." or "" (what the files put before "embeddings.", ...)
  bool has_head = false;    // the files hold the head's output layer (classifier*)
  // The name in the files of a tensor named as in the *ForSequenceClassification.
  std::string file_name(const ModelConfig& config, const std::string& canonical) const;
};
TensorLayout detect_layout(const ModelConfig& config, const TensorSet& tensors);

// Owns the weights: views into the memory-mapped files for aligned F32 tensors, converted
// copies for F16 and BF16.
class WeightStore {
 public:
  // With require_head, a model without the classification head is refused with an error that
  // says to fine-tune it; without, such a model loads with has_head false.
  // Without encoder_matrices, the encoder layers' weight matrices are checked (present, right
  // shape) but not read or converted, and their spans stay empty: for an encoder whose packed
  // weights come from elsewhere (model/packed_store.h).
  WeightStore(const ModelConfig& config, const std::vector<std::filesystem::path>& files,
              bool require_head = true, bool encoder_matrices = true);

  const EncoderWeights& weights() const { return weights_; }
  std::int64_t parameter_count() const { return parameters_; }
  std::vector<std::string> dtypes() const { return tensors_.dtypes(); }

  // Once the encoder's matrices are packed for the kernels, their original copies are dead
  // weight: converted copies are freed, pages of the memory map handed back to the kernel
  // (they stay readable: the file is still mapped). Their spans are emptied.
  void release_encoder_matrices(std::size_t layer);

 private:
  std::span<const float> bind(const std::string& name, std::vector<std::int64_t> shape,
                              bool read = true);
  void release(std::span<const float>& view);

  TensorSet tensors_;
  ModelConfig config_;
  TensorLayout layout_;
  std::string files_text_;
  std::set<std::string> bound_;
  // Converted tensors. Spans point into the inner buffers, which stay put when the outer vector
  // grows (moving a vector keeps its buffer).
  std::vector<std::vector<float>> converted_;
  EncoderWeights weights_;
  std::int64_t parameters_ = 0;
};

}  // namespace refusal::model
