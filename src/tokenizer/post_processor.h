// HF post-processors (RobertaProcessing, BertProcessing, TemplateProcessing) as one template:
// the special tokens and the two texts in order, each with its token type id.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace refusal::tokenizer {

// One slot of a template: a text ($A = 0, $B = 1) or one special token.
struct TemplatePiece {
  int8_t sequence = -1;  // -1: the special token below
  uint8_t type_id = 0;
  std::string token;
  int32_t id = -1;  // resolved by Model when the file gave only the token
};

struct PostProcessor {
  enum class Kind { kNone, kRoberta, kBert, kTemplate };
  Kind kind = Kind::kNone;
  // RobertaProcessing / BertProcessing: the config files may rename these, so the templates
  // are built from them when the model is (Model::Model).
  std::string cls_token, sep_token;
  int32_t cls_id = -1, sep_id = -1;
  std::vector<TemplatePiece> single, pair;  // empty: nothing added
  bool trim_offsets = false;                // RobertaProcessing / ByteLevel trim_offsets
  bool add_prefix_space = false;
  // RobertaProcessing gives type id 0 to everything, even without special tokens.
  bool zero_type_ids = false;

  bool adds_specials() const { return kind != Kind::kNone; }
  // Special tokens added to one text or a pair (2 / 4 for RoBERTa, 2 / 3 for BERT).
  size_t added(bool is_pair) const {
    size_t n = 0;
    for (const TemplatePiece& p : is_pair ? pair : single) n += p.sequence < 0;
    return n;
  }
  // Fills single/pair for kRoberta / kBert from cls/sep (ids resolved).
  void build_templates();
};

}  // namespace refusal::tokenizer
