// `refusal info`: what a model is and where its files were found.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "commands.h"
#include "refusal/engine.h"

namespace refusal::app {
namespace {

struct InfoOptions {
  std::string model;
  bool json = false;
};

std::string optional_path(const std::optional<std::filesystem::path>& p) {
  return p ? p->string() : "(none)";
}

int run_info(const InfoOptions& o) {
  const Engine engine = Engine::load(o.model, {.threads = 1});
  const auto& c = engine.config();
  const auto& f = engine.files();
  std::string weights, architectures, dtypes, labels;
  for (const auto& w : f.weights) weights += (weights.empty() ? "" : ", ") + w.string();
  for (const auto& a : c.architectures) architectures += (architectures.empty() ? "" : ", ") + a;
  for (const auto& d : engine.weight_dtypes()) dtypes += (dtypes.empty() ? "" : ", ") + d;
  for (int i = 0; i < c.num_labels(); ++i) {
    labels += (i ? ", " : "") + std::to_string(i) + " " + c.labels[static_cast<std::size_t>(i)];
  }
  if (o.json) {
    nlohmann::json j = {{"model", f.request},
                        {"resolved_as", f.resolved_as},
                        {"folder", f.folder.string()},
                        {"files",
                         {{"config", f.config.string()},
                          {"weights", weights},
                          {"weights_index", optional_path(f.weights_index)},
                          {"tokenizer_json", optional_path(f.tokenizer.tokenizer_json)},
                          {"vocab_json", optional_path(f.tokenizer.vocab_json)},
                          {"merges_txt", optional_path(f.tokenizer.merges_txt)},
                          {"vocab_txt", optional_path(f.tokenizer.vocab_txt)}}},
                        {"architecture", architectures.empty() ? c.class_name() : architectures},
                        {"model_type", c.model_type},
                        {"parameters", engine.parameter_count()},
                        {"dtypes", engine.weight_dtypes()},
                        {"layers", c.num_hidden_layers},
                        {"hidden_size", c.hidden_size},
                        {"attention_heads", c.num_attention_heads},
                        {"intermediate_size", c.intermediate_size},
                        {"hidden_act", c.hidden_act},
                        {"vocab_size", c.vocab_size},
                        {"max_tokens", c.max_tokens()},
                        {"problem_type", c.problem_type},
                        {"labels", c.labels}};
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("model:         %s (%s)\n", f.request.c_str(), f.resolved_as.c_str());
  std::printf("folder:        %s\n", f.folder.string().c_str());
  std::printf("config:        %s\n", f.config.string().c_str());
  std::printf("weights:       %s\n", weights.c_str());
  if (f.weights_index) std::printf("weights index: %s\n", f.weights_index->string().c_str());
  const TokenizerFiles& t = f.tokenizer;
  std::printf("tokenizer:     %s\n",
              t.tokenizer_json ? t.tokenizer_json->string().c_str()
              : t.vocab_json
                  ? (t.vocab_json->string() + " + " + optional_path(t.merges_txt)).c_str()
              : t.vocab_txt ? t.vocab_txt->string().c_str()
                            : "(none found)");
  std::printf("architecture:  %s (model_type %s)\n",
              architectures.empty() ? c.class_name().c_str() : architectures.c_str(),
              c.model_type.c_str());
  std::printf("parameters:    %lld (%.1fM)\n", static_cast<long long>(engine.parameter_count()),
              static_cast<double>(engine.parameter_count()) / 1e6);
  std::printf("dtypes:        %s\n", dtypes.c_str());
  std::printf("shape:         %d layers, hidden %d, %d heads, FFN %d, %s\n", c.num_hidden_layers,
              c.hidden_size, c.num_attention_heads, c.intermediate_size, c.hidden_act.c_str());
  std::printf("vocabulary:    %d\n", c.vocab_size);
  std::printf("max tokens:    %d\n", c.max_tokens());
  std::printf("labels:        %s (%s)\n", labels.c_str(),
              c.multi_label() ? "sigmoid, multi-label" : "softmax");
  return 0;
}

}  // namespace

Command add_info_command(CLI::App& app) {
  auto options = std::make_shared<InfoOptions>();
  auto* cmd = app.add_subcommand(
      "info", "Describe a model: architecture, parameters, dtypes, labels, where files were found");
  cmd->add_option("-m,--model", options->model,
                  "Model folder, Hugging Face cache folder, or hub id in the local cache")
      ->required();
  cmd->add_flag("--json", options->json, "Print JSON instead of text");
  return [options] { return run_info(*options); };
}

}  // namespace refusal::app
