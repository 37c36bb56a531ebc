#include "refusal/default_model.h"

#include "base/data_files.h"
#include "refusal/error.h"

namespace refusal {

std::filesystem::path default_model_path() {
  constexpr const char* kRelative = "models/default";
  if (auto found = base::find_data_file(std::string(kRelative) + "/config.json")) {
    return found->parent_path();
  }
  throw Error(std::string("no model given and the bundled default model (") + kRelative +
              ") is not installed; looked in: " + base::data_search_path_text() +
              ". Pass --model DIR|HUB_ID, or set REFUSAL_DATA_DIR to the folder holding models/");
}

std::string model_or_default(const std::string& model) {
  return model.empty() ? default_model_path().string() : model;
}

}  // namespace refusal
