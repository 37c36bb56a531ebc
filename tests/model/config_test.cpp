#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "refusal/error.h"
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

// Found by the 10-minute fuzz run (fuzz/corpus/config/regress_layer_norm_eps_underflow):
// 1e-65 is inside (0, 1) as a double and 0 as the engine's float.
TEST(ModelConfig, EpsilonThatIsZeroAsAFloatIsAnError) {
  std::ifstream in("tests/data/tokenizer/protectai-distilroberta-base-rejection-v1/config.json");
  std::stringstream text;
  text << in.rdbuf();
  std::string config = text.str();
  const std::string eps = "\"layer_norm_eps\": 1e-05";
  const auto at = config.find(eps);
  ASSERT_NE(at, std::string::npos);
  config.replace(at, eps.size(), "\"layer_norm_eps\": 1e-65");
  const auto dir = std::filesystem::temp_directory_path() / "refusal-config-eps-test";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "config.json") << config;
  try {
    load_model_config(dir / "config.json");
    ADD_FAILURE() << "1e-65 accepted";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), testing::HasSubstr("layer_norm_eps"));
    EXPECT_THAT(e.what(), testing::HasSubstr("1e-65 is 0 or 1 as a 32-bit float"));
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace refusal
