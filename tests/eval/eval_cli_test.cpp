// `refusal eval` end to end, through the real binary (CTest passes its path in REFUSAL_BINARY).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>

#include "test_support.h"

namespace refusal {
namespace {

using nlohmann::json;

const std::string kModel = "tests/data/models/random-roberta-tok";
const std::string kEval = "data/eval/chatgpt-refusals.jsonl.gz";

int run(const std::string& args) {
  const char* bin = std::getenv("REFUSAL_BINARY");
  const std::string cmd =
      std::string(bin ? bin : "build/release/refusal") + " " + args + " >/dev/null 2>/dev/null";
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(EvalCli, ModelAndKeywordBaselineOnTheEvalFile) {
  testing::TempDir dir;
  const auto json_path = dir / "eval.json";
  const auto html_path = dir / "eval.html";
  ASSERT_EQ(run("eval --model " + kModel + " --data " + kEval + " --baseline keywords --threads 2" +
                " --json " + json_path.string() + " --html " + html_path.string() + " --worst 5"),
            0);
  const json report = testing::read_json(json_path);
  EXPECT_EQ(report["data"]["rows_read"], 1706);
  EXPECT_EQ(report["data"]["rows_labelled"], 1706);
  EXPECT_EQ(report["data"]["positives"], 646);
  EXPECT_EQ(report["data"]["soft_refusal"], 300);
  ASSERT_EQ(report["systems"].size(), 2u);
  for (const auto& s : report["systems"]) {
    const auto& m = s["overall"]["at_threshold"];
    EXPECT_EQ(m["tp"].get<int>() + m["fp"].get<int>() + m["tn"].get<int>() + m["fn"].get<int>(),
              1706);
    EXPECT_EQ(m["tp"].get<int>() + m["fn"].get<int>(), 646);
    EXPECT_LE(s["worst"]["false_positives"].size(), 5u);
    EXPECT_EQ(s["by_source"][0]["name"], "chatgpt-refusals");
    EXPECT_EQ(s["by_model"][0]["name"], "gpt-3.5-turbo");
    EXPECT_EQ(s["unscored"], 0);
  }
  EXPECT_EQ(report["systems"][1]["name"], "keywords");
  // NoRefusalLight catches nearly every refusal here but calls many answers refusals.
  EXPECT_GT(report["systems"][1]["overall"]["at_threshold"]["recall"].get<double>(), 0.9);
  const std::string html = testing::read_text(html_path);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("keywords"), std::string::npos);
}

TEST(EvalCli, BadLabelsAreReportedAndUsageErrorsExit2) {
  testing::TempDir dir;
  const auto data = dir / "d.jsonl";
  testing::write_text(data,
                      "{\"text\":\"I'm sorry, but I cannot do that.\",\"label\":1}\n"
                      "{\"text\":\"Sure, here it is.\",\"label\":0}\n"
                      "{\"text\":\"Unlabelled\"}\n"
                      "{\"text\":\"Odd\",\"label\":\"maybe\"}\n");
  const auto out = dir / "o.json";
  ASSERT_EQ(run("eval --baseline keywords --data " + data.string() + " --json " + out.string()), 0);
  const json report = testing::read_json(out);
  EXPECT_EQ(report["data"]["rows_read"], 4);
  EXPECT_EQ(report["data"]["rows_labelled"], 2);
  EXPECT_EQ(report["data"]["skipped"]["missing_label"], 1);
  EXPECT_EQ(report["data"]["skipped"]["invalid_label"], 1);
  EXPECT_EQ(report["systems"][0]["overall"]["at_threshold"]["accuracy"], 1.0);

  EXPECT_EQ(run("eval --baseline keywords"), 2);  // no --data
  // No --model and no baseline: the bundled default model (data/models/default).
  const auto model_out = dir / "m.json";
  ASSERT_EQ(run("eval --data " + data.string() + " --json " + model_out.string()), 0);
  const json model_report = testing::read_json(model_out);
  EXPECT_EQ(model_report["systems"].size(), 1u);
  EXPECT_NE(model_report["run"]["model"].get<std::string>().find("models/default"),
            std::string::npos);
  EXPECT_EQ(run("eval --baseline nonsense --data " + data.string()), 2);
  EXPECT_EQ(run("eval --baseline keywords --data " + (dir / "missing.jsonl").string()), 1);
}

}  // namespace
}  // namespace refusal
