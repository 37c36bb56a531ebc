// libFuzzer target: any bytes as a batch job's input file, JSONL, CSV, TSV or text, plain or
// gzip (src/io/row_reader.cpp, byte_source.cpp, csv.cpp), each row then written back as the
// job writes it (src/io/record_writer.cpp, JSONL and CSV). Promises checked: every record
// becomes one row, numbered in order, either good (valid UTF-8 text, the field in its fields)
// or bad with an error naming its line; only I/O errors and bad headers throw; a record never
// exceeds the size limit; a gzip copy of the file gives the same rows; a written JSONL record
// parses back with the input's fields unchanged.
//
// Input: byte 0 = mode: bits 0-1 the format (jsonl, csv, tsv, txt); bit 2 also read a gzip
// copy and compare; bit 3 take the bytes as the gzip file itself (corrupt streams); bits 4-5
// the record size limit (32 MiB, 8, 100, 4096 bytes); bit 6 the text field is "label"
// instead of "text". The rest is the file.
#include <zlib.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/utf8.h"
#include "fuzz_support.h"
#include "io/record_writer.h"
#include "io/row_reader.h"
#include "refusal/error.h"

namespace {

using refusal::io::InputRow;
using Json = nlohmann::ordered_json;

std::string gzip(std::string_view bytes) {
  z_stream z{};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    std::abort();
  }
  std::string out(deflateBound(&z, static_cast<uLong>(bytes.size())) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(bytes.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) std::abort();
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// Every row of the file, or nothing when it cannot be read (an I/O error: refused).
std::optional<std::vector<InputRow>> read_all(const std::filesystem::path& path,
                                              const refusal::io::ReaderOptions& options,
                                              std::vector<std::string>& columns) {
  std::vector<InputRow> rows;
  try {
    auto reader = refusal::io::open_row_reader(path.string(), options);
    columns = reader->columns();
    InputRow row;
    while (reader->next(row)) rows.push_back(std::move(row));
  } catch (const refusal::Error& e) {
    refusal::fuzz::refused(e);
    return std::nullopt;
  }
  return rows;
}

void check_rows(const std::vector<InputRow>& rows, const refusal::io::ReaderOptions& options) {
  std::size_t line = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const InputRow& r = rows[i];
    FUZZ_CHECK(r.index == i);
    FUZZ_CHECK(r.line > line);  // each record starts on a later line than the one before
    line = r.line;
    FUZZ_CHECK(r.fields.is_object());
    FUZZ_CHECK(r.ok() == r.error.empty());
    FUZZ_CHECK(r.raw_bytes <= options.max_record_bytes);
    if (r.ok()) {
      FUZZ_CHECK(!refusal::base::first_invalid_utf8(*r.text));
      const auto it = r.fields.find(options.field);
      FUZZ_CHECK(it != r.fields.end() && it->is_string() && *it == *r.text);
    } else {
      FUZZ_CHECK(r.error.rfind("line " + std::to_string(r.line) + ": ", 0) == 0);
    }
  }
}

void check_written(const std::vector<InputRow>& rows, const std::vector<std::string>& columns) {
  const Json result = {{"label", "REJECTION"}, {"score", 0.5}, {"refusal", true}};
  auto jsonl = refusal::io::make_writer(refusal::io::OutputFormat::jsonl, {});
  auto csv =
      refusal::io::make_writer(refusal::io::OutputFormat::csv, {"label", "score", "refusal"});
  std::string csv_out = csv->header(columns, rows);
  for (const InputRow& r : rows) {
    std::string out;
    jsonl->append(r, r.ok() ? &result : nullptr, out);
    FUZZ_CHECK(!out.empty() && out.back() == '\n');
    FUZZ_CHECK(out.find('\n') == out.size() - 1);  // one record, one line
    const Json back = Json::parse(out);
    FUZZ_CHECK(back.is_object());
    for (const auto& [key, value] : r.fields.items()) FUZZ_CHECK(back.at(key) == value);
    csv->append(r, r.ok() ? &result : nullptr, csv_out);
  }
  FUZZ_CHECK(!refusal::base::first_invalid_utf8(csv_out));
}

bool same_rows(const std::vector<InputRow>& a, const std::vector<InputRow>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].line != b[i].line || a[i].text != b[i].text || a[i].error != b[i].error ||
        a[i].fields != b[i].fields) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::filesystem::path dir = refusal::fuzz::scratch();
  if (size < 1) return 0;
  const std::uint8_t mode = data[0];
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  static const char* const kExtensions[] = {".jsonl", ".csv", ".tsv", ".txt"};
  static const std::size_t kLimits[] = {32u << 20, 8, 100, 4096};
  const std::string name = std::string("rows") + kExtensions[mode & 3];
  refusal::io::ReaderOptions options;
  options.max_record_bytes = kLimits[(mode >> 4) & 3];
  options.field = (mode & 64) ? "label" : "text";

  const std::filesystem::path plain = dir / name;
  const std::filesystem::path gz = dir / (name + ".gz");
  refusal::fuzz::write_file((mode & 8) ? gz : plain, bytes);
  std::vector<std::string> columns;
  const auto rows = read_all((mode & 8) ? gz : plain, options, columns);
  if (!rows) return 0;
  check_rows(*rows, options);
  check_written(*rows, columns);
  if ((mode & 4) && !(mode & 8)) {
    refusal::fuzz::write_file(gz, gzip(bytes));
    std::vector<std::string> gz_columns;
    const auto gz_rows = read_all(gz, options, gz_columns);
    FUZZ_CHECK(gz_rows && gz_columns == columns && same_rows(*rows, *gz_rows));
  }
  return 0;
}
