// The file job behind `refusal classify`, the Python classify_file and the distributed
// adapters: options checked once, records built once (io/verdict_record), a bad text costs only
// its own row.
#include <nlohmann/json.hpp>

#include "io/batch_job.h"
#include "io/verdict_record.h"
#include "refusal/default_model.h"
#include "refusal/error.h"
#include "refusal/job.h"

namespace refusal {
namespace {

io::ProgressMode parse_progress(const std::string& name) {
  if (name == "auto") return io::ProgressMode::automatic;
  if (name == "always") return io::ProgressMode::always;
  if (name == "never") return io::ProgressMode::never;
  throw Error("progress: '" + name + "' is not one of 'auto', 'always', 'never'");
}

io::InputFormat input_format(const std::string& name) {
  return name == "auto" ? io::InputFormat::automatic : io::parse_input_format(name);
}

}  // namespace

void check_file_job(const FileJobOptions& job) {
  input_format(job.input_format);
  io::parse_output_format(job.output_format);
  parse_progress(job.progress);
  if (job.batch_size < 1 || job.batch_size > 4096) {
    throw Error("batch size: " + std::to_string(job.batch_size) + " is not in [1, 4096]");
  }
  if (job.chunk_rows < 1 || job.chunk_rows > (std::size_t{1} << 20)) {
    throw Error("chunk rows: " + std::to_string(job.chunk_rows) + " is not in [1, 1048576]");
  }
  if (job.texts.empty() && job.input.empty()) {
    throw Error("input: give a file name, - for stdin, or texts");
  }
  if (job.resume && job.output == "-") throw Error("resume needs an output file, not stdout");
  if (job.texts.empty() && job.input != "-" && job.output != "-" &&
      io::same_file(job.input, job.output)) {
    throw Error("output " + job.output + " is the input file: it would be overwritten");
  }
}

JobCounts classify_file(const Classifier* classifier, Preset preset, const FileJobOptions& job) {
  check_file_job(job);
  const bool keywords = preset == Preset::kKeywords;
  if (!keywords && classifier == nullptr) throw Error("classify_file: no classifier given");

  io::ReaderOptions reader_options;
  reader_options.field = job.field;
  reader_options.format = input_format(job.input_format);
  std::unique_ptr<io::RowReader> reader = !job.texts.empty()
                                              ? io::make_text_reader(job.texts, reader_options)
                                              : io::open_row_reader(job.input, reader_options);
  const auto output_format = io::parse_output_format(job.output_format);
  const io::RecordFields fields{preset == Preset::kLlmGuard, job.raw_scores, job.explain};
  auto writer = io::make_writer(output_format, io::record_columns(fields, keywords));
  io::OutputFile output(job.output, output_format, job.resume);

  io::JobOptions options;
  options.batch_size = job.batch_size;
  options.chunk_rows = job.chunk_rows;
  options.progress = parse_progress(job.progress);
  auto classify_batch = [&](std::span<const std::string_view> texts) {
    std::vector<nlohmann::ordered_json> records;
    records.reserve(texts.size());
    if (keywords) {
      for (auto t : texts) records.push_back(io::keyword_record(t));
      return records;
    }
    const ModelConfig& config = classifier->engine().config();
    for (const TextResult& r : classifier->classify_each(texts)) {
      records.push_back(r.ok() ? io::verdict_record(r.verdict, config, fields)
                               : nlohmann::ordered_json{{"error", r.error}});
    }
    return records;
  };
  return io::run_batch_job(*reader, *writer, output, options, classify_batch);
}

JobCounts classify_file(const std::string& model, const EngineOptions& engine,
                        const ClassifierOptions& options, const FileJobOptions& job) {
  check_file_job(job);  // before the model loads: a usage error should not wait for it
  if (options.preset == Preset::kKeywords) return classify_file(nullptr, options.preset, job);
  const Classifier classifier = Classifier::load(model_or_default(model), engine, options);
  return classify_file(&classifier, options.preset, job);
}

}  // namespace refusal
