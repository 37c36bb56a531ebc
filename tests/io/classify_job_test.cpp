// The file job as a library call (refusal/job.h): what the CLI, Python and the distributed
// adapters run.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "refusal/error.h"
#include "refusal/job.h"

namespace refusal {
namespace {

namespace fs = std::filesystem;
const std::string kModel = "tests/data/models/random-roberta-tok";

fs::path temp_dir() {
  const fs::path dir =
      fs::temp_directory_path() /
      ("refusal-job-" +
       std::to_string(::testing::UnitTest::GetInstance()->current_test_info()->line()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::vector<nlohmann::json> read_jsonl(const fs::path& path) {
  std::ifstream in(path);
  std::vector<nlohmann::json> rows;
  for (std::string line; std::getline(in, line);) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

std::string error_of(const FileJobOptions& job) {
  try {
    check_file_job(job);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(ClassifyJob, EveryRowGetsOneRecordInOrderAndABadRowItsError) {
  const fs::path dir = temp_dir();
  {
    std::ofstream in(dir / "in.jsonl");
    in << R"({"id": 1, "text": "I'm sorry, but I can't help with that."})"
       << "\n"
       << R"({"id": 2, "text": 3})"
       << "\n"
       << "{\"id\": 3, \"text\": \"bad \xff utf-8\"}\n"
       << R"({"id": 4, "text": "Sure, here is the recipe."})"
       << "\n";
  }
  FileJobOptions job;
  job.input = (dir / "in.jsonl").string();
  job.output = (dir / "out.jsonl").string();
  job.progress = "never";
  job.batch_size = 4;
  const Classifier classifier =
      Classifier::load(kModel, {.threads = 1}, {.preset = Preset::kLlmGuard});
  const JobCounts counts = classify_file(&classifier, Preset::kLlmGuard, job);
  EXPECT_EQ(counts.rows, 4u);
  EXPECT_EQ(counts.errors, 2u);
  EXPECT_EQ(counts.written, 4u);
  const auto rows = read_jsonl(dir / "out.jsonl");
  ASSERT_EQ(rows.size(), 4u);
  for (std::size_t i : {0, 1, 3}) EXPECT_EQ(rows[i]["id"], i + 1);
  EXPECT_TRUE(rows[0].contains("is_valid"));  // the llm-guard record
  EXPECT_TRUE(rows[1].contains("error"));
  EXPECT_TRUE(rows[2].contains("error"));  // not even JSON: no fields pass through
  EXPECT_FALSE(rows[3].contains("error"));
  // The model-loading overload writes the same bytes.
  FileJobOptions again = job;
  again.output = (dir / "again.jsonl").string();
  classify_file(kModel, {.threads = 2}, {.preset = Preset::kLlmGuard}, again);
  std::ifstream a(dir / "out.jsonl"), b(dir / "again.jsonl");
  std::stringstream sa, sb;
  sa << a.rdbuf();
  sb << b.rdbuf();
  EXPECT_EQ(sa.str(), sb.str());
  fs::remove_all(dir);
}

TEST(ClassifyJob, KeywordsNeedNoModelAndTextsNeedNoFile) {
  const fs::path dir = temp_dir();
  FileJobOptions job;
  job.texts = {"I cannot assist with that request.", "Here you go."};
  job.output = (dir / "out.jsonl").string();
  const JobCounts counts = classify_file(nullptr, Preset::kKeywords, job);
  EXPECT_EQ(counts.rows, 2u);
  const auto rows = read_jsonl(dir / "out.jsonl");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["refusal"], true);
  EXPECT_EQ(rows[1]["refusal"], false);
  EXPECT_THROW(classify_file(nullptr, Preset::kDefault, job), Error);
  fs::remove_all(dir);
}

TEST(ClassifyJob, BadJobOptionsNameTheOption) {
  FileJobOptions job;
  job.resume = true;
  EXPECT_EQ(error_of(job), "resume needs an output file, not stdout");
  job = {};
  job.batch_size = 0;
  EXPECT_EQ(error_of(job), "batch size: 0 is not in [1, 4096]");
  job = {};
  job.progress = "sometimes";
  EXPECT_EQ(error_of(job), "progress: 'sometimes' is not one of 'auto', 'always', 'never'");
  job = {};
  job.output_format = "xml";
  EXPECT_NE(error_of(job).find("xml"), std::string::npos);
  job = {};
  job.input = job.output = "tests/data/io/lines.txt";
  EXPECT_EQ(error_of(job),
            "output tests/data/io/lines.txt is the input file: it would be overwritten");
}

}  // namespace
}  // namespace refusal
