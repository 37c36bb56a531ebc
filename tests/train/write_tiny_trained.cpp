// Writes the committed results of the two small training runs (tests/train/tiny_runs.h):
// DIR/tiny-trained and DIR/tiny-bert-trained, DIR being tests/data/train unless given. Run from
// the repository root (the runs read tests/data/models); the exact commands, and the step that
// records transformers' logits for the folders, are in tests/data/train/README.md.
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>

#include "train/tiny_runs.h"

int main(int argc, char** argv) {
  if (argc > 2 ||
      (argc == 2 && (std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help"))) {
    std::fprintf(
        stderr, "usage: %s [DIR]   (default DIR: tests/data/train; run from the repository root)\n",
        argv[0]);
    return 2;
  }
  const std::filesystem::path dir = argc == 2 ? argv[1] : "tests/data/train";
  try {
    if (!std::filesystem::is_directory(refusal::train::tiny::kRobertaModel)) {
      std::fprintf(stderr, "%s: not found; run from the repository root\n",
                   refusal::train::tiny::kRobertaModel.c_str());
      return 1;
    }
    std::filesystem::create_directories(dir);
    refusal::train::tiny::write_tiny_trained(dir);
    std::printf("wrote %s\n", (dir / "tiny-trained").c_str());
    refusal::train::tiny::write_tiny_bert_trained(dir);
    std::printf("wrote %s\n", (dir / "tiny-bert-trained").c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "write_tiny_trained: %s\n", e.what());
    return 1;
  }
  return 0;
}
