// `refusal eval`: how well a model (and the keyword baseline) tells refusals from answers, on
// labelled files: metrics as JSON, and an offline HTML report with curves and worst mistakes.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "commands.h"
#include "refusal/classifier.h"
#include "refusal/default_model.h"
#include "refusal/error.h"
#include "refusal/eval.h"
#include "refusal/scanner_rules.h"

namespace refusal::app {
namespace {

using nlohmann::ordered_json;

struct EvalArgs {
  std::string model;
  std::vector<std::string> data;
  std::string text_field = "text";
  std::string label_field = "label";
  double threshold = 0.5;
  std::optional<std::size_t> max_length;
  std::string match = "full";
  std::string long_text = "truncate";
  std::string dtype = "fp32";
  int threads = 0;
  std::vector<std::string> baselines;
  std::string json_out;
  std::string html_out;
  std::size_t worst = 20;
  std::size_t batch_size = 64;
  std::string note;
  std::vector<std::string> group_by;
};

void write_file(const std::string& path, const std::string& content) {
  if (path == "-") {
    std::fwrite(content.data(), 1, content.size(), stdout);
    return;
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error("cannot write " + path);
  out << content;
  if (!out.flush()) throw Error("cannot write " + path);
}

// The model's score for every row; NaN for a row the classifier rejects (counted as unscored).
std::vector<double> model_scores(const Classifier& classifier, const eval::Dataset& data,
                                 std::size_t batch_size) {
  std::vector<double> scores(data.rows.size(), std::numeric_limits<double>::quiet_NaN());
  for (std::size_t begin = 0; begin < data.rows.size(); begin += batch_size) {
    const std::size_t end = std::min(data.rows.size(), begin + batch_size);
    std::vector<std::string_view> texts;
    for (std::size_t i = begin; i < end; ++i) texts.push_back(data.rows[i].text);
    const auto results = classifier.classify_each(texts);
    for (std::size_t i = begin; i < end; ++i) {
      const TextResult& r = results[i - begin];
      if (r.ok()) {
        scores[i] = r.verdict.score;
      } else {
        std::fprintf(stderr, "refusal: %s:%zu: not scored: %s\n", data.rows[i].file.c_str(),
                     data.rows[i].line, r.error.c_str());
      }
    }
    if (end == data.rows.size() || (isatty(2) && (end / batch_size) % 16 == 0)) {
      std::fprintf(stderr, "\rrefusal eval: scored %zu / %zu rows", end, data.rows.size());
      if (end == data.rows.size()) std::fputc('\n', stderr);
    }
  }
  return scores;
}

int run_eval(const EvalArgs& a) {
  // No --model: the bundled model, unless only a baseline was asked for.
  const std::string model =
      a.model.empty() && a.baselines.empty() ? default_model_path().string() : a.model;
  ClassifierOptions options;
  options.match = parse_match_mode(a.match);
  options.long_text = parse_long_text_mode(a.long_text);
  options.threshold = a.threshold;
  options.max_length = a.max_length;

  std::unique_ptr<Classifier> classifier;
  if (!model.empty()) {
    classifier = std::make_unique<Classifier>(
        Classifier::load(model, {.threads = a.threads, .dtype = parse_dtype(a.dtype)}, options));
  }

  const eval::Dataset data = eval::load_dataset(a.data, a.text_field, a.label_field, a.group_by);
  if (!data.skipped.empty()) {
    std::fprintf(stderr,
                 "refusal eval: %zu rows skipped (missing/invalid label or unreadable; "
                 "listed in the report's data.skipped_rows)\n",
                 data.skipped.size());
  }
  if (data.rows.empty()) throw Error("no labelled rows in the --data files");

  std::vector<eval::SystemScores> systems;
  if (classifier) {
    eval::SystemScores s;
    s.name = "model";
    s.description = model + " (" + a.dtype + ", " + a.match + ", " + a.long_text + ")";
    s.threshold = a.threshold;
    s.scores = model_scores(*classifier, data, a.batch_size);
    systems.push_back(std::move(s));
  }
  for (const auto& b : a.baselines) {
    if (b != "keywords") throw Error("unknown baseline " + b);
    eval::SystemScores s;
    s.name = "keywords";
    s.description = "LLM Guard NoRefusalLight (28 phrases): score 1 on a match, else 0";
    s.threshold = 0.5;
    for (const auto& row : data.rows) {
      s.scores.push_back(no_refusal_light(row.text).is_valid ? 0.0 : 1.0);
    }
    systems.push_back(std::move(s));
  }

  eval::ReportOptions report_options;
  report_options.worst = a.worst;
  ordered_json run;
  if (!a.note.empty()) run["note"] = a.note;
  run["model"] = model.empty() ? "(none)" : model;
  std::string files;
  for (const auto& f : a.data) files += (files.empty() ? "" : ", ") + f;
  run["data"] = files;
  run["threshold"] = a.threshold;
  run["dtype"] = a.dtype;
  run["match"] = a.match;
  run["long"] = a.long_text;
  run["max_length"] = a.max_length ? std::to_string(*a.max_length) : "model default";
  run["label_field"] = a.label_field;
  report_options.run_json = run.dump(-1, ' ', false, ordered_json::error_handler_t::replace);

  const std::string json = eval::evaluate(data, systems, report_options);
  if (!a.json_out.empty()) write_file(a.json_out, json + "\n");
  if (!a.html_out.empty()) write_file(a.html_out, eval::render_html(json));
  if (a.json_out.empty() && a.html_out.empty()) write_file("-", json + "\n");

  // A short summary on stderr.
  const ordered_json report = ordered_json::parse(json);
  for (const auto& s : report["systems"]) {
    const auto& o = s["overall"];
    auto f = [](const ordered_json& v) { return v.is_number() ? v.get<double>() : NAN; };
    std::fprintf(stderr,
                 "%-9s rows %zu  acc %.4f  P %.4f  R %.4f  F1 %.4f  ROC-AUC %.4f  PR-AUC %.4f  "
                 "best-F1 %.4f @ %.6g\n",
                 s["name"].get<std::string>().c_str(), o["rows"].get<std::size_t>(),
                 f(o["at_threshold"]["accuracy"]), f(o["at_threshold"]["precision"]),
                 f(o["at_threshold"]["recall"]), f(o["at_threshold"]["f1"]), f(o["roc_auc"]),
                 f(o["pr_auc"]), f(o["at_best_f1"]["f1"]), f(o["at_best_f1"]["threshold"]));
  }
  for (std::size_t field = 0; field < a.group_by.size(); ++field) {
    for (const auto& s : report["systems"]) {
      for (const auto& g : s["by_field"][field]["groups"]) {
        const auto& m = g["at_threshold"];
        auto f = [](const ordered_json& v) { return v.is_number() ? v.get<double>() : NAN; };
        std::fprintf(stderr, "%-9s %s=%-20s rows %4zu  acc %.4f  P %.4f  R %.4f  F1 %.4f\n",
                     s["name"].get<std::string>().c_str(), a.group_by[field].c_str(),
                     g["name"].get<std::string>().c_str(), g["rows"].get<std::size_t>(),
                     f(m["accuracy"]), f(m["precision"]), f(m["recall"]), f(m["f1"]));
      }
    }
  }
  return 0;
}

}  // namespace

Command add_eval_command(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  auto* cmd = app.add_subcommand(
      "eval",
      "Evaluate a model (and/or the keyword baseline) on labelled files: accuracy, precision,\n"
      "recall, F1, ROC-AUC, PR-AUC, confusion matrix at --threshold and at the best-F1\n"
      "threshold, per source / model, with and without partial/soft refusals. JSON (--json)\n"
      "and an offline HTML report (--html). See docs/eval.md.");
  cmd->add_option("-m,--model", a->model,
                  "Model folder, Hugging Face cache folder, or hub id in the local cache "
                  "(default: the bundled model, unless only --baseline is given)");
  cmd->add_option("-d,--data", a->data,
                  "Labelled files (.jsonl, .jsonl.gz, .csv, .tsv): text, label 0/1, and "
                  "optionally source, model, prompt, meta")
      ->required()
      ->expected(1, -1);
  cmd->add_option("--field", a->text_field, "Field holding the text")->capture_default_str();
  cmd->add_option("--label-field", a->label_field, "Field holding the 0/1 label")
      ->capture_default_str();
  cmd->add_option("-t,--threshold", a->threshold, "Refusal when score > threshold")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--max-length", a->max_length,
                  "Tokens per model input, specials included (default: the model's, 512)")
      ->check(CLI::Range(3, 100000));
  cmd->add_option("--match", a->match, "Score the full text, or each sentence (Punkt)")
      ->check(CLI::IsMember({"full", "sentence"}))
      ->capture_default_str();
  cmd->add_option("--long", a->long_text, "Long texts: truncate, or windows (keep the highest)")
      ->check(CLI::IsMember({"truncate", "windows"}))
      ->capture_default_str();
  cmd->add_option("--dtype", a->dtype, "fp32 (exact), bf16 or int8")
      ->check(CLI::IsMember({"fp32", "bf16", "int8"}))
      ->capture_default_str();
  cmd->add_option(
         "--threads", a->threads,
         "Threads (default: $REFUSAL_NUM_THREADS, else $OMP_NUM_THREADS, else the CPUs this "
         "process may use)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--baseline", a->baselines,
                  "Add a baseline to the report: keywords (LLM Guard NoRefusalLight)")
      ->check(CLI::IsMember({"keywords"}));
  cmd->add_option("--json", a->json_out, "Write the metrics as JSON here (- for stdout)");
  cmd->add_option("--html", a->html_out, "Write the HTML report here");
  cmd->add_option("--worst", a->worst, "Worst false positives and false negatives shown")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  cmd->add_option("--batch-size", a->batch_size, "Texts per model call")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  cmd->add_option("--note", a->note, "A line shown at the top of the report");
  cmd->add_option("--group-by", a->group_by,
                  "Break the metrics down by this field's values (repeatable; a dotted path such "
                  "as meta.subset reaches into objects): a report section and stderr lines each");
  return [a] { return run_eval(*a); };
}

}  // namespace refusal::app
