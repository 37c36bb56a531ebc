// `refusal`: tells whether an LLM's answer is a refusal.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <map>
#include <string>

#include "commands.h"
#include "refusal/error.h"
#include "refusal/version.h"

namespace {

// REFUSAL_REPORT_PEAK_RSS=FILE: write this process's peak resident memory (VmHWM, kB) to FILE
// at exit. `refusal bench` measures each dtype this way, in a fresh process.
void report_peak_rss() {
  const char* path = std::getenv("REFUSAL_REPORT_PEAK_RSS");
  if (path == nullptr || *path == '\0') return;
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      std::ofstream(path) << std::stol(line.substr(6)) << "\n";
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::atexit(report_peak_rss);
  CLI::App app{
      "refusal: tells whether an LLM's answer is a refusal, with ProtectAI's "
      "distilroberta-base-rejection-v1, any Roberta/BertForSequenceClassification model, or "
      "the bundled default model."};
  app.set_version_flag("--version", std::string("refusal ") + refusal::version());
  app.require_subcommand(1);
  app.fallthrough();

  std::map<const CLI::App*, refusal::app::Command> commands;
  auto add = [&](auto registrar) {
    auto run = registrar(app);
    commands[app.get_subcommands({}).back()] = run;
  };
  add(refusal::app::add_classify_command);
  add(refusal::app::add_eval_command);
  add(refusal::app::add_bench_command);
  add(refusal::app::add_info_command);
  add(refusal::app::add_pack_command);
  add(refusal::app::add_serve_command);
  add(refusal::app::add_tokenize_command);
  add(refusal::app::add_train_command);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every usage error exits 2.
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  try {
    for (const CLI::App* sub : app.get_subcommands()) return commands.at(sub)();
  } catch (const refusal::Error& e) {
    std::fprintf(stderr, "refusal: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "refusal: internal error: %s\n", e.what());
    return 2;
  }
  return 0;
}
