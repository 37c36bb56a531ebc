// What the libFuzzer targets share: a failed invariant that libFuzzer reports as a crash (and
// saves the input of), a private scratch folder for the parsers that read files, and the
// repository's test data, found from the repository root where the targets run.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>
#include <string_view>

namespace refusal::fuzz {

[[noreturn]] inline void invariant_failed(const char* what, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: invariant failed: %s\n", file, line, what);
  std::abort();
}

// FUZZ_CHECK(condition): a promise the code under test makes for every input.
#define FUZZ_CHECK(condition) \
  ((condition) ? (void)0 : ::refusal::fuzz::invariant_failed(#condition, __FILE__, __LINE__))

// An input refused with an error, as it should be. With REFUSAL_FUZZ_VERBOSE set, the message is
// printed (to see what the seeds reach: run the target on them with -runs=0).
inline void refused(const std::exception& e) {
  static const bool verbose = std::getenv("REFUSAL_FUZZ_VERBOSE") != nullptr;
  if (verbose) std::fprintf(stderr, "refused: %s\n", e.what());
}

// A folder of this process's own under $TMPDIR (else /tmp), removed at a normal exit.
inline const std::filesystem::path& scratch() {
  static const std::filesystem::path dir = [] {
    std::string name = (std::filesystem::temp_directory_path() / "refusal-fuzz-XXXXXX").string();
    if (::mkdtemp(name.data()) == nullptr) {
      std::perror("refusal fuzz: mkdtemp");
      std::abort();
    }
    return std::filesystem::path(name);
  }();
  static const bool cleanup = [] {
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    });
    return true;
  }();
  (void)cleanup;
  return dir;
}

// Replaces `path` with exactly `bytes`.
inline void write_file(const std::filesystem::path& path, std::string_view bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    std::perror(path.c_str());
    std::abort();
  }
  for (std::size_t done = 0; done < bytes.size();) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) {
      std::perror(path.c_str());
      std::abort();
    }
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
}

// A file or folder of the repository (the targets run from its root, as CTest starts them).
inline std::filesystem::path repo_file(const char* relative) {
  const std::filesystem::path p(relative);
  if (!std::filesystem::exists(p)) {
    std::fprintf(stderr, "refusal fuzz: %s not found: run from the repository root\n", relative);
    std::abort();
  }
  return p;
}

}  // namespace refusal::fuzz
