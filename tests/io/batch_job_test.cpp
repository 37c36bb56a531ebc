// Batch jobs: input order, length-grouped batches, error rows, CSV output, resume byte for byte
// (simulated and with a real SIGKILL).
#include "io/batch_job.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <sstream>
#include <thread>

#include "io/io_test_support.h"
#include "refusal/error.h"
#include "test_support.h"

namespace refusal::io {
namespace {

using refusal::testing::read_text;
using refusal::testing::TempDir;
using refusal::testing::write_text;
using testing::Json;
using testing::run_job;

const std::string kData = "tests/data/io/";

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// A JSONL input of `n` rows of varied lengths (some with newlines, commas and quotes, so CSV
// output quotes them), every 50th row broken.
std::string make_input(std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    if (i % 50 == 7) {
      // A number where the text should be.
      out += R"({"id":)";
      out += std::to_string(i);
      out += R"(,"text":)";
      out += std::to_string(i);
      out += "}\n";
      continue;
    }
    Json row = Json::object();
    row["id"] = i;
    const std::size_t len = (i * 7919) % 97 + 1;
    std::string text(len, static_cast<char>('a' + i % 26));
    if (i % 3 == 0) text += ",\n\"quoted\"";
    row["text"] = text;
    std::string tag = "t";  // appended: GCC 12 warns falsely (-Wrestrict) on "t" + string
    tag += std::to_string(i % 5);
    row["tag"] = tag;
    out += row.dump() + "\n";
  }
  return out;
}

TEST(BatchJob, OrderKeptAndBatchesLengthSorted) {
  TempDir dir;
  write_text(dir / "in.jsonl", make_input(300));
  std::vector<std::vector<std::size_t>> seen;
  auto classify = [&](std::span<const std::string_view> texts) {
    std::vector<std::size_t> lengths;
    for (const auto t : texts) lengths.push_back(t.size());
    seen.push_back(lengths);
    return testing::length_classifier(texts);
  };
  JobOptions options;
  options.chunk_rows = 64;
  options.batch_size = 8;
  options.batch_bytes = 400;
  options.progress = ProgressMode::never;
  const auto counts = run_job((dir / "in.jsonl").string(), (dir / "out.jsonl").string(),
                              OutputFormat::jsonl, false, options, classify);
  EXPECT_EQ(counts.rows, 300u);
  EXPECT_EQ(counts.errors, 6u);
  EXPECT_EQ(counts.ok(), 294u);
  EXPECT_EQ(counts.written, 300u);
  for (const auto& batch : seen) {
    EXPECT_LE(batch.size(), 8u);
    EXPECT_TRUE(std::is_sorted(batch.begin(), batch.end()));
    EXPECT_TRUE(batch.size() == 1 || batch.size() * batch.back() <= 400u);
  }
  const auto lines = lines_of(read_text(dir / "out.jsonl"));
  ASSERT_EQ(lines.size(), 300u);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto record = Json::parse(lines[i]);
    EXPECT_EQ(record["id"], i);
    std::vector<std::string> keys;
    for (const auto& [key, value] : record.items()) keys.push_back(key);
    if (i % 50 == 7) {
      EXPECT_EQ(keys, (std::vector<std::string>{"id", "text", "error"}));
      EXPECT_EQ(record["error"],
                "line " + std::to_string(i + 1) + ": field 'text' is not a string (number)");
    } else {
      EXPECT_EQ(keys, (std::vector<std::string>{"id", "text", "tag", "label", "score", "scores",
                                                "refusal", "length"}));
      EXPECT_EQ(record["length"], record["text"].get<std::string>().size());
    }
  }
}

TEST(BatchJob, PlanBatches) {
  const std::vector<std::size_t> lengths = {50, 10, 30, 10, 200, 20};
  const auto batches = plan_batches(lengths, 2, 100);
  const std::vector<std::vector<std::size_t>> expected = {{1, 3}, {5, 2}, {0}, {4}};
  EXPECT_EQ(batches, expected);
}

TEST(BatchJob, BrokenFileAccountsForEveryRow) {
  TempDir dir;
  JobOptions options;
  options.progress = ProgressMode::never;
  const auto counts = run_job(kData + "broken.jsonl", (dir / "out.jsonl").string(),
                              OutputFormat::jsonl, false, options, testing::length_classifier);
  EXPECT_EQ(counts.rows, 11u);
  EXPECT_EQ(counts.errors, 7u);
  const auto lines = lines_of(read_text(dir / "out.jsonl"));
  ASSERT_EQ(lines.size(), 11u);
  EXPECT_EQ(lines[2], R"({"error":"line 3: empty line"})");
  EXPECT_EQ(lines[3],
            R"j({"id":4,"text":12,"error":"line 4: field 'text' is not a string (number)"})j");
  EXPECT_EQ(lines[5], R"({"error":"line 6: invalid UTF-8 at byte 21"})");
  EXPECT_EQ(lines[0],
            R"({"id":1,"text":"hello","lang":"en","label":"normal","score":0.7142857142857143,)"
            R"("scores":{"normal":0.25,"refusal":0.75},"refusal":false,"length":5})");
  // UTF-8 is written as is, and numbers keep their value.
  EXPECT_NE(lines[9].find("\"caf\xc3\xa9 \xc3\xbcn"), std::string::npos);
  EXPECT_NE(lines[9].find("\"x\":1000.0"), std::string::npos);
}

TEST(BatchJob, ClassifierErrorsCountAndBadResultsThrow) {
  TempDir dir;
  JobOptions options;
  options.progress = ProgressMode::never;
  auto flagging = [](std::span<const std::string_view> texts) {
    auto out = testing::length_classifier(texts);
    for (std::size_t i = 0; i < texts.size(); ++i) {
      if (texts[i] == "last") out[i] = Json{{"error", "too short"}};
    }
    return out;
  };
  const auto counts = run_job(kData + "broken.jsonl", (dir / "out.jsonl").string(),
                              OutputFormat::jsonl, false, options, flagging);
  EXPECT_EQ(counts.errors, 8u);
  auto wrong_count = [](std::span<const std::string_view>) { return std::vector<Json>{}; };
  EXPECT_THROW(run_job(kData + "broken.jsonl", (dir / "out2.jsonl").string(), OutputFormat::jsonl,
                       false, options, wrong_count),
               Error);
}

TEST(BatchJob, CsvOutput) {
  TempDir dir;
  JobOptions options;
  options.progress = ProgressMode::never;
  run_job(kData + "quoted.csv", (dir / "out.csv").string(), OutputFormat::csv, false, options,
          testing::length_classifier);
  const std::string expected =
      "id,text,note,label,score,scores,refusal,length,error\n"
      "1,plain text,a,refusal,1.4285714285714286,\"{\"\"normal\"\":0.25,\"\"refusal\"\":0.75}\","
      "true,10,\n"
      "2,\"with, comma\",\"say \"\"hi\"\"\",normal,1.5714285714285714,"
      "\"{\"\"normal\"\":0.25,\"\"refusal\"\":0.75}\",false,11,\n";
  const std::string out = read_text(dir / "out.csv");
  EXPECT_EQ(out.substr(0, expected.size()), expected);
  EXPECT_NE(out.find("4,too,many,,,,,,\"line 7: expected 3 fields, found 4\"\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find("\"multi\nline\ntext\""), std::string::npos);
  // JSONL input to CSV: the columns come from the first chunk's records.
  run_job(kData + "broken.jsonl", (dir / "j.csv").string(), OutputFormat::csv, false, options,
          testing::length_classifier);
  const auto lines = lines_of(read_text(dir / "j.csv"));
  EXPECT_EQ(lines[0], "id,text,lang,meta,body,x,label,score,scores,refusal,length,error");
  EXPECT_EQ(lines.size(), 12u);
}

TEST(BatchJob, ArgumentsAndStdout) {
  JobOptions options;
  options.progress = ProgressMode::never;
  auto reader = make_text_reader({"I can't do that", "sure"}, {});
  JsonlWriter writer;
  TempDir dir;
  OutputFile out((dir / "o.jsonl").string(), OutputFormat::jsonl, false);
  const auto counts = run_batch_job(*reader, writer, out, options, testing::length_classifier);
  EXPECT_EQ(counts.rows, 2u);
  const auto lines = lines_of(read_text(dir / "o.jsonl"));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1].rfind(R"({"text":"sure","label":"refusal")", 0), 0u);
  EXPECT_THROW(OutputFile("-", OutputFormat::jsonl, true), Error);
}

// Every cut of a finished output (at record boundaries, mid-record, inside a CSV quoted field,
// at 0 and at the end) resumes to the same bytes, even with a batch-sensitive classifier.
void check_resume_at_cuts(OutputFormat format, const std::string& name) {
  TempDir dir;
  const std::string input = (dir / "in.jsonl.gz").string();
  testing::write_gz(input, make_input(700));
  JobOptions options;
  options.chunk_rows = 61;
  options.batch_size = 7;
  options.progress = ProgressMode::never;
  const std::string full_path = (dir / ("full" + name)).string();
  const auto full_counts =
      run_job(input, full_path, format, false, options, testing::batch_sensitive_classifier);
  const std::string full = read_text(full_path);
  std::vector<std::size_t> cuts = {0,          1, full.size() / 3, full.size() / 2, full.size() - 1,
                                   full.size()};
  const auto nl = full.find('\n', full.size() / 4);
  cuts.push_back(nl);
  cuts.push_back(nl + 1);
  const auto quoted = full.find("\"quoted\"", full.size() * 2 / 3);  // inside a field (CSV)
  cuts.push_back(quoted);
  for (const std::size_t cut : cuts) {
    SCOPED_TRACE("cut at byte " + std::to_string(cut));
    const std::string path = (dir / ("part" + name)).string();
    write_text(path, full.substr(0, cut));
    const auto counts =
        run_job(input, path, format, true, options, testing::batch_sensitive_classifier);
    EXPECT_EQ(read_text(path), full);
    EXPECT_EQ(counts.rows, 700u);
    EXPECT_EQ(counts.resumed + counts.written, 700u);
    EXPECT_EQ(counts.errors, full_counts.errors);
  }
  // A resume of a missing file is a fresh run.
  const std::string fresh = (dir / ("fresh" + name)).string();
  run_job(input, fresh, format, true, options, testing::batch_sensitive_classifier);
  EXPECT_EQ(read_text(fresh), full);
}

TEST(BatchJob, ResumeJsonlByteIdentical) { check_resume_at_cuts(OutputFormat::jsonl, ".jsonl"); }
TEST(BatchJob, ResumeCsvByteIdentical) { check_resume_at_cuts(OutputFormat::csv, ".csv"); }

TEST(BatchJob, ResumeRefusesAnotherJobsOutput) {
  TempDir dir;
  JobOptions options;
  options.progress = ProgressMode::never;
  write_text(dir / "long.jsonl", std::string(20, '\n'));  // 20 records: more than the input
  EXPECT_THROW(run_job(kData + "broken.jsonl", (dir / "long.jsonl").string(), OutputFormat::jsonl,
                       true, options, testing::length_classifier),
               Error);
  write_text(dir / "other.csv", "a,b\n1,2\n");
  EXPECT_THROW(run_job(kData + "quoted.csv", (dir / "other.csv").string(), OutputFormat::csv, true,
                       options, testing::length_classifier),
               Error);
}

// The real thing: a job killed with SIGKILL mid-file, then resumed, gives the uninterrupted bytes.
TEST(BatchJob, SigkillThenResumeByteIdentical) {
  TempDir dir;
  const std::string input = (dir / "in.jsonl").string();
  write_text(input, make_input(3000));
  JobOptions options;
  options.chunk_rows = 50;
  options.batch_size = 8;
  options.progress = ProgressMode::never;
  auto slow = [](std::span<const std::string_view> texts) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return testing::batch_sensitive_classifier(texts);
  };
  const std::string full_path = (dir / "full.jsonl").string();
  run_job(input, full_path, OutputFormat::jsonl, false, options,
          testing::batch_sensitive_classifier);
  const std::string full = read_text(full_path);

  const std::string path = (dir / "killed.jsonl").string();
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    try {
      run_job(input, path, OutputFormat::jsonl, false, options, slow);
    } catch (...) {
      ::_exit(2);
    }
    ::_exit(0);
  }
  // Kill it once about a third of the output is there.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::error_code ec;
  while (std::chrono::steady_clock::now() < deadline) {
    const auto size = std::filesystem::file_size(path, ec);
    if (!ec && size > full.size() / 3) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the job ended before it was killed";
  const std::string killed = read_text(path);
  ASSERT_LT(killed.size(), full.size());
  ASSERT_GT(killed.size(), 0u);

  const auto counts = run_job(input, path, OutputFormat::jsonl, true, options, slow);
  EXPECT_EQ(counts.resumed, lines_of(killed.substr(0, killed.rfind('\n') + 1)).size());
  EXPECT_EQ(counts.resumed + counts.written, 3000u);
  EXPECT_EQ(read_text(path), full);
}

}  // namespace
}  // namespace refusal::io
