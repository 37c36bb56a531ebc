// libFuzzer target: any bytes as a sharded model's model.safetensors.index.json, read by
// resolve_model (src/model/model_source.cpp), then, with mode bit 1, the model loaded from the
// shards it names and run on one sequence.
//
// The folder is a copy of tests/data/models/tiny-roberta-sharded with traps beside and in it:
// outside.safetensors next to the folder (a valid shard), and links in the folder that point
// out of it (link-out.safetensors, link-abs.safetensors, link-dir -> ..) or stay inside
// (link-in.safetensors). Whatever the index says, every shard resolve_model returns must lie in
// the folder once links are followed: paths that climb out, absolute paths and links out are
// refused with an error.
//
// Input: byte 0 = mode, the rest = the index file.
#include <cstdint>
#include <vector>

#include "fuzz_support.h"
#include "refusal/engine.h"
#include "refusal/error.h"
#include "refusal/model.h"

namespace {

namespace fs = std::filesystem;

struct Folder {
  fs::path dir = refusal::fuzz::scratch() / "model";
  fs::path index = dir / "model.safetensors.index.json";
  fs::path canonical;

  Folder() {
    const fs::path source = refusal::fuzz::repo_file("tests/data/models/tiny-roberta-sharded");
    fs::create_directories(dir);
    for (const auto& entry : fs::directory_iterator(source)) {
      if (entry.path().filename() != "model.safetensors.index.json") {
        fs::copy_file(entry.path(), dir / entry.path().filename());
      }
    }
    const fs::path shard = dir / "model-00001-of-00004.safetensors";
    const fs::path outside = refusal::fuzz::scratch() / "outside.safetensors";
    fs::copy_file(shard, outside);
    fs::create_symlink("../outside.safetensors", dir / "link-out.safetensors");
    fs::create_symlink(fs::absolute(outside), dir / "link-abs.safetensors");
    fs::create_symlink("..", dir / "link-dir");
    fs::create_symlink("model-00001-of-00004.safetensors", dir / "link-in.safetensors");
    canonical = fs::canonical(dir);
  }
};

bool inside(const fs::path& path, const fs::path& root) {
  auto p = path.begin();
  for (auto r = root.begin(); r != root.end(); ++r, ++p) {
    if (p == path.end() || *p != *r) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const Folder folder;
  if (size < 1) return 0;
  const std::uint8_t mode = data[0];
  refusal::fuzz::write_file(folder.index, {reinterpret_cast<const char*>(data + 1), size - 1});
  refusal::ModelFiles files;
  try {
    files = refusal::resolve_model(folder.dir.string());
  } catch (const refusal::Error& e) {
    refusal::fuzz::refused(e);
    return 0;
  }
  FUZZ_CHECK(files.weights_index.has_value());
  for (const auto& w : files.weights) {
    FUZZ_CHECK(fs::is_regular_file(w));
    FUZZ_CHECK(inside(fs::canonical(w), folder.canonical));
  }
  if (mode & 1) {
    try {
      const auto engine = refusal::Engine::load(files, {.threads = 1});
      const std::vector<std::vector<std::int32_t>> batch = {{0, 31, 415, 2}};
      FUZZ_CHECK(engine.classify(batch).size() == 1);
    } catch (const refusal::Error& e) {
      refusal::fuzz::refused(e);
    }
  }
  return 0;
}
