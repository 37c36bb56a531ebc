#include "io/csv.h"

namespace refusal::io {

void CsvRecordParser::reset() {
  state_ = State::field_start;
  fields_.assign(1, std::string());
  error_.clear();
}

bool CsvRecordParser::feed_line(std::string_view line) {
  if (in_quotes()) {
    // The newline that ended the previous physical line is part of the quoted field.
    fields_.back() += '\n';
  }
  // A CR that ends the line (CRLF) is dropped unless it sits inside a quoted field.
  const std::size_t n = line.size();
  for (std::size_t i = 0; i < n; ++i) {
    const char c = line[i];
    switch (state_) {
      case State::field_start:
      case State::unquoted:
        if (c == delimiter_) {
          fields_.emplace_back();
          state_ = State::field_start;
        } else if (c == '"' && quoting_ && state_ == State::field_start) {
          state_ = State::quoted;
        } else if (c == '\r' && i + 1 == n) {
          // CRLF line end
        } else {
          fields_.back() += c;
          state_ = State::unquoted;
        }
        break;
      case State::quoted:
        if (c == '"') {
          state_ = State::quote_in_quoted;
        } else {
          fields_.back() += c;
        }
        break;
      case State::quote_in_quoted:
        if (c == '"') {
          fields_.back() += '"';
          state_ = State::quoted;
        } else if (c == delimiter_) {
          fields_.emplace_back();
          state_ = State::field_start;
        } else if (c == '\r' && i + 1 == n) {
          state_ = State::field_start;
        } else {
          if (error_.empty()) error_ = "unexpected character after a closing quote";
          fields_.back() += c;
          state_ = State::unquoted;
        }
        break;
    }
  }
  if (state_ == State::quote_in_quoted) state_ = State::field_start;  // closed at line end
  return state_ != State::quoted;
}

void append_csv_field(std::string& out, std::string_view value) {
  if (value.find_first_of(",\"\r\n") == std::string_view::npos) {
    out += value;
    return;
  }
  out += '"';
  for (const char c : value) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

}  // namespace refusal::io
