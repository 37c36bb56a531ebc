#include "io/output_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "refusal/error.h"

namespace refusal::io {

namespace {

constexpr std::size_t kMaxHeaderBytes = 16u << 20;

[[noreturn]] void fail(const std::string& what, const std::string& name) {
  throw Error(what + " " + name + ": " + std::strerror(errno));
}

}  // namespace

ResumePoint scan_output(int fd, OutputFormat format, const std::string& name) {
  if (::lseek(fd, 0, SEEK_SET) < 0) fail("cannot seek", name);
  ResumePoint point;
  std::size_t lines = 0;  // complete records, the CSV header included
  std::uint64_t offset = 0;
  bool in_quotes = false;
  const bool csv = format == OutputFormat::csv;
  std::string header;
  std::vector<char> block(1u << 20);
  for (;;) {
    const ssize_t got = ::read(fd, block.data(), block.size());
    if (got < 0) {
      if (errno == EINTR) continue;
      fail("cannot read", name);
    }
    if (got == 0) break;
    for (ssize_t i = 0; i < got; ++i) {
      const char c = block[static_cast<std::size_t>(i)];
      if (csv && lines == 0) {
        if (header.size() >= kMaxHeaderBytes) {
          throw Error(name + " does not start with a CSV header: cannot resume it");
        }
        header += c;
      }
      if (csv && c == '"') in_quotes = !in_quotes;  // `""` toggles twice: still right
      if (c == '\n' && !in_quotes) {
        ++lines;
        point.keep_bytes = offset + static_cast<std::uint64_t>(i) + 1;
      }
    }
    offset += static_cast<std::uint64_t>(got);
  }
  if (csv) {
    if (lines > 0) point.header = std::move(header);
    point.records = lines > 0 ? lines - 1 : 0;
  } else {
    point.records = lines;
  }
  return point;
}

OutputFile::OutputFile(const std::string& path, OutputFormat format, bool resume)
    : name_(path == "-" ? "<stdout>" : path) {
  if (path == "-") {
    if (resume) throw Error("--resume needs an output file (--output FILE), not stdout");
    fd_ = STDOUT_FILENO;
    return;
  }
  const int flags = O_CLOEXEC | (resume ? O_RDWR | O_CREAT : O_WRONLY | O_CREAT | O_TRUNC);
  fd_ = ::open(path.c_str(), flags, 0644);
  if (fd_ < 0) fail("cannot open", name_);
  owned_ = true;
  if (!resume) return;
  resume_ = scan_output(fd_, format, name_);
  // Drop a partial record left by an interrupted job; the job rewrites it whole.
  if (::ftruncate(fd_, static_cast<off_t>(resume_.keep_bytes)) != 0) fail("cannot truncate", name_);
  if (::lseek(fd_, 0, SEEK_END) < 0) fail("cannot seek", name_);
}

OutputFile::~OutputFile() {
  if (owned_) ::close(fd_);
}

void OutputFile::write(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t put = ::write(fd_, bytes.data(), bytes.size());
    if (put < 0) {
      if (errno == EINTR) continue;
      fail("cannot write", name_);
    }
    bytes.remove_prefix(static_cast<std::size_t>(put));
  }
}

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa {};
  struct stat sb {};
  if (a == "-" || b == "-" || ::stat(a.c_str(), &sa) != 0 || ::stat(b.c_str(), &sb) != 0) {
    return false;
  }
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

}  // namespace refusal::io
