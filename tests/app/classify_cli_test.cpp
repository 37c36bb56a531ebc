// `refusal classify` end to end, through the real binary (CTest passes its path in
// REFUSAL_BINARY).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <thread>

#include "test_support.h"

namespace refusal {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const std::string kModel = "tests/data/models/random-roberta-tok";
const std::string kEval = "data/eval/chatgpt-refusals.jsonl.gz";

std::string binary() {
  const char* bin = std::getenv("REFUSAL_BINARY");
  return bin ? bin : "build/release/refusal";
}

struct CliRun {
  int exit_code = -1;
  std::string out;
};

// Runs `refusal ARGS` through the shell; stdout is captured, stderr goes to `err_file`.
CliRun run(const std::string& args, const std::string& err_file = "/dev/null") {
  const std::string cmd = binary() + " " + args + " 2>" + err_file;
  CliRun r;
  FILE* p = popen(cmd.c_str(), "r");
  char buf[1 << 16];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::vector<json> lines_of(const std::string& text) {
  std::vector<json> rows;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto eol = text.find('\n', pos);
    rows.push_back(json::parse(text.substr(pos, eol - pos)));
    pos = eol == std::string::npos ? text.size() : eol + 1;
  }
  return rows;
}

TEST(ClassifyCli, MatchesThePipelineOnTheEvalFileAndPassesFieldsThrough) {
  const CliRun r = run("classify --model " + kModel + " --input " + kEval + " --threads 2");
  ASSERT_EQ(r.exit_code, 0);
  const auto got = lines_of(r.out);
  const auto inputs = testing::read_jsonl(kEval);
  const auto expected = testing::read_jsonl("tests/data/classify/pipeline-eval.jsonl.gz");
  ASSERT_EQ(got.size(), 1706u);
  ASSERT_EQ(expected.size(), got.size());
  double worst = 0.0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    // Input fields first, unchanged and in order; then the verdict.
    std::vector<std::string> keys;
    for (const auto& [k, _] : got[i].items()) keys.push_back(k);
    std::vector<std::string> input_keys;
    for (const auto& [k, _] : inputs[i].items()) input_keys.push_back(k);
    for (const auto& k : input_keys) EXPECT_EQ(got[i].at(k), inputs[i].at(k)) << "row " << i;
    // The input's own (gold) label passes through; the verdict's is written beside it.
    EXPECT_EQ(got[i].at("predicted_label"), expected[i].at("label")) << "row " << i;
    worst = std::max(worst, std::abs(got[i].at("score").get<double>() -
                                     expected[i].at("scores").at("REJECTION").get<double>()));
    EXPECT_EQ(got[i].at("refusal").get<bool>(), got[i].at("score").get<double>() > 0.5);
  }
  EXPECT_LE(worst, 1e-4);
}

TEST(ClassifyCli, BrokenRowsAreAccountedForAndSetTheExitCode) {
  testing::TempDir dir;
  testing::write_text(dir / "in.jsonl",
                      "{\"id\":1,\"text\":\"fine\"}\n"
                      "{\"id\":2,\"body\":\"no text field\"}\n"
                      "not json at all\n"
                      "{\"id\":4,\"text\":42}\n"
                      "{\"id\":5,\"text\":\"bad \xff byte\"}\n"
                      "\n"
                      "{\"id\":7,\"text\":\"last\"}\n");
  const CliRun r = run("classify --model " + kModel + " --input " + (dir / "in.jsonl").string(),
                       (dir / "err.txt").string());
  EXPECT_EQ(r.exit_code, 3);
  const auto rows = lines_of(r.out);
  ASSERT_EQ(rows.size(), 7u);
  EXPECT_FALSE(rows[0].contains("error"));
  EXPECT_EQ(rows[1].at("error"), "line 2: field 'text' is missing");
  EXPECT_TRUE(rows[2].at("error").get<std::string>().starts_with("line 3: invalid JSON"));
  EXPECT_EQ(rows[3].at("error"), "line 4: field 'text' is not a string (number)");
  EXPECT_TRUE(rows[4].at("error").get<std::string>().starts_with("line 5: invalid UTF-8"));
  EXPECT_TRUE(rows[5].at("error").get<std::string>().starts_with("line 6:"));
  EXPECT_FALSE(rows[6].contains("error"));
  EXPECT_EQ(rows[6].at("id"), 7);
  EXPECT_NE(testing::read_text(dir / "err.txt").find("5 of 7 rows had errors"), std::string::npos);
}

TEST(ClassifyCli, UsageErrorsExitTwoAndFatalErrorsOne) {
  EXPECT_EQ(run("classify --no-such-flag x").exit_code, 2);
  EXPECT_EQ(run("classify --threshold 2 -m " + kModel + " x").exit_code, 2);
  testing::TempDir dir;
  const CliRun missing =
      run("classify --model " + (dir / "nothing").string() + " hello", (dir / "err.txt").string());
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(testing::read_text(dir / "err.txt").find("no such folder"), std::string::npos);
  EXPECT_EQ(run("--help").exit_code, 0);
}

TEST(ClassifyCli, KeywordsPresetNeedsNoModel) {
  const CliRun r =
      run("classify --preset keywords \"I'm sorry, I cannot do that.\" \"Here you go.\"");
  ASSERT_EQ(r.exit_code, 0);
  const auto rows = lines_of(r.out);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].at("refusal"), true);
  EXPECT_EQ(rows[0].at("risk_score"), 1.0);
  EXPECT_EQ(rows[1].at("refusal"), false);
  EXPECT_EQ(rows[1].at("risk_score"), -1.0);
}

TEST(ClassifyCli, ExplainPointsAtTheDecidingSentence) {
  const CliRun r = run("classify --model " + kModel +
                       " --match sentence --explain \"Hello there. This is fine. Bye now!\"");
  ASSERT_EQ(r.exit_code, 0);
  const auto row = lines_of(r.out).at(0);
  const std::string text = "Hello there. This is fine. Bye now!";
  const auto& e = row.at("explain");
  EXPECT_EQ(e.at("segments"), 3);
  EXPECT_EQ(
      text.substr(e.at("start"), e.at("end").get<std::size_t>() - e.at("start").get<std::size_t>()),
      e.at("text").get<std::string>());
}

// A job killed with SIGKILL mid-file, then resumed, writes exactly what one run writes.
TEST(ClassifyCli, ResumeAfterSigkillIsByteIdentical) {
  testing::TempDir dir;
  const std::string eval = testing::read_decompressed(kEval);
  testing::write_text(dir / "in.jsonl", eval);  // 1,706 rows
  const std::string common = "classify --model " + kModel + " --threads 1 --input " +
                             (dir / "in.jsonl").string() + " --progress never --chunk-rows 100";
  ASSERT_EQ(run(common + " --output " + (dir / "whole.jsonl").string()).exit_code, 0);
  const std::string whole = testing::read_text(dir / "whole.jsonl");

  const fs::path part = dir / "part.jsonl";
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const std::string cmd = "exec " + binary() + " " + common + " --output " + part.string();
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Kill it once some, but not all, of the output is there.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  std::error_code ec;
  while (std::chrono::steady_clock::now() < deadline &&
         (!fs::exists(part, ec) || fs::file_size(part, ec) < whole.size() / 4)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the job finished before it could be killed";
  const auto killed_at = fs::file_size(part);
  EXPECT_LT(killed_at, whole.size());
  ASSERT_EQ(run(common + " --output " + part.string() + " --resume").exit_code, 0);
  EXPECT_EQ(testing::read_text(part), whole) << "killed at byte " << killed_at;
}

}  // namespace
}  // namespace refusal
