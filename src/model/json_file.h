// Reading small JSON files (config.json, index files) with errors that name the file.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>

namespace refusal::model {

// Parses a JSON file; a syntax error names the file and the byte offset.
nlohmann::json read_json_file(const std::filesystem::path& path);

}  // namespace refusal::model
