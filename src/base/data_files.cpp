#include "base/data_files.h"

#include <unistd.h>

#include <cstdlib>
#include <vector>

namespace refusal::base {
namespace fs = std::filesystem;
namespace {

std::vector<fs::path> data_roots() {
  std::vector<fs::path> roots;
  if (const char* dir = std::getenv("REFUSAL_DATA_DIR"); dir != nullptr && *dir != '\0') {
    roots.emplace_back(dir);
  }
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    roots.push_back(exe.parent_path().parent_path() / "share" / "refusal");
    // A build tree: build/<preset>/refusal or build/<preset>/tests/x/test → <source>/data.
    for (fs::path p = exe.parent_path(); !p.empty() && p != p.root_path(); p = p.parent_path()) {
      if (fs::exists(p / "data" / "punkt_tab", ec)) {
        roots.push_back(p / "data");
        break;
      }
    }
  }
  roots.emplace_back(fs::path(REFUSAL_SOURCE_DIR) / "data");
  return roots;
}

}  // namespace

std::optional<fs::path> find_data_file(const std::string& relative) {
  std::error_code ec;
  for (const auto& root : data_roots()) {
    if (fs::exists(root / relative, ec)) return root / relative;
  }
  return std::nullopt;
}

std::string data_search_path_text() {
  std::string text;
  for (const auto& root : data_roots()) text += (text.empty() ? "" : ", ") + root.string();
  return text;
}

}  // namespace refusal::base
