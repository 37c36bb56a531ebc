#include "io/row_reader.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "base/utf8.h"
#include "io/byte_source.h"
#include "io/csv.h"
#include "refusal/error.h"

namespace refusal::io {

namespace {

using Json = nlohmann::ordered_json;

std::string at_line(std::size_t line) { return "line " + std::to_string(line) + ": "; }

bool is_blank(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
}

std::string strip_cr(std::string s) {
  if (!s.empty() && s.back() == '\r') s.pop_back();
  return s;
}

// "invalid UTF-8 at byte 5" (1-based, within the record), or "" when valid.
std::string utf8_problem(std::string_view s) {
  const auto bad = base::first_invalid_utf8(s);
  return bad ? "invalid UTF-8 at byte " + std::to_string(*bad + 1) : std::string();
}

// Deepest nesting of arrays and objects a JSONL record may have. Writing a record back (and
// copying it) recurses once per level: a 32 MiB line of '[' must be a bad row, not a stack
// overflow. Python's json stops near the same depth (its recursion limit, 1,000).
constexpr std::size_t kMaxJsonDepth = 1000;

// The 1-based byte where `json` opens its (kMaxJsonDepth + 1)-th nested level, or 0. Brackets
// inside strings do not count.
std::size_t too_deep_at(std::string_view json) {
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return i + 1;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return 0;
}

std::string too_long_message(std::size_t limit) {
  return "record longer than " + std::to_string(limit) + " bytes";
}

// The reason of a nlohmann error, without its "[json.exception...] " and "parse error at ...: "
// prefixes: "syntax error while parsing value - invalid literal; last read: 'x'", "number
// overflow parsing '1e400'". Repaired to valid UTF-8: "last read" may end inside a character,
// and the error goes into the output record.
std::string json_reason(const nlohmann::json::exception& e) {
  std::string what = base::repair_utf8(e.what());
  if (const auto bracket = what.find("] ");
      what.rfind("[json.exception.", 0) == 0 && bracket != std::string::npos) {
    what.erase(0, bracket + 2);
  }
  if (what.rfind("parse error", 0) == 0) {
    if (const auto colon = what.find(": "); colon != std::string::npos) what.erase(0, colon + 2);
  }
  return what;
}

// Base for the readers over a ByteSource.
class StreamReader : public RowReader {
 public:
  StreamReader(std::unique_ptr<ByteSource> source, const ReaderOptions& options)
      : options_(options), source_(std::move(source)), lines_(*source_, options.max_record_bytes) {}
  const std::vector<std::string>& columns() const override { return columns_; }
  std::uint64_t bytes_consumed() const override { return source_->consumed(); }
  std::uint64_t bytes_total() const override { return source_->total(); }

 protected:
  // Starts `row` as row number next_index_ at the current line.
  void begin_row(InputRow& row, std::size_t line) {
    row = InputRow{};
    row.index = next_index_++;
    row.line = line;
  }
  void fail(InputRow& row, const std::string& reason) const {
    row.text.reset();
    row.error = at_line(row.line) + reason;
  }

  ReaderOptions options_;
  std::unique_ptr<ByteSource> source_;
  LineReader lines_;
  std::vector<std::string> columns_;
  std::size_t line_ = 0;  // physical lines read so far
  std::size_t next_index_ = 0;
  std::string buffer_;
};

class JsonlReader : public StreamReader {
 public:
  using StreamReader::StreamReader;

  bool next(InputRow& row) override {
    bool too_long = false;
    if (!lines_.next(buffer_, too_long)) return false;
    begin_row(row, ++line_);
    row.raw_bytes = buffer_.size();
    if (too_long) return fail(row, too_long_message(options_.max_record_bytes)), true;
    if (is_blank(buffer_)) return fail(row, "empty line"), true;
    if (const auto bad = utf8_problem(buffer_); !bad.empty()) return fail(row, bad), true;
    if (const std::size_t at = too_deep_at(buffer_); at != 0) {
      return fail(row, "nested deeper than " + std::to_string(kMaxJsonDepth) + " levels at byte " +
                           std::to_string(at)),
             true;
    }
    Json record;
    try {
      record = Json::parse(buffer_);
    } catch (const nlohmann::json::parse_error& e) {
      return fail(row, "invalid JSON at byte " + std::to_string(e.byte) + ": " + json_reason(e)),
             true;
    } catch (const nlohmann::json::exception& e) {  // a number beyond a double: 1e400
      return fail(row, "invalid JSON: " + json_reason(e)), true;
    }
    if (!record.is_object()) {
      return fail(row, std::string("not a JSON object (") + record.type_name() + ")"), true;
    }
    row.fields = std::move(record);
    const auto it = row.fields.find(options_.field);
    if (it == row.fields.end()) {
      return fail(row, "field '" + options_.field + "' is missing"), true;
    }
    if (!it->is_string()) {
      return fail(row, "field '" + options_.field + "' is not a string (" + it->type_name() + ")"),
             true;
    }
    row.text = it->get<std::string>();
    return true;
  }
};

class TextLineReader : public StreamReader {
 public:
  TextLineReader(std::unique_ptr<ByteSource> source, const ReaderOptions& options)
      : StreamReader(std::move(source), options) {
    columns_ = {options.field};
  }

  bool next(InputRow& row) override {
    bool too_long = false;
    if (!lines_.next(buffer_, too_long)) return false;
    begin_row(row, ++line_);
    row.raw_bytes = buffer_.size();
    if (too_long) return fail(row, too_long_message(options_.max_record_bytes)), true;
    std::string text = strip_cr(std::move(buffer_));
    buffer_.clear();
    if (text.empty()) return fail(row, "empty line"), true;
    if (const auto bad = utf8_problem(text); !bad.empty()) return fail(row, bad), true;
    row.fields[options_.field] = text;
    row.text = std::move(text);
    return true;
  }
};

class CsvReader : public StreamReader {
 public:
  CsvReader(std::unique_ptr<ByteSource> source, const ReaderOptions& options, char delimiter)
      : StreamReader(std::move(source), options), parser_(delimiter, delimiter == ',') {
    read_header();
  }

  bool next(InputRow& row) override {
    std::size_t start = 0;
    std::string error;
    if (!read_record(start, error)) return false;
    begin_row(row, start);
    row.raw_bytes = raw_.size();
    if (!error.empty()) return fail(row, error), true;
    auto& values = parser_.fields();
    if (values.size() == 1 && values[0].empty() && !quoted_start_) {
      return fail(row, "empty line"), true;
    }
    for (std::size_t i = 0; i < std::min(values.size(), columns_.size()); ++i) {
      row.fields[columns_[i]] = std::move(values[i]);
    }
    if (values.size() != columns_.size()) {
      return fail(row, "expected " + std::to_string(columns_.size()) + " fields, found " +
                           std::to_string(values.size())),
             true;
    }
    row.text = row.fields[options_.field].get<std::string>();
    return true;
  }

 private:
  // Reads one record into parser_; false at the end of the input. `start` is its first line;
  // `error` is set (without the line) for a bad record, whose fields are then not to be used.
  bool read_record(std::size_t& start, std::string& error) {
    bool too_long = false;
    if (!lines_.next(buffer_, too_long)) return false;
    start = ++line_;
    parser_.reset();
    raw_.clear();
    quoted_start_ = !buffer_.empty() && buffer_[0] == '"';
    for (;;) {
      // A record's later lines join it with the newline between them, which counts too.
      const std::size_t newline = !raw_.empty() || line_ > start ? 1 : 0;
      if (too_long || raw_.size() + newline + buffer_.size() > options_.max_record_bytes) {
        // Resynchronise at the next line: the rest of this record is lost.
        error = too_long_message(options_.max_record_bytes);
        raw_.clear();
        return true;
      }
      if (newline) raw_ += '\n';
      raw_ += buffer_;
      if (parser_.feed_line(buffer_)) break;
      if (!lines_.next(buffer_, too_long)) {
        error = "unterminated quoted field";
        return true;
      }
      ++line_;
    }
    if (const auto bad = utf8_problem(raw_); !bad.empty()) {
      error = bad;
    } else if (!parser_.error().empty()) {
      error = parser_.error();
    }
    return true;
  }

  void read_header() {
    std::size_t start = 0;
    std::string error;
    if (!read_record(start, error)) return;  // an empty file: no header, no rows
    if (!error.empty()) throw Error(source_->name() + ": header: " + error);
    columns_ = std::move(parser_.fields());
    std::set<std::string> seen;
    for (const auto& name : columns_) {
      if (!seen.insert(name).second) {
        throw Error(source_->name() + ": column '" + name + "' appears twice in the header");
      }
    }
    if (seen.count(options_.field) == 0) {
      std::string names;
      for (const auto& name : columns_) names += (names.empty() ? "" : ", ") + name;
      throw Error(source_->name() + ": no column '" + options_.field + "' in the header (" + names +
                  "); choose one with --field");
    }
  }

  CsvRecordParser parser_;
  std::string raw_;
  bool quoted_start_ = false;
};

class ArgumentReader : public RowReader {
 public:
  ArgumentReader(std::vector<std::string> texts, const ReaderOptions& options)
      : texts_(std::move(texts)), columns_{options.field} {}

  bool next(InputRow& row) override {
    if (next_ >= texts_.size()) return false;
    row = InputRow{};
    row.index = next_;
    row.line = next_ + 1;
    std::string& text = texts_[next_++];
    row.raw_bytes = text.size();
    const std::string where = "argument " + std::to_string(row.line) + ": ";
    if (text.empty()) {
      row.error = where + "empty text";
    } else if (const auto bad = utf8_problem(text); !bad.empty()) {
      row.error = where + bad;
    } else {
      row.fields[columns_[0]] = text;
      row.text = std::move(text);
    }
    return true;
  }
  const std::vector<std::string>& columns() const override { return columns_; }
  std::uint64_t bytes_consumed() const override { return 0; }
  std::uint64_t bytes_total() const override { return 0; }
  std::size_t rows_total() const override { return texts_.size(); }

 private:
  std::vector<std::string> texts_;
  std::vector<std::string> columns_;
  std::size_t next_ = 0;
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// stdin: JSONL when the first non-blank byte is '{', plain text otherwise.
InputFormat sniff(ByteSource& source) {
  const std::string head = source.peek(64 * 1024);
  std::size_t i = head.rfind("\xEF\xBB\xBF", 0) == 0 ? 3 : 0;
  while (i < head.size() && std::isspace(static_cast<unsigned char>(head[i]))) ++i;
  return i < head.size() && head[i] == '{' ? InputFormat::jsonl : InputFormat::txt;
}

}  // namespace

InputFormat parse_input_format(const std::string& name) {
  if (name == "jsonl" || name == "json" || name == "ndjson") return InputFormat::jsonl;
  if (name == "csv") return InputFormat::csv;
  if (name == "tsv") return InputFormat::tsv;
  if (name == "txt" || name == "text") return InputFormat::txt;
  throw Error("unknown input format '" + name + "' (expected jsonl, csv, tsv or txt)");
}

InputFormat format_from_path(const std::string& path) {
  std::string name = path;
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (ends_with(name, ".gz")) name.resize(name.size() - 3);
  if (ends_with(name, ".jsonl") || ends_with(name, ".ndjson") || ends_with(name, ".json")) {
    return InputFormat::jsonl;
  }
  if (ends_with(name, ".csv")) return InputFormat::csv;
  if (ends_with(name, ".tsv")) return InputFormat::tsv;
  if (ends_with(name, ".txt")) return InputFormat::txt;
  return InputFormat::automatic;
}

std::unique_ptr<RowReader> open_row_reader(const std::string& path, const ReaderOptions& options) {
  InputFormat format = options.format;
  if (format == InputFormat::automatic && path != "-") {
    format = format_from_path(path);
    if (format == InputFormat::automatic) {
      throw Error("cannot tell the format of " + path +
                  " from its name (.jsonl, .jsonl.gz, .csv, .tsv, .txt); give it with --format");
    }
  }
  auto source = std::make_unique<ByteSource>(path);
  if (format == InputFormat::automatic) format = sniff(*source);
  switch (format) {
    case InputFormat::jsonl:
      return std::make_unique<JsonlReader>(std::move(source), options);
    case InputFormat::csv:
      return std::make_unique<CsvReader>(std::move(source), options, ',');
    case InputFormat::tsv:
      return std::make_unique<CsvReader>(std::move(source), options, '\t');
    default:
      return std::make_unique<TextLineReader>(std::move(source), options);
  }
}

std::unique_ptr<RowReader> make_text_reader(std::vector<std::string> texts,
                                            const ReaderOptions& options) {
  return std::make_unique<ArgumentReader>(std::move(texts), options);
}

}  // namespace refusal::io
