// Each subcommand of the `refusal` program: it parses its options, calls the library, prints.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace refusal::app {

// Registers a subcommand on `app`; the returned function runs it once the command line is parsed.
using Command = std::function<int()>;

Command add_bench_command(CLI::App& app);
Command add_classify_command(CLI::App& app);
Command add_eval_command(CLI::App& app);
Command add_info_command(CLI::App& app);
Command add_pack_command(CLI::App& app);
Command add_serve_command(CLI::App& app);
Command add_tokenize_command(CLI::App& app);
Command add_train_command(CLI::App& app);

}  // namespace refusal::app
