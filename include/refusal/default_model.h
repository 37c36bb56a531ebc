// The bundled default model: what every front end (CLI, server, Python) runs when no model is
// named. It ships in the repository's data/models/default/ and is installed with the binary.
#pragma once

#include <filesystem>
#include <string>

namespace refusal {

// Where the bundled model is: data/models/default under $REFUSAL_DATA_DIR,
// <executable>/../share/refusal, the build tree or the source tree (first found).
// Throws refusal::Error naming the places searched when it is missing.
std::filesystem::path default_model_path();

// `model` itself, or the bundled model's folder when `model` is empty.
std::string model_or_default(const std::string& model);

}  // namespace refusal
