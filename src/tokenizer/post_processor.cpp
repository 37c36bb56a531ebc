#include "tokenizer/post_processor.h"

namespace refusal::tokenizer {

void PostProcessor::build_templates() {
  if (kind != Kind::kRoberta && kind != Kind::kBert) return;
  const TemplatePiece cls{-1, 0, cls_token, cls_id}, sep{-1, 0, sep_token, sep_id};
  TemplatePiece a{0, 0, {}, -1}, b{1, 0, {}, -1}, sep_b = sep;
  single = {cls, a, sep};
  if (kind == Kind::kRoberta) {
    pair = {cls, a, sep, sep, b, sep};  // <s> A </s></s> B </s>, all type 0
    zero_type_ids = true;
  } else {
    b.type_id = sep_b.type_id = 1;  // [CLS] A [SEP] B [SEP], B and its [SEP] type 1
    pair = {cls, a, sep, b, sep_b};
  }
}

}  // namespace refusal::tokenizer
