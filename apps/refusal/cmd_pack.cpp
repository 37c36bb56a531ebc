// `refusal pack`: stores a model's packed encoder weights for a dtype, so later loads map them
// instead of packing (and quantizing) model.safetensors again.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "refusal/default_model.h"
#include "refusal/engine.h"
#include "refusal/error.h"

namespace refusal::app {
namespace {

struct PackOptions {
  std::string model;
  std::vector<std::string> dtypes{"int8"};
  std::string output;
};

int run_pack(const PackOptions& o) {
  if (!o.output.empty() && o.dtypes.size() != 1) {
    throw Error("--output: give one --dtype with it (each dtype has its own file)");
  }
  const std::string model = model_or_default(o.model);
  for (const auto& name : o.dtypes) {
    const auto start = std::chrono::steady_clock::now();
    // Pack from model.safetensors, whatever is stored already.
    const Engine engine =
        Engine::load(model, {.threads = 1, .dtype = parse_dtype(name), .packed_weights = false});
    const auto path = engine.save_packed_weights(o.output);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::error_code ec;
    const auto bytes = std::filesystem::file_size(path, ec);
    std::printf("%s: %s packed weights, %.1f MB, in %.2f s\n", path.string().c_str(), name.c_str(),
                ec ? 0.0 : static_cast<double>(bytes) / 1e6, seconds);
  }
  return 0;
}

}  // namespace

Command add_pack_command(CLI::App& app) {
  auto options = std::make_shared<PackOptions>();
  auto* cmd = app.add_subcommand(
      "pack",
      "Store a model's packed (bf16: rounded, int8: quantized) encoder weights, so loading it "
      "for that dtype maps them instead of packing them again");
  cmd->footer(
      "The file, FOLDER/refusal-packed-DTYPE.bin next to config.json, is used automatically by "
      "every command (classify, serve, eval, bench, the Python package) loading the model with "
      "that dtype: same results, bit for bit, faster start. It records a fingerprint of "
      "model.safetensors: if the model changes, or the file is damaged, truncated or from "
      "another version, loading fails with an error naming the file and what is wrong (it is "
      "never used, never silently skipped); rerun `refusal pack` or delete the file. Format and "
      "timings: docs/kernels.md.");
  cmd->add_option("-m,--model", options->model,
                  "Model folder, Hugging Face cache folder, or hub id in the local cache "
                  "(default: the bundled model)");
  cmd->add_option("--dtype", options->dtypes, "One or more of fp32, bf16, int8")
      ->check(CLI::IsMember({"fp32", "bf16", "int8"}))
      ->capture_default_str();
  cmd->add_option("-o,--output", options->output,
                  "Write here instead (then load it with EngineOptions::packed_weights_file; "
                  "only the default place is used automatically)");
  return [options] { return run_pack(*options); };
}

}  // namespace refusal::app
