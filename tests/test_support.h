// Small helpers shared by the tests.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "io/byte_source.h"

namespace refusal::testing {

// A fresh folder under the system temp dir, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("refusal-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  return nlohmann::json::parse(in);
}

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

// Calls fn(line_number, line) for every line of a file, plain or gzip (told from its content),
// read by the library's own reader (io::ByteSource, io::LineReader): line numbers from 1, the
// '\n' dropped, empty lines kept. Throws refusal::Error when the file cannot be read.
template <typename Fn>
void for_each_line(const std::filesystem::path& path, Fn&& fn) {
  io::ByteSource source(path.string());
  io::LineReader reader(source, std::size_t{1} << 30);
  std::string line;
  bool too_long = false;
  for (std::size_t number = 1; reader.next(line, too_long); ++number) {
    if (too_long)
      throw std::runtime_error(path.string() + " line " + std::to_string(number) +
                               ": longer than 1 GiB");
    fn(number, line);
  }
}

inline std::vector<std::string> read_lines(const std::filesystem::path& path) {
  std::vector<std::string> lines;
  for_each_line(path, [&](std::size_t, const std::string& line) { lines.push_back(line); });
  return lines;
}

// The whole content of a file, plain or gzip.
inline std::string read_decompressed(const std::filesystem::path& path) {
  io::ByteSource source(path.string());
  std::string out;
  char buf[1 << 16];
  for (std::size_t n; (n = source.read(buf, sizeof buf)) > 0;) out.append(buf, n);
  return out;
}

// Every non-empty line of a JSONL file (plain or gzip) parsed; an error names the file and line.
inline std::vector<nlohmann::json> read_jsonl(const std::filesystem::path& path) {
  std::vector<nlohmann::json> rows;
  for_each_line(path, [&](std::size_t number, const std::string& line) {
    if (line.empty()) return;
    try {
      rows.push_back(nlohmann::json::parse(line));
    } catch (const nlohmann::json::exception& e) {
      throw std::runtime_error(path.string() + " line " + std::to_string(number) + ": " + e.what());
    }
  });
  return rows;
}

// Copies a model folder so a test can damage it.
inline void copy_folder(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::filesystem::create_directories(to);
  std::filesystem::copy(
      from, to,
      std::filesystem::copy_options::recursive | std::filesystem::copy_options::overwrite_existing);
}

}  // namespace refusal::testing
