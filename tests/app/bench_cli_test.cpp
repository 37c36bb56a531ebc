// `refusal bench`'s workload: the eval set installed with the project by default (found wherever
// the binary runs from), a file given with --workload, and a clear error for a missing one.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "kernels/cpu_features.h"
#include "test_support.h"

namespace refusal {
namespace {

namespace fs = std::filesystem;

std::string binary() {
  const char* bin = std::getenv("REFUSAL_BINARY");
  return fs::absolute(bin ? bin : "build/release/refusal").string();
}

// Runs a short `refusal bench` on the tiny test model from `cwd` (with `env`, e.g.
// "REFUSAL_ISA=avx2", before the binary); returns the exit code.
int bench(const std::string& args, const fs::path& cwd, const fs::path& err,
          const std::string& env = "") {
  const std::string model = fs::absolute("tests/data/models/random-roberta-tok").string();
  const std::string cmd = "cd '" + cwd.string() + "' && " + env + " '" + binary() + "' bench -m '" +
                          model + "' --rounds 1 --seconds 0.01 --shapes 16 --threads 1 " + args +
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

// REFUSAL_ISA caps the kernel level a process runs, and `refusal bench` reports the level it ran.
// avx2 is plain AVX2 even on a CPU with AVX-VNNI (what AMD Zen 2/3 run); avxvnni is AVX2 with
// AVX-VNNI's int8 GEMM (Intel client parts); a wrong value is an error that lists the right ones.
TEST(BenchCli, RefusalIsaCapsTheLevel) {
  testing::TempDir dir;
  const auto isa_under = [&](const std::string& value) {
    const int code = bench("--dtype int8 --workload '' --json bench.json", dir.path(),
                           dir / "err.txt", "REFUSAL_ISA=" + value);
    EXPECT_EQ(code, 0) << value << ": " << testing::read_text(dir / "err.txt");
    return testing::read_json(dir / "bench.json")
        .at("refusal")
        .at("int8")
        .at("isa")
        .get<std::string>();
  };
  EXPECT_EQ(isa_under("reference"), "reference");
  if (kernels::max_isa() >= kernels::Isa::kAvx2) {
    EXPECT_EQ(isa_under("avx2"), "avx2");
    EXPECT_EQ(isa_under("avxvnni"), kernels::cpu_features().avx_vnni ? "avx2+avxvnni" : "avx2");
  }
  EXPECT_EQ(bench("--dtype int8 --workload ''", dir.path(), dir / "err.txt", "REFUSAL_ISA=avx3"),
            1);
  EXPECT_NE(testing::read_text(dir / "err.txt")
                .find("REFUSAL_ISA='avx3': expected reference, avx2, avxvnni, avx512 or amx"),
            std::string::npos)
      << testing::read_text(dir / "err.txt");
}

}  // namespace
}  // namespace refusal
