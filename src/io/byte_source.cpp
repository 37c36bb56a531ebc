#include "io/byte_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "refusal/error.h"

namespace refusal::io {

namespace {

constexpr std::size_t kBufferBytes = 256 * 1024;

}  // namespace

ByteSource::ByteSource(const std::string& path) : name_(path == "-" ? "<stdin>" : path) {
  int fd = 0;
  if (path == "-") {
    fd = ::dup(STDIN_FILENO);  // gzclose closes it; stdin itself stays open
  } else {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  }
  if (fd < 0) throw Error("cannot open " + name_ + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) total_ = static_cast<std::uint64_t>(st.st_size);
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    throw Error("cannot read " + name_ + ": it is a directory");
  }
  // gzdopen reads plain data transparently, so one code path serves both.
  file_ = ::gzdopen(fd, "rb");
  if (file_ == nullptr) {
    ::close(fd);
    throw Error("cannot open " + name_ + ": out of memory");
  }
  ::gzbuffer(file_, 128 * 1024);
}

ByteSource::~ByteSource() {
  if (file_ != nullptr) ::gzclose(file_);
}

std::size_t ByteSource::read_raw(char* data, std::size_t size) {
  const unsigned want = static_cast<unsigned>(std::min<std::size_t>(size, 1u << 30));
  const int got = ::gzread(file_, data, want);
  int code = Z_OK;
  const char* message = ::gzerror(file_, &code);
  if (got < 0 || (code != Z_OK && code != Z_BUF_ERROR)) {
    throw Error("cannot read " + name_ + ": " + (code == Z_ERRNO ? std::strerror(errno) : message));
  }
  if (got == 0 && code == Z_BUF_ERROR) {
    // zlib's word for a gzip stream cut short.
    throw Error("cannot read " + name_ + ": " + message + " (truncated gzip file?)");
  }
  return static_cast<std::size_t>(got);
}

std::size_t ByteSource::read(char* data, std::size_t size) {
  if (!pushed_back_.empty()) {
    const std::size_t n = std::min(size, pushed_back_.size());
    std::memcpy(data, pushed_back_.data(), n);
    pushed_back_.erase(0, n);
    return n + (n < size ? read_raw(data + n, size - n) : 0);
  }
  return read_raw(data, size);
}

std::string ByteSource::peek(std::size_t size) {
  while (pushed_back_.size() < size) {
    char chunk[4096];
    const std::size_t got = read_raw(chunk, std::min(sizeof chunk, size - pushed_back_.size()));
    if (got == 0) break;
    pushed_back_.append(chunk, got);
  }
  return pushed_back_.substr(0, size);
}

std::uint64_t ByteSource::consumed() const {
  const auto offset = ::gzoffset(file_);
  return offset < 0 ? 0 : static_cast<std::uint64_t>(offset);
}

LineReader::LineReader(ByteSource& source, std::size_t max_line_bytes)
    : source_(source), max_line_bytes_(max_line_bytes), buffer_(kBufferBytes) {}

bool LineReader::fill() {
  if (eof_) return false;
  if (begin_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (end_ == buffer_.size()) buffer_.resize(buffer_.size() * 2);
  const std::size_t got = source_.read(buffer_.data() + end_, buffer_.size() - end_);
  if (got == 0) {
    eof_ = true;
    return false;
  }
  end_ += got;
  if (at_start_) {
    // The first read holds at least 3 bytes unless the input is shorter (gzread fills fully).
    at_start_ = false;
    if (end_ >= 3 && std::memcmp(buffer_.data(), "\xEF\xBB\xBF", 3) == 0) {
      begin_ = 3;  // a UTF-8 byte order mark is not part of the first record
    }
  }
  return true;
}

bool LineReader::next(std::string& line, bool& too_long) {
  line.clear();
  too_long = false;
  had_newline_ = false;
  std::size_t scanned = begin_;
  bool any = false;
  for (;;) {
    const char* start = buffer_.data() + scanned;
    const auto* nl = static_cast<const char*>(std::memchr(start, '\n', end_ - scanned));
    if (nl != nullptr) {
      const auto len = static_cast<std::size_t>(nl - (buffer_.data() + begin_));
      if (len > max_line_bytes_ && !too_long) {
        line.assign(buffer_.data() + begin_, max_line_bytes_);
        too_long = true;
      } else if (!too_long) {
        line.assign(buffer_.data() + begin_, len);
      }
      begin_ += len + 1;
      had_newline_ = true;
      return true;
    }
    any = any || end_ > begin_;
    if (end_ - begin_ > max_line_bytes_) {
      // Keep the head for the error message, drop the rest until the newline.
      if (!too_long) line.assign(buffer_.data() + begin_, max_line_bytes_);
      too_long = true;
      begin_ = end_;
    }
    scanned = end_;
    const std::size_t kept = scanned - begin_;
    if (!fill()) {
      if (end_ - begin_ > max_line_bytes_ && !too_long) {
        line.assign(buffer_.data() + begin_, max_line_bytes_);
        too_long = true;
      } else if (end_ > begin_ && !too_long) {
        line.assign(buffer_.data() + begin_, end_ - begin_);
      }
      begin_ = end_;
      return any || too_long;
    }
    scanned = begin_ + kept;
  }
}

}  // namespace refusal::io
