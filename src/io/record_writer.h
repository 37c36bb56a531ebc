// Output records for batch jobs: JSONL (one compact object a line) or CSV.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "io/row_reader.h"

namespace refusal::io {

// Prefix of a result field whose name the input record already uses.
inline const std::string kPredictedPrefix = "predicted_";

enum class OutputFormat { jsonl, csv };

// "jsonl" or "csv"; throws refusal::Error otherwise.
OutputFormat parse_output_format(const std::string& name);

// Formats records; the bytes go to an OutputFile. A record is the input row's fields in input
// order, then the classifier's result fields, or `error` for a bad row. Input fields pass
// through unchanged: a result field whose name an input field already has (a gold `label`, say)
// is written as `predicted_<name>`. Records never depend on one another,
// so a job written in pieces (resume) is byte-identical to one written at once.
class RecordWriter {
 public:
  virtual ~RecordWriter() = default;
  virtual OutputFormat format() const = 0;
  // The bytes that open the output: the CSV header line, "" for JSONL. Decided from the reader's
  // columns, or, when it has none (JSONL input), from the fields of the first chunk's rows.
  virtual std::string header(const std::vector<std::string>& input_columns,
                             std::span<const InputRow> first_rows) = 0;
  // Appends one record and its line end. `result` is the classifier's object for a good row,
  // nullptr for a bad one.
  virtual void append(const InputRow& row, const nlohmann::ordered_json* result,
                      std::string& out) = 0;
};

// JSONL: compact, UTF-8 as is, numbers in nlohmann's shortest round-trip form.
class JsonlWriter : public RecordWriter {
 public:
  OutputFormat format() const override { return OutputFormat::jsonl; }
  std::string header(const std::vector<std::string>&, std::span<const InputRow>) override {
    return {};
  }
  void append(const InputRow& row, const nlohmann::ordered_json* result, std::string& out) override;
};

// CSV (RFC 4180 quoting, '\n' line ends). Columns: the input columns, then the result columns
// not already among them, then `error` (empty for good rows). Strings are written as is, null as
// an empty cell, other values (numbers, booleans, objects such as `scores`) as compact JSON.
// JSONL input fields missing from the first chunk's records have no column and are not written.
class CsvWriter : public RecordWriter {
 public:
  explicit CsvWriter(std::vector<std::string> result_columns)
      : result_columns_(std::move(result_columns)) {}
  OutputFormat format() const override { return OutputFormat::csv; }
  std::string header(const std::vector<std::string>& input_columns,
                     std::span<const InputRow> first_rows) override;
  void append(const InputRow& row, const nlohmann::ordered_json* result, std::string& out) override;
  const std::vector<std::string>& columns() const { return columns_; }

 private:
  std::vector<std::string> result_columns_;
  std::vector<std::string> columns_;
  std::vector<std::string> sources_;  // per column: the result field it shows, or "" (input)
};

// `result_columns` matter to CSV only: the names of the fields the classifier returns.
std::unique_ptr<RecordWriter> make_writer(OutputFormat format,
                                          std::vector<std::string> result_columns);

}  // namespace refusal::io
