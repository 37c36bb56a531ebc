#include "model/formula_weights.h"

#include <cstdint>

#include "model/safetensors.h"

namespace refusal::testing {
namespace {

std::uint64_t fnv1a64(const std::string& text) {
  std::uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char b : text) {
    h ^= b;
    h *= 0x100000001B3ull;
  }
  return h;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::vector<float> formula_values(const std::string& name, std::size_t count) {
  double offset = 0.0, half = 0.08;
  if (ends_with(name, "LayerNorm.weight")) {
    offset = 1.0, half = 0.1;
  } else if (ends_with(name, "LayerNorm.bias")) {
    half = 0.05;
  } else if (ends_with(name, ".bias")) {
    half = 0.02;
  } else if (name.find("embeddings") != std::string::npos) {
    half = 0.1;
  }
  const std::uint64_t seed = fnv1a64(name);
  std::vector<float> values(count);
  for (std::size_t i = 0; i < count; ++i) {
    std::uint64_t z = seed + (i + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z = z ^ (z >> 31);
    const double u = static_cast<double>(z >> 40) / static_cast<double>(1 << 24);
    values[i] = static_cast<float>(offset + half * (2.0 * u - 1.0));
  }
  return values;
}

void write_formula_model(const std::filesystem::path& config_json, const ModelConfig& c,
                         const std::filesystem::path& folder) {
  std::filesystem::create_directories(folder);
  std::filesystem::copy_file(config_json, folder / "config.json",
                             std::filesystem::copy_options::overwrite_existing);
  const std::int64_t h = c.hidden_size, ffn = c.intermediate_size;
  std::vector<std::pair<std::string, std::vector<std::int64_t>>> shapes = {
      {"roberta.embeddings.word_embeddings.weight", {c.vocab_size, h}},
      {"roberta.embeddings.position_embeddings.weight", {c.max_position_embeddings, h}},
      {"roberta.embeddings.token_type_embeddings.weight", {c.type_vocab_size, h}},
      {"roberta.embeddings.LayerNorm.weight", {h}},
      {"roberta.embeddings.LayerNorm.bias", {h}},
      {"classifier.dense.weight", {h, h}},
      {"classifier.dense.bias", {h}},
      {"classifier.out_proj.weight", {c.num_labels(), h}},
      {"classifier.out_proj.bias", {c.num_labels()}}};
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "roberta.encoder.layer." + std::to_string(i) + ".";
    for (const char* part : {"attention.self.query", "attention.self.key", "attention.self.value",
                             "attention.output.dense"}) {
      shapes.push_back({p + part + ".weight", {h, h}});
      shapes.push_back({p + part + ".bias", {h}});
    }
    shapes.push_back({p + "attention.output.LayerNorm.weight", {h}});
    shapes.push_back({p + "attention.output.LayerNorm.bias", {h}});
    shapes.push_back({p + "intermediate.dense.weight", {ffn, h}});
    shapes.push_back({p + "intermediate.dense.bias", {ffn}});
    shapes.push_back({p + "output.dense.weight", {h, ffn}});
    shapes.push_back({p + "output.dense.bias", {h}});
    shapes.push_back({p + "output.LayerNorm.weight", {h}});
    shapes.push_back({p + "output.LayerNorm.bias", {h}});
  }
  std::vector<std::vector<float>> storage;
  std::vector<model::TensorData> tensors;
  for (const auto& [name, shape] : shapes) {
    std::size_t n = 1;
    for (auto d : shape) n *= static_cast<std::size_t>(d);
    storage.push_back(formula_values(name, n));
    tensors.push_back({name, model::DType::F32, shape, std::as_bytes(std::span(storage.back()))});
  }
  model::write_safetensors(folder / "model.safetensors", tensors);
}

}  // namespace refusal::testing
