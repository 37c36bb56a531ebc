// What tells RoBERTa from BERT where the math is shared: tensor names, positions, the head.
// Internal to the library (the loader, the encoder, training).
#pragma once

#include <string>

#include "refusal/model.h"

namespace refusal {

// How an architecture names its tensors, numbers its positions and shapes its head. Tensor
// names below are those of the *ForSequenceClassification class; a bare base model (RobertaModel,
// BertModel) stores the encoder's tensors without the `base.` prefix and has no head.
struct ArchitectureScheme {
  std::string model_type;             // "roberta", "bert"
  std::string class_name;             // "RobertaForSequenceClassification", ...
  std::string base;                   // "roberta", "bert": prefix of the encoder's tensors
  bool roberta_positions = false;     // positions count from pad_token_id + 1 and skip pad ids
                                      // (else 0..n-1)
  bool pad_position_row = false;      // position_embeddings has padding_idx = pad_token_id
  std::string head_dense;             // [hidden, hidden] + tanh on the first token:
                                      // "classifier.dense" or "bert.pooler.dense"
  std::string head_out;               // [labels, hidden]: "classifier.out_proj" or "classifier"
  bool dropout_before_dense = false;  // RoBERTa's head: dropout → dense → tanh → dropout → out
                                      // (BERT: pooler dense → tanh → dropout → classifier)
};

// The scheme of "roberta" or "bert"; throws refusal::Error for any other model_type.
const ArchitectureScheme& architecture_scheme(const std::string& model_type);
inline const ArchitectureScheme& architecture_scheme(const ModelConfig& config) {
  return architecture_scheme(config.model_type);
}

}  // namespace refusal
