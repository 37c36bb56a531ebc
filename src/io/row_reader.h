// Input rows for batch jobs: JSONL (optionally gzip), CSV, TSV, plain text, or arguments.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace refusal::io {

// One input record. Every record becomes a row, good or bad, so that the output accounts for all.
struct InputRow {
  std::size_t index = 0;  // 0-based row number
  std::size_t line = 0;   // 1-based line where the record starts (argument number for arguments)
  std::optional<std::string> text;  // the text to classify; nullopt for a bad row
  std::string error;                // why the row is bad, e.g. "line 9: field 'text' is missing"
  // The whole input record in input order (the text field included): it passes through to the
  // output. An object; empty when the record could not be read at all (invalid JSON).
  nlohmann::ordered_json fields = nlohmann::ordered_json::object();
  std::size_t raw_bytes = 0;  // size of the record in the input, for memory accounting

  bool ok() const { return text.has_value(); }
};

enum class InputFormat { automatic, jsonl, csv, tsv, txt };

// "jsonl", "csv", "tsv", "txt" (also "json", "ndjson", "text"); throws refusal::Error otherwise.
InputFormat parse_input_format(const std::string& name);
// From the file name: .jsonl/.ndjson/.json, .csv, .tsv, .txt, each optionally followed by .gz.
// Returns automatic when the name does not say.
InputFormat format_from_path(const std::string& path);

struct ReaderOptions {
  InputFormat format = InputFormat::automatic;
  std::string field = "text";  // the JSONL field / CSV or TSV column holding the text
  // A record longer than this becomes a bad row instead of being held in memory.
  std::size_t max_record_bytes = 32u << 20;
};

// A stream of rows. Reading never stops at a bad row; only I/O errors (unreadable file,
// corrupt gzip) throw refusal::Error.
class RowReader {
 public:
  virtual ~RowReader() = default;
  // False at the end of the input.
  virtual bool next(InputRow& row) = 0;
  // Input column names when the format has a header (CSV, TSV) or a fixed shape (text, arguments:
  // the text field alone); empty for JSONL, whose records may differ.
  virtual const std::vector<std::string>& columns() const = 0;
  // Progress through the input: bytes consumed and total (0 when unknown, e.g. a pipe).
  virtual std::uint64_t bytes_consumed() const = 0;
  virtual std::uint64_t bytes_total() const = 0;
  // Rows in all, when known up front (arguments); 0 otherwise.
  virtual std::size_t rows_total() const { return 0; }
};

// Opens a file or stdin ("-"). Gzip is detected from the content. With format automatic, the
// extension decides; stdin is read as JSONL when its first non-blank byte is '{', else as text.
// Throws refusal::Error when the file cannot be opened, the format cannot be told, or a CSV/TSV
// header lacks the text column or repeats a name.
std::unique_ptr<RowReader> open_row_reader(const std::string& path, const ReaderOptions& options);

// Rows from texts given on the command line; row i has line i + 1.
std::unique_ptr<RowReader> make_text_reader(std::vector<std::string> texts,
                                            const ReaderOptions& options);

}  // namespace refusal::io
