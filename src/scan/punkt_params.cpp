// Loading nltk's punkt_tab parameter files the way nltk.tabdata.PunktDecoder reads them:
// text mode (universal newlines), one entry per line with the trailing newline removed.
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "base/utf8.h"
#include "refusal/error.h"
#include "refusal/scanner_rules.h"
#include "scan/py_unicode.h"

namespace refusal {
namespace {

struct Line {
  std::size_t number;
  std::string text;
};

// The lines Python's `for x in open(path, encoding="utf-8")` yields, minus the newline:
// "\r\n" and "\r" count as "\n"; a final line without a newline is still a line.
std::vector<Line> read_lines(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open punkt parameter file " + path.string());
  std::stringstream buf;
  buf << in.rdbuf();
  if (in.bad()) throw Error("cannot read punkt parameter file " + path.string());
  const std::string data = buf.str();
  std::vector<Line> lines;
  std::string cur;
  bool pending = false;
  for (std::size_t i = 0; i < data.size(); ++i) {
    const char c = data[i];
    if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < data.size() && data[i + 1] == '\n') ++i;
      lines.push_back({lines.size() + 1, std::move(cur)});
      cur.clear();
      pending = false;
    } else {
      cur.push_back(c);
      pending = true;
    }
  }
  if (pending) lines.push_back({lines.size() + 1, std::move(cur)});
  for (const Line& line : lines) {
    if (const auto bad = base::first_invalid_utf8(line.text)) {
      throw Error(path.string() + ":" + std::to_string(line.number) +
                  ": invalid UTF-8 in text at byte offset " + std::to_string(*bad));
    }
  }
  return lines;
}

std::vector<std::string> split_tabs(const std::string& s) {
  std::vector<std::string> fields;
  std::size_t start = 0;
  while (true) {
    const auto tab = s.find('\t', start);
    fields.push_back(s.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
    if (tab == std::string::npos) break;
    start = tab + 1;
  }
  return fields;
}

[[noreturn]] void fail(const std::filesystem::path& path, std::size_t line,
                       const std::string& what) {
  throw Error(path.string() + ":" + std::to_string(line) + ": " + what);
}

int parse_flags(const std::filesystem::path& path, std::size_t line, const std::string& s) {
  // ortho_context values are small bit sets (2..126); accept plain decimal digits only.
  if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos) {
    fail(path, line, "ortho_context value '" + s + "' is not a non-negative integer");
  }
  return std::stoi(s);
}

}  // namespace

PunktParameters load_punkt_parameters(const std::filesystem::path& dir) {
  if (!std::filesystem::is_directory(dir)) {
    throw Error("punkt parameter directory " + dir.string() + " does not exist");
  }
  PunktParameters params;

  const auto collocations = dir / "collocations.tab";
  for (const Line& line : read_lines(collocations)) {
    const auto fields = split_tabs(line.text);
    if (fields.size() != 2) {
      fail(collocations, line.number,
           "expected two tab-separated types, got " + std::to_string(fields.size()) + " field(s)");
    }
    params.collocations.insert(fields[0] + '\t' + fields[1]);
  }

  for (const Line& line : read_lines(dir / "sent_starters.txt")) {
    params.sent_starters.insert(line.text);
  }
  for (const Line& line : read_lines(dir / "abbrev_types.txt")) {
    params.abbrev_types.insert(line.text);
  }

  const auto ortho = dir / "ortho_context.tab";
  for (const Line& line : read_lines(ortho)) {
    const auto fields = split_tabs(line.text);
    if (fields.size() != 2) {
      fail(ortho, line.number,
           "expected 'type<TAB>flags', got " + std::to_string(fields.size()) + " field(s)");
    }
    // A repeated type keeps the last value, as a dict comprehension does.
    params.ortho_context[fields[0]] = parse_flags(ortho, line.number, fields[1]);
  }
  return params;
}

}  // namespace refusal
