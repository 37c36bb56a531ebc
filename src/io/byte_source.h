// Streaming input bytes: plain files, gzip files and stdin, read through one small buffer.
#pragma once

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace refusal::io {

// Reads a file or stdin ("-"), plain or gzip (detected by its magic bytes, so a `.gz` name is not
// needed and stdin may be compressed). Memory is one fixed buffer whatever the input size.
class ByteSource {
 public:
  explicit ByteSource(const std::string& path);
  ~ByteSource();
  ByteSource(const ByteSource&) = delete;
  ByteSource& operator=(const ByteSource&) = delete;

  // Up to `size` bytes; 0 at the end. Throws refusal::Error on a read error or corrupt gzip.
  std::size_t read(char* data, std::size_t size);
  // Bytes of the underlying file consumed so far (compressed bytes for gzip), and its size:
  // 0 when unknown (a pipe). Their ratio drives the progress bar's ETA.
  std::uint64_t consumed() const;
  std::uint64_t total() const { return total_; }
  const std::string& name() const { return name_; }
  // The first bytes of the decompressed stream, without consuming them (format sniffing).
  std::string peek(std::size_t size);

 private:
  std::size_t read_raw(char* data, std::size_t size);

  std::string name_;
  gzFile file_ = nullptr;
  std::uint64_t total_ = 0;
  std::string pushed_back_;  // bytes given back by peek()
};

// Splits a ByteSource into lines ('\n' ends a line; it is not kept). A line longer than the
// limit is reported as such and skipped, so one runaway line cannot exhaust memory.
class LineReader {
 public:
  LineReader(ByteSource& source, std::size_t max_line_bytes);

  // False at the end of the input. `too_long` is set when the line was cut off (its bytes are
  // dropped); `line` then holds only its first max_line_bytes bytes.
  bool next(std::string& line, bool& too_long);
  // True when the last line returned ended with '\n' (false for a final unterminated line).
  bool last_had_newline() const { return had_newline_; }
  std::uint64_t consumed() const { return source_.consumed(); }

 private:
  bool fill();

  ByteSource& source_;
  std::size_t max_line_bytes_;
  std::vector<char> buffer_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  bool eof_ = false;
  bool had_newline_ = false;
  bool at_start_ = true;
};

}  // namespace refusal::io
