#include <gtest/gtest.h>

#include "refusal/model.h"

namespace refusal {
namespace {

TEST(ModelConfig, ReadsTheRealProtectAIConfig) {
  const auto c = load_model_config(
      "tests/data/tokenizer/protectai-distilroberta-base-rejection-v1/config.json");
  EXPECT_EQ(c.model_type, "roberta");
  EXPECT_EQ(c.hidden_size, 768);
  EXPECT_EQ(c.num_hidden_layers, 6);
  EXPECT_EQ(c.num_attention_heads, 12);
  EXPECT_EQ(c.intermediate_size, 3072);
  EXPECT_EQ(c.vocab_size, 50265);
  EXPECT_EQ(c.max_position_embeddings, 514);
  EXPECT_EQ(c.max_tokens(), 512);
  EXPECT_EQ(c.pad_token_id, 1);
  EXPECT_EQ(c.hidden_act, "gelu");
  EXPECT_FLOAT_EQ(c.layer_norm_eps, 1e-5f);
  EXPECT_EQ(c.labels, (std::vector<std::string>{"NORMAL", "REJECTION"}));
  EXPECT_FALSE(c.multi_label());
}

}  // namespace
}  // namespace refusal
