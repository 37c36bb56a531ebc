// libFuzzer target: any bytes as a model's config.json (load_model_config,
// src/model/config.cpp). A config it accepts must describe a model the engine can size:
// supported type, positive dimensions, heads dividing the hidden size, labels 0..n-1, room for
// at least one token, position ids inside the position table.
#include <cstdint>
#include <vector>

#include "fuzz_support.h"
#include "refusal/error.h"
#include "refusal/model.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::filesystem::path path = refusal::fuzz::scratch() / "config.json";
  refusal::fuzz::write_file(path, {reinterpret_cast<const char*>(data), size});
  refusal::ModelConfig c;
  try {
    c = refusal::load_model_config(path);
  } catch (const refusal::Error& e) {
    refusal::fuzz::refused(e);
    return 0;
  }
  FUZZ_CHECK(c.model_type == "roberta" || c.model_type == "bert");
  FUZZ_CHECK(c.vocab_size > 0 && c.hidden_size > 0 && c.num_hidden_layers > 0);
  FUZZ_CHECK(c.num_attention_heads > 0 && c.hidden_size % c.num_attention_heads == 0);
  FUZZ_CHECK(c.head_dim() > 0 && c.intermediate_size > 0 && c.type_vocab_size > 0);
  FUZZ_CHECK(c.pad_token_id >= 0 && c.pad_token_id < c.vocab_size);
  FUZZ_CHECK(c.layer_norm_eps > 0.0f && c.layer_norm_eps < 1.0f);
  FUZZ_CHECK(c.num_labels() > 0 && c.max_tokens() >= 1);
  FUZZ_CHECK(!c.class_name().empty());
  // Position ids (of the longest input, when not huge) index the position table.
  const auto n = static_cast<std::size_t>(std::min(c.max_tokens(), 4096));
  for (const std::int32_t token : {0, c.pad_token_id, c.vocab_size - 1}) {
    const std::vector<std::int32_t> ids(n, token);
    for (const std::int32_t p : refusal::position_ids(c, ids)) {
      FUZZ_CHECK(p >= 0 && p < c.max_position_embeddings);
    }
  }
  return 0;
}
