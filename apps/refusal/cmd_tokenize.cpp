// `refusal tokenize` (issue 3): placeholder until the tokenizer lands.
#include "commands.h"
#include "refusal/error.h"

namespace refusal::app {

Command add_tokenize_command(CLI::App& app) {
  app.add_subcommand("tokenize", "Tokenize texts like Hugging Face tokenizers (JSONL out)");
  return [] () -> int { throw Error("tokenize: not built yet"); };
}

}  // namespace refusal::app
