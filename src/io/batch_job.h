// Batch jobs: stream rows in, classify them in length-grouped batches, write records in input
// order, resumable and in bounded memory.
#pragma once

#include <cstddef>
#include <functional>
#include <nlohmann/json.hpp>
#include <span>
#include <string_view>
#include <vector>

#include "io/output_file.h"
#include "io/progress.h"
#include "io/record_writer.h"
#include "io/row_reader.h"
#include "refusal/job.h"

namespace refusal::io {

// Classifies one batch of texts (similar lengths, so padding is small): one JSON object per
// text, in the same order, e.g. {"label":..,"score":..,"scores":{..},"refusal":..}. An object
// with an "error" field counts as a bad row. It must give the same result for a text whatever
// the batch around it, or at least be deterministic: a resume re-runs the batches of the chunk
// it restarts in exactly as before, so either way the output is byte-identical.
using ClassifyFn =
    std::function<std::vector<nlohmann::ordered_json>(std::span<const std::string_view> texts)>;

struct JobOptions {
  // A chunk is read, classified and written as a unit: at most this many rows, and it closes
  // once its records reach chunk_bytes of input. Memory is bounded by the chunk, not the file.
  // A resume must use the same values (chunks decide batches).
  std::size_t chunk_rows = 4096;
  std::size_t chunk_bytes = 8u << 20;
  // A batch holds at most batch_size texts and batch_bytes of padded text (texts x longest).
  std::size_t batch_size = 32;
  std::size_t batch_bytes = 64u << 10;
  ProgressMode progress = ProgressMode::automatic;
  int progress_fd = 2;
};

// What a job did (rows, resumed, written, errors): refusal::JobCounts, the public name.
using JobCounts = refusal::JobCounts;

// Runs the whole job: every input row becomes exactly one output record, in input order. With
// an output opened for resume, the rows it already holds are read but not written again. Throws
// refusal::Error for I/O errors, a classifier that returns the wrong number of results, or a
// resume whose output does not match this job (more records than input rows, another header).
JobCounts run_batch_job(RowReader& reader, RecordWriter& writer, OutputFile& output,
                        const JobOptions& options, const ClassifyFn& classify);

// The length-grouped batches of one chunk, as positions into `lengths`: sorted by length (ties
// by position), each within the size and padded-bytes limits. Exposed for tests.
std::vector<std::vector<std::size_t>> plan_batches(std::span<const std::size_t> lengths,
                                                   std::size_t batch_size, std::size_t batch_bytes);

}  // namespace refusal::io
