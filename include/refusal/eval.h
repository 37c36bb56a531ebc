// Evaluation: labelled answers in, metrics and an offline HTML report out (`refusal eval`).
//
//   files → labelled rows (bad and unlabelled rows counted, never dropped silently)
//         → one score per row per system (the model, the keyword baseline)
//         → a JSON report (metrics at the chosen and the best-F1 threshold, ROC-AUC, PR-AUC,
//           curves, histograms, per-source / per-model / with-without-flagged breakdowns,
//           worst mistakes) → one self-contained HTML page
//
// Metric definitions: src/eval/metrics.h and docs/eval.md.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace refusal::eval {

// One labelled answer.
struct LabeledRow {
  std::string text;
  int label = 0;                    // 0 normal, 1 refusal
  std::string source;               // the record's "source" ("" when absent)
  std::string model;                // the record's "model" ("" when absent)
  std::string prompt;               // the record's "prompt" ("" when absent)
  bool partial_refusal = false;     // meta.partial_refusal is true
  bool soft_refusal = false;        // meta.soft_refusal is true
  std::vector<std::string> groups;  // the value of each Dataset::group_fields field ("" absent)
  std::string file;
  std::size_t line = 0;
};

// A row that could not be evaluated, and why.
struct SkippedRow {
  std::string file;
  std::size_t line = 0;
  std::string reason;  // "missing label", "invalid label ...", the reader's error, ...
  std::string kind;    // "missing_label", "invalid_label", "unreadable", "unscored"
};

struct FileSummary {
  std::string file;
  std::size_t rows = 0;      // records read
  std::size_t labelled = 0;  // rows kept (valid text and label)
};

struct Dataset {
  std::vector<std::string> group_fields;  // the --group-by fields, e.g. "family", "meta.subset"
  std::vector<LabeledRow> rows;
  std::vector<SkippedRow> skipped;
  std::vector<FileSummary> files;
};

// Reads every file (JSONL, optionally gzip; CSV/TSV also work) with io::open_row_reader.
// A label is valid when it is 0 or 1 (an integer, a number equal to 0 or 1, or a boolean);
// the row is skipped and recorded otherwise. Throws refusal::Error only for I/O errors.
// `group_by` names fields whose values break the metrics down (a report section each): a
// top-level field or a dotted path into objects ("meta.subset"); strings as they are, numbers
// and booleans as JSON text, absent or null as "".
Dataset load_dataset(const std::vector<std::string>& files, const std::string& text_field = "text",
                     const std::string& label_field = "label",
                     const std::vector<std::string>& group_by = {});

// One system's scores, parallel to Dataset::rows (NaN: the row could not be scored; it is
// left out of this system's metrics and counted).
struct SystemScores {
  std::string name;         // "model", "keywords"
  std::string description;  // shown in the report
  std::vector<double> scores;
  double threshold = 0.5;  // refusal when score > threshold
};

struct ReportOptions {
  std::size_t worst = 20;          // worst false positives and false negatives shown per system
  std::size_t curve_points = 250;  // curve points kept per curve
  std::size_t histogram_bins = 20;
  std::size_t worst_text_chars = 2000;  // texts longer than this are cut in the report
  // Free-form description of the run (model, options), copied to the report's "run" field and
  // listed at the top of the HTML page: a JSON object as text, e.g.
  // {"note":"shown in bold","model":"models/default","threshold":0.5}. Empty: none.
  std::string run_json;
};

// The whole evaluation as JSON text, indented by 2 (the --json output, and everything the HTML
// page shows). Throws refusal::Error when options.run_json is not a JSON object.
std::string evaluate(const Dataset& data, const std::vector<SystemScores>& systems,
                     const ReportOptions& options);

// The HTML report for evaluate()'s JSON: one file, inline CSS and SVG, no scripts, no network.
// Throws refusal::Error when `report_json` is not JSON.
std::string render_html(std::string_view report_json);

// Escapes & < > " ' for HTML text and attribute values.
std::string html_escape(std::string_view text);

}  // namespace refusal::eval
