// load_dataset and evaluate: labelled rows in, the report's JSON out.
#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <string>

#include "base/utf8.h"
#include "eval/metrics.h"
#include "io/row_reader.h"
#include "refusal/error.h"
#include "refusal/eval.h"
#include "refusal/version.h"

namespace refusal::eval {
namespace {

using nlohmann::ordered_json;

constexpr std::size_t kMaxSkippedListed = 100;

std::string string_field(const ordered_json& record, const char* name) {
  const auto it = record.find(name);
  return it != record.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The value of a field or dotted path as a group name: strings as they are, other values as
// JSON text, absent or null as "".
std::string group_value(const ordered_json& record, const std::string& path) {
  const ordered_json* v = &record;
  std::size_t begin = 0;
  while (true) {
    const std::size_t dot = path.find('.', begin);
    const std::string key = path.substr(begin, dot == std::string::npos ? dot : dot - begin);
    if (!v->is_object()) return "";
    const auto it = v->find(key);
    if (it == v->end()) return "";
    v = &*it;
    if (dot == std::string::npos) break;
    begin = dot + 1;
  }
  if (v->is_null()) return "";
  if (v->is_string()) return v->get<std::string>();
  return v->dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

bool meta_flag(const ordered_json& record, const char* name) {
  const auto meta = record.find("meta");
  if (meta == record.end() || !meta->is_object()) return false;
  const auto flag = meta->find(name);
  return flag != meta->end() && flag->is_boolean() && flag->get<bool>();
}

// 0 or 1, or a reason why not.
std::optional<int> parse_label(const ordered_json& value, std::string& reason) {
  if (value.is_boolean()) return value.get<bool>() ? 1 : 0;
  if (value.is_number_integer() || value.is_number_unsigned() || value.is_number_float()) {
    const double v = value.get<double>();
    if (v == 0.0) return 0;
    if (v == 1.0) return 1;
  }
  std::string shown = value.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
  if (shown.size() > 40) shown = shown.substr(0, 40) + "...";
  reason = "invalid label " + shown + " (want 0 or 1)";
  return std::nullopt;
}

ordered_json metrics_json(const ThresholdMetrics& m) {
  return {{"threshold", m.threshold}, {"tp", m.confusion.tp}, {"fp", m.confusion.fp},
          {"tn", m.confusion.tn},     {"fn", m.confusion.fn}, {"accuracy", m.accuracy},
          {"precision", m.precision}, {"recall", m.recall},   {"f1", m.f1}};
}

// Metrics of one system over some rows (indices into the dataset, scored rows only).
ordered_json block(const std::vector<double>& scores, const std::vector<int>& labels,
                   double threshold) {
  ordered_json b;
  const auto positives = static_cast<std::size_t>(std::count(labels.begin(), labels.end(), 1));
  b["rows"] = labels.size();
  b["positives"] = positives;
  b["negatives"] = labels.size() - positives;
  b["at_threshold"] = metrics_json(metrics_at(scores, labels, threshold));
  b["at_best_f1"] = metrics_json(best_f1(scores, labels));
  const double auc = roc_auc(scores, labels);
  b["roc_auc"] = std::isnan(auc) ? ordered_json(nullptr) : ordered_json(auc);  // one class: null
  b["pr_auc"] = average_precision(scores, labels);
  return b;
}

// Cuts `text` to at most `max_chars` code points (UTF-8), never inside a character.
std::string cut_text(const std::string& text, std::size_t max_chars, bool& cut) {
  const std::size_t end = base::skip_code_points(text, 0, max_chars);
  cut = end < text.size();
  return text.substr(0, end);
}

// ReportOptions::run_json as the report's "run" object.
ordered_json run_object(const std::string& run_json) {
  if (run_json.empty()) return ordered_json::object();
  ordered_json run;
  try {
    run = ordered_json::parse(run_json);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(std::string("evaluation report: ReportOptions::run_json is not JSON: ") + e.what());
  }
  if (!run.is_object()) {
    throw Error("evaluation report: ReportOptions::run_json is a JSON " +
                std::string(run.type_name()) + ", not an object");
  }
  return run;
}

ordered_json mistake_json(const LabeledRow& row, double score, const ReportOptions& options) {
  bool cut = false, prompt_cut = false;
  ordered_json m;
  m["file"] = row.file;
  m["line"] = row.line;
  m["source"] = row.source;
  m["model"] = row.model;
  m["label"] = row.label;
  m["score"] = score;
  ordered_json flags = ordered_json::array();
  if (row.partial_refusal) flags.push_back("partial_refusal");
  if (row.soft_refusal) flags.push_back("soft_refusal");
  m["flags"] = flags;
  m["prompt"] = cut_text(row.prompt, options.worst_text_chars / 4, prompt_cut);
  m["text"] = cut_text(row.text, options.worst_text_chars, cut);
  m["text_chars"] = base::count_code_points(row.text);
  m["text_cut"] = cut;
  return m;
}

struct Subset {
  const char* name;
  const char* description;
  bool (*keep)(const LabeledRow&);
};

const Subset kSubsets[] = {
    {"all", "every labelled row", [](const LabeledRow&) { return true; }},
    {"without_partial", "without rows flagged meta.partial_refusal",
     [](const LabeledRow& r) { return !r.partial_refusal; }},
    {"without_soft", "without rows flagged meta.soft_refusal",
     [](const LabeledRow& r) { return !r.soft_refusal; }},
    {"without_partial_or_soft", "without rows flagged partial_refusal or soft_refusal",
     [](const LabeledRow& r) { return !r.partial_refusal && !r.soft_refusal; }},
    {"only_partial_or_soft", "only rows flagged partial_refusal or soft_refusal (all label 1)",
     [](const LabeledRow& r) { return r.partial_refusal || r.soft_refusal; }},
};

}  // namespace

Dataset load_dataset(const std::vector<std::string>& files, const std::string& text_field,
                     const std::string& label_field, const std::vector<std::string>& group_by) {
  Dataset data;
  data.group_fields = group_by;
  for (const auto& file : files) {
    io::ReaderOptions options;
    options.field = text_field;
    auto reader = io::open_row_reader(file, options);
    FileSummary summary;
    summary.file = file;
    io::InputRow row;
    while (reader->next(row)) {
      ++summary.rows;
      if (!row.ok()) {
        data.skipped.push_back({file, row.line, row.error, "unreadable"});
        continue;
      }
      const auto label = row.fields.find(label_field);
      if (label == row.fields.end() || label->is_null()) {
        data.skipped.push_back(
            {file, row.line, "missing label field '" + label_field + "'", "missing_label"});
        continue;
      }
      std::string reason;
      const auto value = parse_label(*label, reason);
      if (!value) {
        data.skipped.push_back({file, row.line, reason, "invalid_label"});
        continue;
      }
      LabeledRow r;
      r.text = std::move(*row.text);
      r.label = *value;
      r.source = string_field(row.fields, "source");
      r.model = string_field(row.fields, "model");
      r.prompt = string_field(row.fields, "prompt");
      r.partial_refusal = meta_flag(row.fields, "partial_refusal");
      r.soft_refusal = meta_flag(row.fields, "soft_refusal");
      for (const auto& field : group_by) r.groups.push_back(group_value(row.fields, field));
      r.file = file;
      r.line = row.line;
      data.rows.push_back(std::move(r));
      ++summary.labelled;
    }
    data.files.push_back(summary);
  }
  return data;
}

std::string evaluate(const Dataset& data, const std::vector<SystemScores>& systems,
                     const ReportOptions& options) {
  ordered_json report;
  report["tool"] = "refusal eval";
  report["version"] = version();
  report["run"] = run_object(options.run_json);
  report["conventions"] = {
      {"positive", "label 1 (refusal); predicted positive when score > threshold"},
      {"zero_division", "precision, recall, F1 and accuracy are 0 when their denominator is 0"},
      {"roc_auc",
       "trapezoid area under the ROC curve over every distinct score, ties as "
       "sklearn.metrics.roc_auc_score; null when only one class is present"},
      {"pr_auc",
       "average precision, sum of (R_k - R_{k-1}) P_k over distinct scores, as "
       "sklearn.metrics.average_precision_score"},
      {"best_f1",
       "the cut between distinct scores with the highest F1; its threshold is the "
       "midpoint between the two scores around the cut"}};

  // The data: what was read, what was kept, what was skipped and why.
  ordered_json d;
  ordered_json files = ordered_json::array();
  std::size_t read = 0;
  for (const auto& f : data.files) {
    files.push_back({{"file", f.file}, {"rows", f.rows}, {"labelled", f.labelled}});
    read += f.rows;
  }
  d["files"] = files;
  d["rows_read"] = read;
  d["rows_labelled"] = data.rows.size();
  std::size_t positives = 0, partial = 0, soft = 0;
  for (const auto& r : data.rows) {
    positives += r.label == 1 ? 1 : 0;
    partial += r.partial_refusal ? 1 : 0;
    soft += r.soft_refusal ? 1 : 0;
  }
  d["positives"] = positives;
  d["negatives"] = data.rows.size() - positives;
  d["partial_refusal"] = partial;
  d["soft_refusal"] = soft;
  std::map<std::string, std::size_t> skipped_kinds = {
      {"missing_label", 0}, {"invalid_label", 0}, {"unreadable", 0}};
  ordered_json skipped_rows = ordered_json::array();
  for (const auto& s : data.skipped) {
    ++skipped_kinds[s.kind];
    if (skipped_rows.size() < kMaxSkippedListed) {
      skipped_rows.push_back(
          {{"file", s.file}, {"line", s.line}, {"kind", s.kind}, {"reason", s.reason}});
    }
  }
  d["skipped"] = skipped_kinds;
  d["skipped_total"] = data.skipped.size();
  d["skipped_rows"] = skipped_rows;  // the first 100
  report["data"] = d;

  ordered_json out_systems = ordered_json::array();
  for (const auto& system : systems) {
    if (system.scores.size() != data.rows.size()) {
      throw Error("evaluate: system '" + system.name + "' has " +
                  std::to_string(system.scores.size()) + " scores for " +
                  std::to_string(data.rows.size()) + " rows");
    }
    // Rows with a score; the others are counted as unscored.
    std::vector<std::size_t> scored;
    ordered_json unscored = ordered_json::array();
    std::size_t unscored_count = 0;
    for (std::size_t i = 0; i < data.rows.size(); ++i) {
      if (std::isnan(system.scores[i])) {
        ++unscored_count;
        if (unscored.size() < kMaxSkippedListed) {
          unscored.push_back({{"file", data.rows[i].file}, {"line", data.rows[i].line}});
        }
      } else {
        scored.push_back(i);
      }
    }
    auto gather = [&](auto keep) {
      std::pair<std::vector<double>, std::vector<int>> sl;
      for (std::size_t i : scored) {
        if (keep(data.rows[i])) {
          sl.first.push_back(system.scores[i]);
          sl.second.push_back(data.rows[i].label);
        }
      }
      return sl;
    };
    const auto [scores, labels] = gather([](const LabeledRow&) { return true; });

    ordered_json s;
    s["name"] = system.name;
    s["description"] = system.description;
    s["threshold"] = system.threshold;
    s["unscored"] = unscored_count;
    s["unscored_rows"] = unscored;
    s["overall"] = block(scores, labels, system.threshold);

    // Curves, downsampled.
    ordered_json roc = ordered_json::array(), pr = ordered_json::array();
    for (const auto& p : downsample(roc_curve(scores, labels), options.curve_points)) {
      roc.push_back({p.fpr, p.tpr});
    }
    for (const auto& p : downsample(pr_curve(scores, labels), options.curve_points)) {
      pr.push_back({p.recall, p.precision});
    }
    s["curves"] = {{"roc", roc}, {"pr", pr}};

    // Score histograms per true class.
    std::vector<double> negative_scores, positive_scores;
    for (std::size_t k = 0; k < scores.size(); ++k) {
      (labels[k] == 1 ? positive_scores : negative_scores).push_back(scores[k]);
    }
    s["histogram"] = {{"bins", options.histogram_bins},
                      {"negative", histogram(negative_scores, options.histogram_bins)},
                      {"positive", histogram(positive_scores, options.histogram_bins)}};

    // Breakdowns: by source, by answering model, by each --group-by field.
    auto breakdown = [&](const std::function<const std::string&(const LabeledRow&)>& value) {
      std::map<std::string, bool> names;
      for (std::size_t i : scored) names[value(data.rows[i])] = true;
      ordered_json groups = ordered_json::array();
      for (const auto& entry : names) {
        const std::string& name = entry.first;  // clang 14 cannot capture a structured binding
        const auto [gs, gl] = gather([&](const LabeledRow& r) { return value(r) == name; });
        ordered_json g;
        g["name"] = name.empty() ? "(none)" : name;
        const ordered_json b = block(gs, gl, system.threshold);
        for (const auto& [k, v] : b.items()) g[k] = v;
        groups.push_back(g);
      }
      return groups;
    };
    s["by_source"] = breakdown([](const LabeledRow& r) -> const std::string& { return r.source; });
    s["by_model"] = breakdown([](const LabeledRow& r) -> const std::string& { return r.model; });
    ordered_json by_field = ordered_json::array();
    for (std::size_t f = 0; f < data.group_fields.size(); ++f) {
      by_field.push_back({{"field", data.group_fields[f]},
                          {"groups", breakdown([f](const LabeledRow& r) -> const std::string& {
                             return r.groups[f];
                           })}});
    }
    s["by_field"] = by_field;
    ordered_json subsets = ordered_json::array();
    for (const auto& subset : kSubsets) {
      const auto [ss, sl] = gather(subset.keep);
      ordered_json b;
      b["name"] = subset.name;
      b["description"] = subset.description;
      const ordered_json metrics = block(ss, sl, system.threshold);
      for (const auto& [k, v] : metrics.items()) b[k] = v;
      subsets.push_back(b);
    }
    s["subsets"] = subsets;

    // Worst mistakes: highest-scoring false positives, lowest-scoring false negatives.
    std::vector<std::size_t> fps, fns;
    for (std::size_t i : scored) {
      const bool predicted = system.scores[i] > system.threshold;
      if (predicted && data.rows[i].label == 0) fps.push_back(i);
      if (!predicted && data.rows[i].label == 1) fns.push_back(i);
    }
    std::stable_sort(fps.begin(), fps.end(),
                     [&](auto a, auto b) { return system.scores[a] > system.scores[b]; });
    std::stable_sort(fns.begin(), fns.end(),
                     [&](auto a, auto b) { return system.scores[a] < system.scores[b]; });
    ordered_json worst_fp = ordered_json::array(), worst_fn = ordered_json::array();
    for (std::size_t k = 0; k < fps.size() && k < options.worst; ++k) {
      worst_fp.push_back(mistake_json(data.rows[fps[k]], system.scores[fps[k]], options));
    }
    for (std::size_t k = 0; k < fns.size() && k < options.worst; ++k) {
      worst_fn.push_back(mistake_json(data.rows[fns[k]], system.scores[fns[k]], options));
    }
    s["worst"] = {{"false_positives", worst_fp}, {"false_negatives", worst_fn}};
    out_systems.push_back(s);
  }
  report["systems"] = out_systems;
  return report.dump(2, ' ', false, ordered_json::error_handler_t::replace);
}

}  // namespace refusal::eval
