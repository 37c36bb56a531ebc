// `refusal tokenize` end to end: the HF tokenizers vectors (tests/data/tokenizer/vectors) through
// the command line.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "vectors.h"

namespace refusal::test {
namespace {

using nlohmann::json;

struct Result {
  int status;
  std::string out;
};

// Runs the refusal binary (CTest passes its path in REFUSAL_BINARY) with stdin from a file.
Result run_cli(const std::string& args, const std::string& input) {
  const char* bin = std::getenv("REFUSAL_BINARY");
  if (bin == nullptr) return {-1, ""};
  const auto dir = std::filesystem::temp_directory_path();
  const auto in = dir / ("refusal_cli_in_" + std::to_string(::getpid()));
  std::ofstream(in, std::ios::binary) << input;
  const std::string cmd = std::string(bin) + " tokenize " + args + " < " + in.string() + " 2>&1";
  Result r{0, ""};
  FILE* p = popen(cmd.c_str(), "r");
  char buf[65536];
  size_t n = 0;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  r.status = pclose(p);
  std::filesystem::remove(in);
  return r;
}

std::vector<json> parse_lines(const std::string& out) {
  std::vector<json> lines;
  size_t pos = 0;
  while (pos < out.size()) {
    const size_t eol = out.find('\n', pos);
    lines.push_back(json::parse(out.substr(pos, eol - pos)));
    pos = eol == std::string::npos ? out.size() : eol + 1;
  }
  return lines;
}

TEST(Cli, JsonlMatchesSharedVectors) {
  const auto records = read_jsonl(kHfVectors + "/hf_tokenizers_rust_generated.jsonl");
  std::string input;
  std::vector<const json*> singles;
  for (const json& r : records) {
    if (r.contains("text_pair")) continue;
    input += json{{"text", r["text"]}, {"id", r["name"]}}.dump() + "\n";
    singles.push_back(&r);
  }
  const Result res = run_cli("--model " + kProtectAi, input);
  if (res.status == -1) GTEST_SKIP() << "REFUSAL_BINARY not set";
  ASSERT_EQ(res.status, 0) << res.out.substr(0, 500);
  const std::vector<json> lines = parse_lines(res.out);
  ASSERT_EQ(lines.size(), singles.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i]["ids"], (*singles[i])["ids"]) << (*singles[i])["name"];
    EXPECT_EQ(lines[i]["tokens"], (*singles[i])["tokens"]) << (*singles[i])["name"];
    EXPECT_EQ(lines[i]["offsets"], (*singles[i])["offsets_char"]) << (*singles[i])["name"];
  }
}

TEST(Cli, LinesWindowsAndNoSpecial) {
  const Result plain = run_cli("--tokenizer " + kProtectAi +
                                   "/tokenizer.json --lines "
                                   "--no-special --max-length 4",
                               "Hello world\n\nI can't help.\r\n");
  if (plain.status == -1) GTEST_SKIP() << "REFUSAL_BINARY not set";
  ASSERT_EQ(plain.status, 0) << plain.out;
  const std::vector<json> lines = parse_lines(plain.out);
  ASSERT_EQ(lines.size(), 3u);  // the empty line is an input too
  const Tokenizer& tok = reference_tokenizer();
  EXPECT_EQ(lines[0]["ids"],
            tok.encode("Hello world", {.max_length = 4, .add_special_tokens = false}).ids);
  EXPECT_EQ(lines[1]["ids"], json::array());
  EXPECT_EQ(lines[2]["ids"].size(), 4u);

  std::string text;
  for (int i = 0; i < 300; ++i) text += " word" + std::to_string(i);
  const Result win = run_cli("--model " + kProtectAi + " --windows --max-length 128 --stride 16",
                             json{{"text", text}}.dump() + "\n");
  ASSERT_EQ(win.status, 0) << win.out.substr(0, 300);
  const json w = parse_lines(win.out).at(0)["windows"];
  const auto want = tok.encode_windows(text, 128, 16);
  ASSERT_EQ(w.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(w[i]["ids"], want[i].ids);
}

json tok_ids(const std::string& text) { return reference_tokenizer().encode(text).ids; }

TEST(Cli, ErrorsNameTheLine) {
  const Result bad_json = run_cli("--model " + kProtectAi, "{\"text\": \"ok\"}\n{oops\n");
  if (bad_json.status == -1) GTEST_SKIP() << "REFUSAL_BINARY not set";
  EXPECT_NE(bad_json.status, 0);
  EXPECT_NE(bad_json.out.find("<stdin>:2"), std::string::npos) << bad_json.out;
  const Result strict =
      run_cli("--model " + kProtectAi + " --lines --strict-utf8", "good\nbad \xFF byte\n");
  EXPECT_NE(strict.status, 0);
  EXPECT_NE(strict.out.find("<stdin>:2"), std::string::npos) << strict.out;
  EXPECT_NE(strict.out.find("byte offset 4"), std::string::npos) << strict.out;
  const Result replaced = run_cli("--model " + kProtectAi + " --lines", "bad \xFF byte\n");
  EXPECT_EQ(replaced.status, 0) << replaced.out;
  EXPECT_EQ(parse_lines(replaced.out).at(0)["ids"], tok_ids("bad \xEF\xBF\xBD byte"));
  const Result neither = run_cli("", "x\n");
  EXPECT_NE(neither.status, 0);
  EXPECT_NE(neither.out.find("--model"), std::string::npos) << neither.out;
}

}  // namespace
}  // namespace refusal::test
