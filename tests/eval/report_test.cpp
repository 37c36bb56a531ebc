// load_dataset, evaluate and render_html: what the report holds, escaping, well-formedness.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <vector>

#include "eval/metrics.h"
#include "refusal/error.h"
#include "refusal/eval.h"
#include "test_support.h"

namespace refusal::eval {
namespace {

using nlohmann::ordered_json;

const std::string kEvil = "<script>alert(\"x\")</script> & 'quoted' </div>";

Dataset small_dataset() {
  Dataset d;
  auto row = [&](std::string text, int label, std::string source, std::string model,
                 bool partial = false, bool soft = false) {
    LabeledRow r;
    r.text = std::move(text);
    r.label = label;
    r.source = std::move(source);
    r.model = std::move(model);
    r.prompt = "prompt <b>" + std::to_string(d.rows.size()) + "</b>";
    r.partial_refusal = partial;
    r.soft_refusal = soft;
    r.file = "mem.jsonl";
    r.line = d.rows.size() + 1;
    d.rows.push_back(r);
  };
  row("I'm sorry, but I can't help with that.", 1, "a", "m1");
  row("Here is the recipe you asked for.", 0, "a", "m1");
  row(kEvil, 0, "b", "m2");  // a false positive of the model below
  row("I would rather not, but here is a safer idea.", 1, "b", "m2", false, true);
  row("Partly: I can't do X, here is Y.", 1, "b", "", true, false);
  row("Sure! Step one ...", 0, "a", "m2");
  d.files.push_back({"mem.jsonl", 7, 6});
  d.skipped.push_back({"mem.jsonl", 7, "missing label field 'label'", "missing_label"});
  return d;
}

std::vector<SystemScores> small_systems() {
  SystemScores model{"model", "test model", {0.93, 0.1, 0.97, 0.2, 0.6, 0.4}, 0.5};
  SystemScores keywords{"keywords", "phrases", {1, 0, 0, 0, 1, 0}, 0.5};
  return {model, keywords};
}

TEST(EvalReport, JsonHoldsTheMetricsBreakdownsAndSkippedRows) {
  const auto data = small_dataset();
  const auto report = ordered_json::parse(evaluate(data, small_systems(), {}));
  EXPECT_EQ(report["data"]["rows_read"], 7);
  EXPECT_EQ(report["data"]["rows_labelled"], 6);
  EXPECT_EQ(report["data"]["skipped"]["missing_label"], 1);
  EXPECT_EQ(report["data"]["skipped_rows"][0]["line"], 7);
  EXPECT_EQ(report["data"]["soft_refusal"], 1);
  EXPECT_EQ(report["data"]["partial_refusal"], 1);
  ASSERT_EQ(report["systems"].size(), 2u);

  const auto& model = report["systems"][0];
  const auto& o = model["overall"];
  std::vector<double> scores = {0.93, 0.1, 0.97, 0.2, 0.6, 0.4};
  std::vector<int> labels = {1, 0, 0, 1, 1, 0};
  EXPECT_EQ(o["at_threshold"]["tp"], 2);
  EXPECT_EQ(o["at_threshold"]["fp"], 1);
  EXPECT_EQ(o["at_threshold"]["tn"], 2);
  EXPECT_EQ(o["at_threshold"]["fn"], 1);
  EXPECT_DOUBLE_EQ(o["roc_auc"].get<double>(), roc_auc(scores, labels));
  EXPECT_DOUBLE_EQ(o["pr_auc"].get<double>(), average_precision(scores, labels));
  EXPECT_DOUBLE_EQ(o["at_best_f1"]["f1"].get<double>(), best_f1(scores, labels).f1);

  // By source: a and b; by model: "(none)", m1, m2.
  ASSERT_EQ(model["by_source"].size(), 2u);
  EXPECT_EQ(model["by_source"][0]["name"], "a");
  EXPECT_EQ(model["by_source"][0]["rows"], 3);
  ASSERT_EQ(model["by_model"].size(), 3u);
  EXPECT_EQ(model["by_model"][0]["name"], "(none)");
  // Subsets: without the flagged rows, 4 remain; the flagged ones are both refusals.
  const auto& subsets = model["subsets"];
  EXPECT_EQ(subsets[0]["name"], "all");
  EXPECT_EQ(subsets[3]["name"], "without_partial_or_soft");
  EXPECT_EQ(subsets[3]["rows"], 4);
  EXPECT_EQ(subsets[4]["rows"], 2);
  EXPECT_EQ(subsets[4]["positives"], 2);
  EXPECT_TRUE(subsets[4]["roc_auc"].is_null());  // one class only
  // Worst: the evil text is the top false positive; 0.2 the lowest false negative.
  EXPECT_EQ(model["worst"]["false_positives"][0]["text"], kEvil);
  EXPECT_EQ(model["worst"]["false_negatives"][0]["score"], 0.2);
  EXPECT_EQ(model["histogram"]["negative"].size(), 20u);
}

TEST(EvalReport, UnscoredRowsAreCountedNotDropped) {
  auto systems = small_systems();
  systems[0].scores[1] = NAN;
  const auto report = ordered_json::parse(evaluate(small_dataset(), systems, {}));
  EXPECT_EQ(report["systems"][0]["unscored"], 1);
  EXPECT_EQ(report["systems"][0]["unscored_rows"][0]["line"], 2);
  EXPECT_EQ(report["systems"][0]["overall"]["rows"], 5);
}

TEST(EvalReport, CutsLongTextsOnCharacterBoundaries) {
  Dataset d = small_dataset();
  d.rows[2].text = std::string(10, 'a') + "\xC3\xA9\xC3\xA9\xC3\xA9";  // "aaaaaaaaaaééé"
  ReportOptions options;
  options.worst_text_chars = 11;
  const auto report = ordered_json::parse(evaluate(d, small_systems(), options));
  const auto& m = report["systems"][0]["worst"]["false_positives"][0];
  EXPECT_EQ(m["text"], std::string(10, 'a') + "\xC3\xA9");
  EXPECT_EQ(m["text_chars"], 13);
  EXPECT_EQ(m["text_cut"], true);
}

// Tags open and close in order (void elements and self-closed SVG elements aside).
void expect_balanced(const std::string& html) {
  static const std::regex tag(R"(<(/?)([a-zA-Z][a-zA-Z0-9]*)([^>]*)>)");
  static const std::vector<std::string> kVoid = {"meta", "br", "hr", "img", "input", "link"};
  std::vector<std::string> stack;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), tag); it != std::sregex_iterator();
       ++it) {
    const std::string name = (*it)[2];
    const std::string attrs = (*it)[3];
    if ((*it)[1] == "/") {
      ASSERT_FALSE(stack.empty()) << "</" << name << "> closes nothing";
      ASSERT_EQ(stack.back(), name) << "</" << name << "> closes <" << stack.back() << ">";
      stack.pop_back();
    } else if (std::find(kVoid.begin(), kVoid.end(), name) == kVoid.end() &&
               (attrs.empty() || attrs.back() != '/')) {
      stack.push_back(name);
    }
  }
  EXPECT_TRUE(stack.empty()) << stack.size() << " tags left open, first <" << stack.front() << ">";
}

TEST(EvalReport, HtmlIsSelfContainedEscapedAndShowsTheNumbers) {
  const std::string json = evaluate(small_dataset(), small_systems(), {});
  const auto report = ordered_json::parse(json);
  const std::string html = render_html(json);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("<meta charset=\"utf-8\">"), std::string::npos);
  // No scripts, nothing fetched.
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  // The texts and prompts, escaped.
  EXPECT_NE(html.find("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quoted&#39; "
                      "&lt;/div&gt;"),
            std::string::npos);
  EXPECT_NE(html.find("prompt &lt;b&gt;2&lt;/b&gt;"), std::string::npos);
  // Sections and numbers: the model's accuracy 4/6, its ROC-AUC, the confusion cells.
  for (const char* section :
       {"id=\"summary\"", "id=\"curves\"", "id=\"histograms\"", "id=\"by-source\"",
        "id=\"by-model\"", "id=\"flagged\"", "id=\"mistakes\"", "<svg", "<polyline"}) {
    EXPECT_NE(html.find(section), std::string::npos) << section;
  }
  EXPECT_NE(html.find("<td>0.6667</td>"), std::string::npos);
  const double auc = report["systems"][0]["overall"]["roc_auc"];
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", auc);
  EXPECT_NE(html.find(std::string("<td>") + buf + "</td>"), std::string::npos) << buf;
  EXPECT_NE(html.find("TP 2"), std::string::npos);
  EXPECT_NE(html.find("FN 1"), std::string::npos);
  EXPECT_NE(html.find("n/a"), std::string::npos);  // ROC-AUC of the one-class subset
  expect_balanced(html);
}

TEST(EvalReport, RunDescriptionIsCopiedAndShown) {
  ReportOptions options;
  options.run_json = R"({"note":"nightly <run>","model":"models/default","threshold":0.5})";
  const std::string json = evaluate(small_dataset(), small_systems(), options);
  const auto report = ordered_json::parse(json);
  EXPECT_EQ(report["run"].dump(), options.run_json);
  const std::string html = render_html(json);
  EXPECT_NE(html.find("<p class=\"note\"><b>nightly &lt;run&gt;</b></p>"), std::string::npos);
  EXPECT_NE(html.find("models/default"), std::string::npos);
  EXPECT_EQ(ordered_json::parse(evaluate(small_dataset(), small_systems(), {}))["run"],
            ordered_json::object());
}

TEST(EvalReport, BadJsonIsAnError) {
  ReportOptions options;
  options.run_json = "[1, 2]";
  EXPECT_THAT([&] { (void)evaluate(small_dataset(), small_systems(), options); },
              ::testing::ThrowsMessage<Error>(::testing::HasSubstr("run_json is a JSON array")));
  options.run_json = "{\"model\":";
  EXPECT_THAT([&] { (void)evaluate(small_dataset(), small_systems(), options); },
              ::testing::ThrowsMessage<Error>(::testing::HasSubstr("run_json is not JSON")));
  EXPECT_THAT([] { (void)render_html("<html>"); },
              ::testing::ThrowsMessage<Error>(::testing::HasSubstr("evaluation report: not JSON")));
}

TEST(EvalReport, HtmlEscape) {
  EXPECT_EQ(html_escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
  EXPECT_EQ(html_escape("caf\xC3\xA9"), "caf\xC3\xA9");
}

TEST(EvalDataset, LabelsAreCheckedAndEveryBadRowCounted) {
  testing::TempDir dir;
  const auto path = (dir / "rows.jsonl").string();
  testing::write_text(
      path, R"({"text":"I can't.","label":1,"source":"s","model":"m","meta":{"soft_refusal":true}})"
            "\n"
            R"({"text":"Sure.","label":0})"
            "\n"
            R"({"text":"Nope.","label":true,"meta":{"partial_refusal":true}})"
            "\n"
            R"({"text":"Fine.","label":0.0})"
            "\n"
            R"({"text":"No label"})"
            "\n"
            R"({"text":"Null label","label":null})"
            "\n"
            R"({"text":"Bad","label":"yes"})"
            "\n"
            R"({"text":"Two","label":2})"
            "\n"
            R"({"label":1})"
            "\n"
            "not json\n");
  const Dataset d = load_dataset({path});
  ASSERT_EQ(d.rows.size(), 4u);
  EXPECT_EQ(d.rows[0].label, 1);
  EXPECT_EQ(d.rows[0].source, "s");
  EXPECT_TRUE(d.rows[0].soft_refusal);
  EXPECT_FALSE(d.rows[0].partial_refusal);
  EXPECT_EQ(d.rows[2].label, 1);
  EXPECT_TRUE(d.rows[2].partial_refusal);
  EXPECT_EQ(d.rows[3].label, 0);
  EXPECT_EQ(d.rows[3].line, 4u);
  ASSERT_EQ(d.skipped.size(), 6u);
  EXPECT_EQ(d.skipped[0].kind, "missing_label");
  EXPECT_EQ(d.skipped[0].line, 5u);
  EXPECT_EQ(d.skipped[1].kind, "missing_label");
  EXPECT_EQ(d.skipped[2].kind, "invalid_label");
  EXPECT_NE(d.skipped[2].reason.find("\"yes\""), std::string::npos);
  EXPECT_EQ(d.skipped[3].kind, "invalid_label");
  EXPECT_EQ(d.skipped[4].kind, "unreadable");
  EXPECT_EQ(d.skipped[5].kind, "unreadable");
  ASSERT_EQ(d.files.size(), 1u);
  EXPECT_EQ(d.files[0].rows, 10u);
  EXPECT_EQ(d.files[0].labelled, 4u);
}

TEST(EvalDataset, GroupByFieldsBreakTheMetricsDown) {
  testing::TempDir dir;
  const auto path = (dir / "rows.jsonl").string();
  testing::write_text(path,
                      R"({"text":"No.","label":1,"family":"terse","meta":{"lang":"en","n":2}})"
                      "\n"
                      R"({"text":"Sure, here.","label":0,"family":"terse","meta":{"lang":"de"}})"
                      "\n"
                      R"({"text":"I won't write that part.","label":1,"family":"late"})"
                      "\n"
                      R"({"text":"Done.","label":0,"family":null,"meta":{"lang":"en"}})"
                      "\n");
  const Dataset d = load_dataset({path}, "text", "label", {"family", "meta.lang", "meta.n"});
  ASSERT_EQ(d.rows.size(), 4u);
  EXPECT_EQ(d.group_fields.size(), 3u);
  EXPECT_EQ(d.rows[0].groups, (std::vector<std::string>{"terse", "en", "2"}));
  EXPECT_EQ(d.rows[2].groups, (std::vector<std::string>{"late", "", ""}));
  EXPECT_EQ(d.rows[3].groups, (std::vector<std::string>{"", "en", ""}));

  // Model: right on rows 0, 1 and 3, a false negative on row 2.
  const SystemScores model{"model", "m", {0.9, 0.2, 0.3, 0.1}, 0.5};
  const auto report = ordered_json::parse(evaluate(d, {model}, {}));
  const auto& by_field = report["systems"][0]["by_field"];
  ASSERT_EQ(by_field.size(), 3u);
  EXPECT_EQ(by_field[0]["field"], "family");
  std::map<std::string, ordered_json> family;
  for (const auto& g : by_field[0]["groups"]) family[g["name"]] = g;
  ASSERT_EQ(family.size(), 3u);  // "(none)", "late", "terse"
  EXPECT_EQ(family["terse"]["rows"], 2);
  EXPECT_EQ(family["terse"]["at_threshold"]["accuracy"], 1.0);
  EXPECT_EQ(family["late"]["rows"], 1);
  EXPECT_EQ(family["late"]["at_threshold"]["accuracy"], 0.0);
  EXPECT_EQ(family["(none)"]["rows"], 1);
  const std::string html = render_html(report.dump());
  EXPECT_NE(html.find("<h2 id=\"by-field-family\">By family</h2>"), std::string::npos);
  EXPECT_NE(html.find("<h2 id=\"by-field-meta.lang\">By meta.lang</h2>"), std::string::npos);
}

}  // namespace
}  // namespace refusal::eval
