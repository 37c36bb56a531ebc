// `refusal bench`'s workload: the eval set installed with the project by default (found wherever
// the binary runs from), a file given with --workload, and a clear error for a missing one.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "test_support.h"

namespace refusal {
namespace {

namespace fs = std::filesystem;

std::string binary() {
  const char* bin = std::getenv("REFUSAL_BINARY");
  return fs::absolute(bin ? bin : "build/release/refusal").string();
}

// Runs a short `refusal bench` on the tiny test model from `cwd`; returns the exit code.
int bench(const std::string& args, const fs::path& cwd, const fs::path& err) {
  const std::string model = fs::absolute("tests/data/models/random-roberta-tok").string();
  const std::string cmd = "cd '" + cwd.string() + "' && '" + binary() + "' bench -m '" + model +
                          "' --rounds 1 --seconds 0.01 --shapes 16 --threads 1 " + args +
                          " >/dev/null 2>'" + err.string() + "'";
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(BenchCli, DefaultWorkloadIsTheInstalledEvalSet) {
  testing::TempDir dir;  // another working directory: the default does not depend on it
  const auto json_path = dir / "bench.json";
  ASSERT_EQ(bench("--json '" + json_path.string() + "'", dir.path(), dir / "err.txt"), 0)
      << testing::read_text(dir / "err.txt");
  const auto report = testing::read_json(json_path);
  const fs::path workload = report.at("workload").get<std::string>();
  EXPECT_TRUE(workload.string().ends_with("eval/chatgpt-refusals.jsonl.gz")) << workload;
  EXPECT_TRUE(fs::exists(workload)) << workload;
  EXPECT_EQ(report.at("workload_texts"), 1706);
}

TEST(BenchCli, WorkloadFileAndErrors) {
  testing::TempDir dir;
  testing::write_text(dir / "texts.jsonl", "{\"text\": \"one\"}\n{\"text\": \"two\"}\n");
  const auto json_path = dir / "bench.json";
  ASSERT_EQ(bench("--workload texts.jsonl --json bench.json", dir.path(), dir / "err.txt"), 0)
      << testing::read_text(dir / "err.txt");
  EXPECT_EQ(testing::read_json(json_path).at("workload_texts"), 2);

  ASSERT_EQ(bench("--workload '' --json bench.json", dir.path(), dir / "err.txt"), 0);
  EXPECT_EQ(testing::read_json(json_path).at("workload_texts"), 0);

  EXPECT_EQ(bench("--workload missing.jsonl.gz", dir.path(), dir / "err.txt"), 1);
  EXPECT_NE(testing::read_text(dir / "err.txt").find("missing.jsonl.gz: cannot open the workload"),
            std::string::npos)
      << testing::read_text(dir / "err.txt");
}

}  // namespace
}  // namespace refusal
