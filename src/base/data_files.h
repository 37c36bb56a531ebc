// Finding the data files that ship with refusal (punkt_tab, the bundled model) wherever it is
// installed or built.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace refusal::base {

// The first existing `relative` path under: $REFUSAL_DATA_DIR; <executable>/../share/refusal;
// the folders above the executable up to the source tree's data/ (a build tree); the source
// tree's data/ this library was built from. nullopt when none exists.
std::optional<std::filesystem::path> find_data_file(const std::string& relative);

// The places find_data_file looks, for error messages.
std::string data_search_path_text();

}  // namespace refusal::base
