// The output of a batch job: a file (optionally resumed) or stdout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "io/record_writer.h"

namespace refusal::io {

// What an existing output file holds, found by scanning it (in constant memory).
struct ResumePoint {
  std::size_t records = 0;            // complete data records (CSV: the header excluded)
  std::uint64_t keep_bytes = 0;       // where the last complete record ends
  std::optional<std::string> header;  // CSV: the complete header line, '\n' included
};

// Scans the bytes of an output for complete records: a record ends with '\n' (for CSV, one
// outside quotes). A trailing partial record, left by a job killed mid-write, is not counted.
ResumePoint scan_output(int fd, OutputFormat format, const std::string& name);

// Opens "-" (stdout) or a file. Without resume the file is created or emptied. With resume an
// existing file keeps its complete records, loses a trailing partial one, and is appended to; a
// missing file starts empty. Throws refusal::Error on I/O errors and for resume with stdout.
class OutputFile {
 public:
  OutputFile(const std::string& path, OutputFormat format, bool resume);
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  // Data records already present (resume), and the header found with them (CSV).
  std::size_t records_present() const { return resume_.records; }
  const std::optional<std::string>& header_present() const { return resume_.header; }
  // Writes every byte (the whole chunk at once, so that a kill rarely cuts a record).
  void write(std::string_view bytes);
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  int fd_ = -1;
  bool owned_ = false;
  ResumePoint resume_;
};

// True when both paths name the same existing file (so an output never overwrites its input).
bool same_file(const std::string& a, const std::string& b);

}  // namespace refusal::io
