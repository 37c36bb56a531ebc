// `refusal classify`: is each answer a refusal? Texts from arguments, files or stdin; one
// record per input, in input order.
#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "refusal/classifier.h"
#include "refusal/error.h"
#include "refusal/job.h"

namespace refusal::app {
namespace {

// What the command line sets: the job, the classifier options and the engine's.
struct ClassifyArgs {
  FileJobOptions job;
  std::string input;
  std::string model;
  ClassifierOptions options;
  std::string preset = "default";
  std::string match = "full";
  std::string long_text = "truncate";
  int threads = 0;
  std::string dtype = "fp32";
};

int run_classify(ClassifyArgs a) {
  if (!a.job.texts.empty() && !a.input.empty()) {
    throw Error("give texts as arguments or --input FILE, not both");
  }
  if (!a.input.empty()) a.job.input = a.input;
  a.options.preset = parse_preset(a.preset);
  a.options.match = parse_match_mode(a.match);
  a.options.long_text = parse_long_text_mode(a.long_text);
  const JobCounts counts = classify_file(
      a.model, {.threads = a.threads, .dtype = parse_dtype(a.dtype)}, a.options, a.job);
  if (counts.errors > 0) {
    std::fprintf(stderr, "refusal: %zu of %zu rows had errors (see their \"error\" field)\n",
                 counts.errors, counts.rows);
    return 3;
  }
  return 0;
}

}  // namespace

Command add_classify_command(CLI::App& app) {
  auto a = std::make_shared<ClassifyArgs>();
  auto* cmd = app.add_subcommand(
      "classify",
      "Tell whether each text is a refusal. Texts come from arguments, --input FILE or stdin\n"
      "(.jsonl, .jsonl.gz, .csv, .tsv, .txt); one JSONL (or CSV) record per input, in order.\n"
      "Exit codes: 0 all rows classified; 1 fatal error; 2 usage error; 3 some rows had\n"
      "errors (written with an \"error\" field, never dropped).");
  cmd->add_option("texts", a->job.texts, "Texts to classify (else --input, else stdin)");
  cmd->add_option("-i,--input", a->input, "Input file, or - for stdin (gzip detected)");
  cmd->add_option("-m,--model", a->model,
                  "Model folder, Hugging Face cache folder, or hub id in the local cache "
                  "(default: the bundled model, data/models/default)");
  cmd->add_option("--field", a->job.field, "JSONL field / CSV column holding the text")
      ->capture_default_str();
  cmd->add_option("--format", a->job.input_format, "Input format")
      ->check(CLI::IsMember({"auto", "jsonl", "csv", "tsv", "txt"}))
      ->capture_default_str();
  cmd->add_option("-o,--output", a->job.output, "Output file, or - for stdout")
      ->capture_default_str();
  cmd->add_option("--output-format", a->job.output_format, "Output format")
      ->check(CLI::IsMember({"jsonl", "csv"}))
      ->capture_default_str();
  cmd->add_option("--preset", a->preset,
                  "default: the model, threshold 0.5, 512 tokens; llm-guard: LLM Guard "
                  "NoRefusal (threshold 0.75, 128 tokens, 2-decimal scores, is_valid and "
                  "risk_score); keywords: LLM Guard NoRefusalLight (28 phrases, no model)")
      ->check(CLI::IsMember({"default", "llm-guard", "keywords"}))
      ->capture_default_str();
  cmd->add_option("-t,--threshold", a->options.threshold,
                  "Refusal when score > threshold (default 0.5; llm-guard 0.75)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--match", a->match, "Score the full text, or each sentence (Punkt)")
      ->check(CLI::IsMember({"full", "sentence"}))
      ->capture_default_str();
  cmd->add_option("--long", a->long_text,
                  "Texts over --max-length tokens: truncate (like the reference), or score "
                  "overlapping windows over the whole text and keep the highest")
      ->check(CLI::IsMember({"truncate", "windows"}))
      ->capture_default_str();
  cmd->add_option("--max-length", a->options.max_length,
                  "Tokens per model input, specials included (default: the model's, 512; "
                  "llm-guard 128)")
      ->check(CLI::Range(3, 100000));
  cmd->add_option("--stride", a->options.stride,
                  "Tokens shared by consecutive windows (default max-length / 4)");
  cmd->add_flag("--explain", a->job.explain,
                "Add the deciding sentence or window and its character span");
  cmd->add_flag("--raw-scores", a->job.raw_scores, "Add the logits");
  cmd->add_flag("--resume", a->job.resume,
                "Continue an interrupted job from what --output already holds (same options)");
  cmd->add_option(
         "--threads", a->threads,
         "Threads (default: $REFUSAL_NUM_THREADS, else $OMP_NUM_THREADS, else the CPUs this "
         "process may use)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--dtype", a->dtype,
                  "fp32 (exact, default), bf16 or int8 (faster, slightly different scores)")
      ->check(CLI::IsMember({"fp32", "bf16", "int8"}))
      ->capture_default_str();
  cmd->add_option("--batch-size", a->job.batch_size, "Texts per batch")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  cmd->add_option("--chunk-rows", a->job.chunk_rows,
                  "Rows read, classified and written as a unit (memory, and what a --resume "
                  "redoes, is at most one chunk)")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  cmd->add_option("--progress", a->job.progress, "Progress bar on stderr: auto (when a terminal)")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();
  return [a] { return run_classify(*a); };
}

}  // namespace refusal::app
