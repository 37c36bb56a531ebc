// `refusal classify`: is each answer a refusal? Texts from arguments, files or stdin; one
// record per input, in input order.
#include <unistd.h>

#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "commands.h"
#include "io/batch_job.h"
#include "io/verdict_record.h"
#include "refusal/classifier.h"
#include "refusal/default_model.h"
#include "refusal/error.h"
#include "refusal/scanner_rules.h"

namespace refusal::app {
namespace {

using nlohmann::ordered_json;

struct ClassifyArgs {
  std::vector<std::string> texts;
  std::string input;
  std::string model;
  std::string field = "text";
  std::string input_format = "auto";
  std::string output = "-";
  std::string output_format = "jsonl";
  std::string preset = "default";
  std::optional<double> threshold;
  std::string match = "full";
  std::string long_text = "truncate";
  std::optional<std::size_t> max_length;
  std::size_t stride = 0;
  bool explain = false;
  bool raw_scores = false;
  bool resume = false;
  int threads = 0;
  std::string dtype = "fp32";
  std::size_t batch_size = 32;
  std::size_t chunk_rows = 4096;
  std::string progress = "auto";
};

int run_classify(ClassifyArgs a) {
  const bool keywords = a.preset == "keywords";
  const bool llm_guard = a.preset == "llm-guard";
  if (!a.texts.empty() && !a.input.empty()) {
    throw Error("give texts as arguments or --input FILE, not both");
  }
  if (a.resume && a.output == "-") throw Error("--resume needs --output FILE");
  if (!a.input.empty() && a.input != "-" && a.output != "-" && io::same_file(a.input, a.output)) {
    throw Error("--output " + a.output + " is the input file: it would be overwritten");
  }

  ClassifierOptions options;
  options.match = a.match == "sentence" ? MatchMode::kSentence : MatchMode::kFull;
  options.long_text = a.long_text == "windows" ? LongTextMode::kWindows : LongTextMode::kTruncate;
  options.llm_guard = llm_guard;
  options.threshold = a.threshold.value_or(llm_guard ? kNoRefusalDefaultThreshold : 0.5);
  options.max_length = a.max_length.value_or(llm_guard ? 128 : 0);
  options.stride = a.stride;

  std::unique_ptr<Classifier> classifier;
  if (!keywords) {
    classifier = std::make_unique<Classifier>(Classifier::load(
        model_or_default(a.model), {.threads = a.threads, .dtype = parse_dtype(a.dtype)}, options));
  }

  io::ReaderOptions reader_options;
  reader_options.field = a.field;
  reader_options.format = a.input_format == "auto" ? io::InputFormat::automatic
                                                   : io::parse_input_format(a.input_format);
  std::unique_ptr<io::RowReader> reader =
      !a.texts.empty() ? io::make_text_reader(a.texts, reader_options)
                       : io::open_row_reader(a.input.empty() ? "-" : a.input, reader_options);
  const auto output_format = io::parse_output_format(a.output_format);
  const io::RecordFields fields{llm_guard, a.raw_scores, a.explain};
  auto writer = io::make_writer(output_format, io::record_columns(fields, keywords));
  io::OutputFile output(a.output, output_format, a.resume);

  io::JobOptions job;
  job.batch_size = a.batch_size;
  job.chunk_rows = a.chunk_rows;
  job.progress = a.progress == "always"  ? io::ProgressMode::always
                 : a.progress == "never" ? io::ProgressMode::never
                                         : io::ProgressMode::automatic;
  const ModelConfig* config = classifier ? &classifier->engine().config() : nullptr;
  auto classify_batch = [&](std::span<const std::string_view> texts) {
    std::vector<ordered_json> results;
    if (keywords) {
      for (auto t : texts) results.push_back(io::keyword_record(t));
      return results;
    }
    try {
      for (const auto& v : classifier->classify(texts)) {
        results.push_back(io::verdict_record(v, *config, fields));
      }
    } catch (const Error&) {
      // Find the row that failed: every other row still gets its verdict.
      results.clear();
      for (auto t : texts) {
        try {
          results.push_back(io::verdict_record(classifier->classify({&t, 1})[0], *config, fields));
        } catch (const Error& e) {
          results.push_back({{"error", e.what()}});
        }
      }
    }
    return results;
  };
  const auto counts = io::run_batch_job(*reader, *writer, output, job, classify_batch);
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
  cmd->add_option("texts", a->texts, "Texts to classify (else --input, else stdin)");
  cmd->add_option("-i,--input", a->input, "Input file, or - for stdin (gzip detected)");
  cmd->add_option("-m,--model", a->model,
                  "Model folder, Hugging Face cache folder, or hub id in the local cache "
                  "(default: the bundled model, data/models/default)");
  cmd->add_option("--field", a->field, "JSONL field / CSV column holding the text")
      ->capture_default_str();
  cmd->add_option("--format", a->input_format, "Input format")
      ->check(CLI::IsMember({"auto", "jsonl", "csv", "tsv", "txt"}))
      ->capture_default_str();
  cmd->add_option("-o,--output", a->output, "Output file, or - for stdout")->capture_default_str();
  cmd->add_option("--output-format", a->output_format, "Output format")
      ->check(CLI::IsMember({"jsonl", "csv"}))
      ->capture_default_str();
  cmd->add_option("--preset", a->preset,
                  "default: the model, threshold 0.5, 512 tokens; llm-guard: LLM Guard "
                  "NoRefusal (threshold 0.75, 128 tokens, 2-decimal scores, is_valid and "
                  "risk_score); keywords: LLM Guard NoRefusalLight (28 phrases, no model)")
      ->check(CLI::IsMember({"default", "llm-guard", "keywords"}))
      ->capture_default_str();
  cmd->add_option("-t,--threshold", a->threshold,
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
  cmd->add_option("--max-length", a->max_length,
                  "Tokens per model input, specials included (default: the model's, 512; "
                  "llm-guard 128)")
      ->check(CLI::Range(3, 100000));
  cmd->add_option("--stride", a->stride,
                  "Tokens shared by consecutive windows (default max-length / 4)");
  cmd->add_flag("--explain", a->explain,
                "Add the deciding sentence or window and its character span");
  cmd->add_flag("--raw-scores", a->raw_scores, "Add the logits");
  cmd->add_flag("--resume", a->resume,
                "Continue an interrupted job from what --output already holds (same options)");
  cmd->add_option("--threads", a->threads, "Threads (default: the CPUs this process may use)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--dtype", a->dtype,
                  "fp32 (exact, default), bf16 or int8 (faster, slightly different scores)")
      ->check(CLI::IsMember({"fp32", "bf16", "int8"}))
      ->capture_default_str();
  cmd->add_option("--batch-size", a->batch_size, "Texts per batch")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  cmd->add_option("--chunk-rows", a->chunk_rows,
                  "Rows read, classified and written as a unit (memory, and what a --resume "
                  "redoes, is at most one chunk)")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  cmd->add_option("--progress", a->progress, "Progress bar on stderr: auto (when a terminal)")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();
  return [a] { return run_classify(*a); };
}

}  // namespace refusal::app
