// The file job: `refusal classify --input FILE --output FILE` as a library call, so that the
// CLI, the Python package and the distributed adapters run one implementation and write the
// same records. Every input row becomes exactly one output record, in input order; a bad row
// is written with an "error" field, never dropped.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "refusal/classifier.h"
#include "refusal/engine.h"

namespace refusal {

struct FileJobOptions {
  // Input: `texts` when not empty (row i is the i-th text), else the file `input` ("-": stdin).
  // .jsonl, .jsonl.gz, .csv, .tsv, .txt; gzip is detected from the content.
  std::vector<std::string> texts;
  std::string input = "-";
  std::string field = "text";         // JSONL field / CSV or TSV column holding the text
  std::string input_format = "auto";  // auto (from the name), jsonl, csv, tsv, txt
  // Output: "-" is standard output (file descriptor 1).
  std::string output = "-";
  std::string output_format = "jsonl";  // jsonl or csv
  bool explain = false;                 // add the deciding sentence or window and its span
  bool raw_scores = false;              // add the logits
  bool resume = false;                  // continue from what `output` already holds (same options)
  std::size_t batch_size = 32;          // texts per batch (1..4096)
  std::size_t chunk_rows = 4096;        // rows read, classified and written as a unit (a resume
                                        // redoes at most one chunk)
  std::string progress = "auto";        // progress bar on stderr: auto (a terminal), always, never
};

struct JobCounts {
  std::size_t rows = 0;     // input rows in all
  std::size_t resumed = 0;  // rows already in the output (resume), not written again
  std::size_t written = 0;  // records written by this run
  std::size_t errors = 0;   // bad rows, each written with an "error" field
  std::size_t ok() const { return rows - errors; }
};

// Checks the job's own options (formats, sizes, resume needs an output file, the output is not
// the input); throws refusal::Error naming the option. classify_file calls it first.
void check_file_job(const FileJobOptions& job);

// Runs the job with a loaded classifier; `classifier` may be null only for the keywords preset
// (NoRefusalLight records). Throws refusal::Error for what stops the whole job (unreadable
// input, unwritable output, a resume that does not match); row errors are counted instead.
JobCounts classify_file(const Classifier* classifier, Preset preset, const FileJobOptions& job);

// Loads `model` (empty: the bundled default model; not loaded for the keywords preset) with
// `engine` and `options`, then runs the job.
JobCounts classify_file(const std::string& model, const EngineOptions& engine,
                        const ClassifierOptions& options, const FileJobOptions& job);

}  // namespace refusal
