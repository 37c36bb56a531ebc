// CSV (RFC 4180) and TSV records: an incremental parser and the quoting used when writing.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace refusal::io {

// Parses one record fed line by line, so that a quoted field may hold newlines. Quotes are
// special only at the start of a field (`5" screen` stays as is); `""` inside quotes is one `"`.
// With quoting off (TSV) a field is exactly the bytes between delimiters.
class CsvRecordParser {
 public:
  CsvRecordParser(char delimiter, bool quoting) : delimiter_(delimiter), quoting_(quoting) {}

  // Starts a new record.
  void reset();
  // Feeds one physical line (without its '\n'). Returns true when the record is complete, false
  // when a quoted field is still open (the next line belongs to this record).
  bool feed_line(std::string_view line);
  // True while a quoted field is open (at the end of the input: an unterminated field).
  bool in_quotes() const { return state_ == State::quoted || state_ == State::quote_in_quoted; }
  // Set when a character followed a closing quote (`"a"b`); the record is malformed.
  const std::string& error() const { return error_; }
  std::vector<std::string>& fields() { return fields_; }

 private:
  enum class State { field_start, unquoted, quoted, quote_in_quoted };

  char delimiter_;
  bool quoting_;
  State state_ = State::field_start;
  std::vector<std::string> fields_;
  std::string error_;
};

// Appends `value` as one CSV field, quoted when it holds a comma, quote, CR or LF.
void append_csv_field(std::string& out, std::string_view value);

}  // namespace refusal::io
