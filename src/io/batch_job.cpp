#include "io/batch_job.h"

#include <algorithm>
#include <numeric>
#include <string>

#include "refusal/error.h"

namespace refusal::io {

namespace {

using Json = nlohmann::ordered_json;

// Progress through the input, interpolated inside the chunk being classified (the reader is a
// chunk ahead of the work).
struct Position {
  std::uint64_t chunk_begin = 0;
  std::uint64_t chunk_end = 0;
  std::uint64_t total = 0;
  std::size_t rows_total = 0;

  std::optional<double> fraction(std::size_t rows_done, std::size_t done_in_chunk,
                                 std::size_t chunk_size) const {
    if (rows_total > 0) return static_cast<double>(rows_done) / static_cast<double>(rows_total);
    if (total == 0) return std::nullopt;
    const double share = chunk_size == 0
                             ? 1.0
                             : static_cast<double>(done_in_chunk) / static_cast<double>(chunk_size);
    const double bytes =
        static_cast<double>(chunk_begin) + share * static_cast<double>(chunk_end - chunk_begin);
    return std::min(1.0, bytes / static_cast<double>(total));
  }
};

bool is_error(const Json& result) { return result.is_object() && result.contains("error"); }

}  // namespace

std::vector<std::vector<std::size_t>> plan_batches(std::span<const std::size_t> lengths,
                                                   std::size_t batch_size,
                                                   std::size_t batch_bytes) {
  std::vector<std::size_t> order(lengths.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return lengths[a] < lengths[b]; });
  std::vector<std::vector<std::size_t>> batches;
  std::vector<std::size_t> batch;
  for (const std::size_t i : order) {
    // Sorted ascending, so this text is the batch's longest: padded size = count x its length.
    const std::size_t padded = (batch.size() + 1) * std::max<std::size_t>(lengths[i], 1);
    if (!batch.empty() && (batch.size() >= batch_size || padded > batch_bytes)) {
      batches.push_back(std::move(batch));
      batch.clear();
    }
    batch.push_back(i);
  }
  if (!batch.empty()) batches.push_back(std::move(batch));
  return batches;
}

JobCounts run_batch_job(RowReader& reader, RecordWriter& writer, OutputFile& output,
                        const JobOptions& options, const ClassifyFn& classify) {
  const std::size_t skip = output.records_present();
  const std::size_t chunk_rows = std::max<std::size_t>(options.chunk_rows, 1);
  const std::size_t batch_size = std::max<std::size_t>(options.batch_size, 1);
  JobCounts counts;
  ProgressBar progress(options.progress, options.progress_fd);
  Position position;
  position.total = reader.bytes_total();
  position.rows_total = reader.rows_total();

  std::vector<InputRow> rows;
  std::vector<Json> results;
  std::string out;
  bool first_chunk = true;
  for (;;) {
    // Read one chunk.
    rows.clear();
    std::size_t bytes = 0;
    while (rows.size() < chunk_rows && bytes < options.chunk_bytes) {
      InputRow& row = rows.emplace_back();
      if (!reader.next(row)) {
        rows.pop_back();
        break;
      }
      bytes += row.raw_bytes;
    }
    position.chunk_begin = position.chunk_end;
    position.chunk_end = reader.bytes_consumed();
    if (first_chunk) {
      first_chunk = false;
      const std::string header = writer.header(reader.columns(), rows);
      if (output.header_present()) {
        if (*output.header_present() != header) {
          throw Error(output.name() +
                      " has another header than this job would write; a resume "
                      "needs the same input and options");
        }
      } else {
        output.write(header);
      }
    }
    if (rows.empty()) break;
    const std::size_t chunk_begin = counts.rows;
    counts.rows += rows.size();
    for (const auto& row : rows) {
      if (!row.ok()) ++counts.errors;
    }
    if (counts.rows <= skip) {
      // Wholly in the output already: read (to count and to keep the chunking) but not redone.
      progress.update(counts.rows, position.fraction(counts.rows, rows.size(), rows.size()));
      continue;
    }

    // Classify the chunk's good rows in length-grouped batches. A resume redoes the whole chunk
    // it restarts in, so that every batch is exactly as in an uninterrupted run.
    std::vector<std::size_t> good;
    std::vector<std::size_t> lengths;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (rows[i].ok()) {
        good.push_back(i);
        lengths.push_back(rows[i].text->size());
      }
    }
    results.assign(rows.size(), Json());
    std::size_t done = rows.size() - good.size();
    std::vector<std::string_view> texts;
    for (const auto& batch : plan_batches(lengths, batch_size, options.batch_bytes)) {
      texts.clear();
      for (const std::size_t k : batch) texts.push_back(*rows[good[k]].text);
      std::vector<Json> batch_results = classify(texts);
      if (batch_results.size() != texts.size()) {
        throw Error("the classifier returned " + std::to_string(batch_results.size()) +
                    " results for " + std::to_string(texts.size()) + " texts");
      }
      for (std::size_t j = 0; j < batch.size(); ++j) {
        if (!batch_results[j].is_object()) {
          throw Error("the classifier returned a result that is not a JSON object");
        }
        results[good[batch[j]]] = std::move(batch_results[j]);
      }
      done += batch.size();
      progress.update(chunk_begin + done, position.fraction(chunk_begin + done, done, rows.size()));
    }

    // Write back in input order, the whole chunk at once.
    out.clear();
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (chunk_begin + i < skip) continue;
      const bool ok = rows[i].ok();
      if (ok && is_error(results[i])) ++counts.errors;
      writer.append(rows[i], ok ? &results[i] : nullptr, out);
      ++counts.written;
    }
    output.write(out);
    progress.update(counts.rows, position.fraction(counts.rows, rows.size(), rows.size()), true);
  }
  progress.finish();
  if (counts.rows < skip) {
    throw Error(output.name() + " already holds " + std::to_string(skip) +
                " records but the input has only " + std::to_string(counts.rows) +
                " rows: it is not the output of this input");
  }
  counts.resumed = skip;
  return counts;
}

}  // namespace refusal::io
