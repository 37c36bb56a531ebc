#include "io/record_writer.h"

#include <algorithm>

#include "io/csv.h"
#include "refusal/error.h"

namespace refusal::io {

namespace {

using Json = nlohmann::ordered_json;

std::string dump(const Json& value) {
  // Strict: every string was checked for UTF-8 on input, so a failure here is a real bug.
  return value.dump(-1, ' ', false, Json::error_handler_t::strict);
}

void add_column(std::vector<std::string>& columns, const std::string& name) {
  if (std::find(columns.begin(), columns.end(), name) == columns.end()) columns.push_back(name);
}

}  // namespace

OutputFormat parse_output_format(const std::string& name) {
  if (name == "jsonl" || name == "json" || name == "ndjson") return OutputFormat::jsonl;
  if (name == "csv") return OutputFormat::csv;
  throw Error("unknown output format '" + name + "' (expected jsonl or csv)");
}

std::string result_field_name(const std::string& key, const Json& input_fields) {
  const bool clash = input_fields.is_object() && input_fields.contains(key);
  return clash ? kPredictedPrefix + key : key;
}

void JsonlWriter::append(const InputRow& row, const Json* result, std::string& out) {
  Json record = row.fields.is_object() ? row.fields : Json::object();
  if (result != nullptr) {
    for (const auto& [key, value] : result->items()) {
      record[result_field_name(key, row.fields)] = value;
    }
  } else {
    record["error"] = row.error;
  }
  out += dump(record);
  out += '\n';
}

std::string CsvWriter::header(const std::vector<std::string>& input_columns,
                              std::span<const InputRow> first_rows) {
  columns_ = input_columns;
  if (columns_.empty()) {
    // JSONL input: the fields seen in the first chunk, in order of first appearance.
    for (const auto& row : first_rows) {
      for (const auto& [key, value] : row.fields.items()) add_column(columns_, key);
    }
  }
  const std::size_t inputs = columns_.size();
  sources_.assign(inputs, {});
  for (const auto& name : result_columns_) {
    const bool clash =
        std::find(columns_.begin(), columns_.begin() + static_cast<std::ptrdiff_t>(inputs), name) !=
        columns_.begin() + static_cast<std::ptrdiff_t>(inputs);
    columns_.push_back(clash ? kPredictedPrefix + name : name);
    sources_.push_back(name);
  }
  add_column(columns_, "error");
  sources_.resize(columns_.size());
  std::string out;
  for (std::size_t i = 0; i < columns_.size(); ++i) {
    if (i > 0) out += ',';
    append_csv_field(out, columns_[i]);
  }
  out += '\n';
  return out;
}

void CsvWriter::append(const InputRow& row, const Json* result, std::string& out) {
  for (std::size_t i = 0; i < columns_.size(); ++i) {
    if (i > 0) out += ',';
    const std::string& name = columns_[i];
    const std::string& result_name = sources_[i];
    const Json* value = nullptr;
    if (!result_name.empty()) {
      if (result != nullptr && result->contains(result_name)) value = &(*result)[result_name];
    } else if (result != nullptr && name == "error" && result->contains(name)) {
      value = &(*result)[name];
    } else if (result == nullptr && name == "error") {
      append_csv_field(out, row.error);
      continue;
    } else if (row.fields.is_object() && row.fields.contains(name)) {
      value = &row.fields[name];
    }
    if (value == nullptr || value->is_null()) continue;
    append_csv_field(out, value->is_string() ? value->get_ref<const std::string&>() : dump(*value));
  }
  out += '\n';
}

std::unique_ptr<RecordWriter> make_writer(OutputFormat format,
                                          std::vector<std::string> result_columns) {
  if (format == OutputFormat::csv) return std::make_unique<CsvWriter>(std::move(result_columns));
  return std::make_unique<JsonlWriter>();
}

}  // namespace refusal::io
