// Weights that scripts/vectors/make_model_vectors.py and this test both derive from a formula, so a
// model of the real dimensions can be checked against transformers without committing 328 MB.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "refusal/model.h"

namespace refusal::testing {

// The values formula_value(name, shape) gives in scripts/vectors/make_model_vectors.py.
std::vector<float> formula_values(const std::string& name, std::size_t count);

// Writes `folder`/model.safetensors with formula weights for every tensor of a
// RobertaForSequenceClassification of `config`, and copies config.json there.
void write_formula_model(const std::filesystem::path& config_json, const ModelConfig& config,
                         const std::filesystem::path& folder);

}  // namespace refusal::testing
