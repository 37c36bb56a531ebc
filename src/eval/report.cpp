// render_html: evaluate()'s JSON as one self-contained HTML page (inline CSS, inline SVG charts
// drawn here; no scripts, no fonts or images fetched, viewable offline).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "refusal/error.h"
#include "refusal/eval.h"

namespace refusal::eval {
namespace {

using nlohmann::ordered_json;

const char* const kColors[] = {"#1f5fa8", "#d1495b", "#2e8b57", "#8e44ad", "#e08e0b"};
const char* color(std::size_t i) { return kColors[i % std::size(kColors)]; }

std::string esc(const std::string& s) { return html_escape(s); }
std::string esc(const ordered_json& j) {
  return j.is_string()
             ? html_escape(j.get<std::string>())
             : html_escape(j.dump(-1, ' ', false, ordered_json::error_handler_t::replace));
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// A metric value: 4 decimals, "n/a" for null (undefined).
std::string num(const ordered_json& j, int digits = 4) {
  if (!j.is_number()) return "n/a";
  if (j.is_number_integer() || j.is_number_unsigned()) return std::to_string(j.get<long long>());
  const double v = j.get<double>();
  if (std::isnan(v)) return "n/a";
  return fixed(v, digits);
}

// A threshold: enough digits to tell neighbouring scores apart.
std::string thr(const ordered_json& j) {
  if (!j.is_number()) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", j.get<double>());
  return buf;
}

const char* kCss = R"(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
  margin:0;color:#1d2330;background:#f6f7f9}
main{max-width:1200px;margin:0 auto;padding:20px 28px 60px}
h1{font-size:26px;margin:10px 0 4px}h2{font-size:20px;margin:34px 0 10px;border-bottom:2px solid #dde1e8;padding-bottom:4px}
h3{font-size:16px;margin:20px 0 8px}
.sub{color:#5b6474;margin:0 0 14px}
table{border-collapse:collapse;background:#fff;margin:6px 0 14px;font-variant-numeric:tabular-nums}
th,td{border:1px solid #dde1e8;padding:4px 9px;text-align:right}
th{background:#eef1f5;font-weight:600}td.l,th.l{text-align:left}td.sys{white-space:nowrap}
tr.best td{background:#fbfcfe;color:#38414f}
.cards{display:flex;flex-wrap:wrap;gap:18px}
.card{background:#fff;border:1px solid #dde1e8;border-radius:6px;padding:10px 14px}
.legend span{display:inline-block;margin-right:14px}
.sw{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:5px;vertical-align:-1px}
.cm td{min-width:70px}.cm .ok{background:#e3f2e8}.cm .bad{background:#fbe4e6}
.mistake{background:#fff;border:1px solid #dde1e8;border-left:4px solid #d1495b;border-radius:4px;margin:8px 0;padding:8px 12px}
.mistake.fn{border-left-color:#e08e0b}
.meta{color:#5b6474;font-size:12.5px}
.prompt{color:#38414f;font-size:13px;margin:4px 0}
.text{white-space:pre-wrap;word-wrap:break-word;font:12.5px/1.4 ui-monospace,Menlo,Consolas,monospace;
  background:#f8f9fb;border:1px solid #eceff3;padding:6px 8px;margin:4px 0 0;max-height:200px;overflow:auto}
.note{color:#5b6474;font-size:13px}
svg text{font:11px system-ui,sans-serif;fill:#38414f}
)";

struct Series {
  std::string name;
  std::string color;
  std::vector<std::pair<double, double>> points;
};

// A square plot of [0,1] x [0,1] with the given series as polylines.
std::string line_chart(const std::vector<Series>& series, const std::string& x_label,
                       const std::string& y_label, const std::string& title,
                       const std::vector<Series>& guides) {
  const double left = 48, top = 26, size = 330, right = 16, bottom = 44;
  const double w = left + size + right, h = top + size + bottom;
  auto X = [&](double x) { return fixed(left + x * size, 1); };
  auto Y = [&](double y) { return fixed(top + (1.0 - y) * size, 1); };
  std::string s = "<svg width=\"" + fixed(w, 0) + "\" height=\"" + fixed(h, 0) +
                  "\" viewBox=\"0 0 " + fixed(w, 0) + " " + fixed(h, 0) +
                  "\" role=\"img\" aria-label=\"" + esc(title) + "\">";
  s += "<text x=\"" + X(0.5) + "\" y=\"16\" text-anchor=\"middle\" font-weight=\"600\">" +
       esc(title) + "</text>";
  s += "<rect x=\"" + X(0) + "\" y=\"" + Y(1) + "\" width=\"" + fixed(size, 0) + "\" height=\"" +
       fixed(size, 0) + "\" fill=\"#fff\" stroke=\"#9aa3b2\"/>";
  for (int i = 0; i <= 10; ++i) {
    const double t = i / 10.0;
    if (i > 0 && i < 10) {
      s += "<line x1=\"" + X(t) + "\" y1=\"" + Y(0) + "\" x2=\"" + X(t) + "\" y2=\"" + Y(1) +
           "\" stroke=\"#eef1f5\"/>";
      s += "<line x1=\"" + X(0) + "\" y1=\"" + Y(t) + "\" x2=\"" + X(1) + "\" y2=\"" + Y(t) +
           "\" stroke=\"#eef1f5\"/>";
    }
    if (i % 2 == 0) {
      s += "<text x=\"" + X(t) + "\" y=\"" + fixed(top + size + 15, 1) +
           "\" text-anchor=\"middle\">" + fixed(t, 1) + "</text>";
      s += "<text x=\"" + fixed(left - 6, 1) + "\" y=\"" + fixed(top + (1 - t) * size + 4, 1) +
           "\" text-anchor=\"end\">" + fixed(t, 1) + "</text>";
    }
  }
  s += "<text x=\"" + X(0.5) + "\" y=\"" + fixed(h - 8, 1) + "\" text-anchor=\"middle\">" +
       esc(x_label) + "</text>";
  s += "<text transform=\"translate(13 " + Y(0.5) + ") rotate(-90)\" text-anchor=\"middle\">" +
       esc(y_label) + "</text>";
  auto polyline = [&](const Series& line, const std::string& extra) {
    std::string pts;
    for (const auto& [x, y] : line.points) {
      if (std::isnan(x) || std::isnan(y)) continue;
      pts += X(std::clamp(x, 0.0, 1.0)) + "," + Y(std::clamp(y, 0.0, 1.0)) + " ";
    }
    if (!pts.empty()) pts.pop_back();
    return "<polyline fill=\"none\" stroke=\"" + line.color + "\" " + extra + " points=\"" + pts +
           "\"><title>" + esc(line.name) + "</title></polyline>";
  };
  for (const auto& g : guides) s += polyline(g, "stroke-width=\"1\" stroke-dasharray=\"4 4\"");
  for (const auto& line : series) s += polyline(line, "stroke-width=\"2\"");
  s += "</svg>";
  return s;
}

// Bars per bin over [0,1]: normal answers (label 0) and refusals (label 1), side by side.
std::string histogram_chart(const ordered_json& hist, double threshold, const std::string& title) {
  const auto negative = hist.value("negative", std::vector<double>{});
  const auto positive = hist.value("positive", std::vector<double>{});
  const std::size_t bins = std::max(negative.size(), positive.size());
  double peak = 1;
  for (double v : negative) peak = std::max(peak, v);
  for (double v : positive) peak = std::max(peak, v);
  const double left = 48, top = 26, pw = 420, ph = 200, bottom = 44, right = 14;
  const double w = left + pw + right, h = top + ph + bottom;
  std::string s = "<svg width=\"" + fixed(w, 0) + "\" height=\"" + fixed(h, 0) +
                  "\" viewBox=\"0 0 " + fixed(w, 0) + " " + fixed(h, 0) +
                  "\" role=\"img\" aria-label=\"" + esc(title) + "\">";
  s += "<text x=\"" + fixed(left + pw / 2, 1) +
       "\" y=\"16\" text-anchor=\"middle\" font-weight=\"600\">" + esc(title) + "</text>";
  s += "<rect x=\"" + fixed(left, 1) + "\" y=\"" + fixed(top, 1) + "\" width=\"" + fixed(pw, 0) +
       "\" height=\"" + fixed(ph, 0) + "\" fill=\"#fff\" stroke=\"#9aa3b2\"/>";
  for (int i = 0; i <= 4; ++i) {
    const double v = peak * i / 4.0;
    const double y = top + ph - ph * i / 4.0;
    s += "<text x=\"" + fixed(left - 6, 1) + "\" y=\"" + fixed(y + 4, 1) +
         "\" text-anchor=\"end\">" + fixed(v, 0) + "</text>";
  }
  for (int i = 0; i <= 10; i += 2) {
    s += "<text x=\"" + fixed(left + pw * i / 10.0, 1) + "\" y=\"" + fixed(top + ph + 15, 1) +
         "\" text-anchor=\"middle\">" + fixed(i / 10.0, 1) + "</text>";
  }
  s += "<text x=\"" + fixed(left + pw / 2, 1) + "\" y=\"" + fixed(h - 8, 1) +
       "\" text-anchor=\"middle\">score</text>";
  s += "<text transform=\"translate(13 " + fixed(top + ph / 2, 1) +
       ") rotate(-90)\" text-anchor=\"middle\">rows</text>";
  if (bins > 0) {
    const double bw = pw / static_cast<double>(bins);
    for (std::size_t b = 0; b < bins; ++b) {
      const double counts[2] = {b < negative.size() ? negative[b] : 0,
                                b < positive.size() ? positive[b] : 0};
      for (int c = 0; c < 2; ++c) {
        const double bh = ph * counts[c] / peak;
        const double x = left + bw * static_cast<double>(b) + 1 + c * (bw - 2) / 2;
        s += "<rect x=\"" + fixed(x, 1) + "\" y=\"" + fixed(top + ph - bh, 1) + "\" width=\"" +
             fixed((bw - 2) / 2, 1) + "\" height=\"" + fixed(bh, 1) + "\" fill=\"" +
             (c == 0 ? "#6c8ebf" : "#d1495b") + "\"><title>" + (c == 0 ? "normal" : "refusal") +
             " " + fixed(static_cast<double>(b) / static_cast<double>(bins), 2) + "–" +
             fixed(static_cast<double>(b + 1) / static_cast<double>(bins), 2) + ": " +
             fixed(counts[c], 0) + "</title></rect>";
      }
    }
  }
  if (threshold >= 0 && threshold <= 1) {
    const double x = left + pw * threshold;
    s += "<line x1=\"" + fixed(x, 1) + "\" y1=\"" + fixed(top, 1) + "\" x2=\"" + fixed(x, 1) +
         "\" y2=\"" + fixed(top + ph, 1) + "\" stroke=\"#1d2330\" stroke-dasharray=\"3 3\"/>";
  }
  s += "</svg>";
  return s;
}

std::string metric_cells(const ordered_json& m) {
  std::string s;
  for (const char* k : {"accuracy", "precision", "recall", "f1"}) {
    s += "<td>" + num(m.value(k, ordered_json())) + "</td>";
  }
  for (const char* k : {"tp", "fp", "tn", "fn"})
    s += "<td>" + num(m.value(k, ordered_json())) + "</td>";
  return s;
}

// A breakdown table: one row per (group, system).
std::string group_table(const ordered_json& systems, const std::string& key,
                        const std::string& first_header, bool with_description) {
  std::string s = "<table><thead><tr><th class=\"l\">" + esc(first_header) +
                  "</th><th class=\"l\">system</th><th>rows</th><th>refusals</th>"
                  "<th>accuracy</th><th>precision</th><th>recall</th><th>F1</th>"
                  "<th>TP</th><th>FP</th><th>TN</th><th>FN</th><th>ROC-AUC</th><th>PR-AUC</th>"
                  "<th>best-F1</th></tr></thead><tbody>";
  if (systems.empty()) return s + "</tbody></table>";
  const auto& first = systems[0][key];
  for (std::size_t g = 0; g < first.size(); ++g) {
    // A subset that leaves nothing out (no row carries that flag) repeats "all": left out.
    if (with_description && g > 0 && first[g]["rows"] == first[0]["rows"]) continue;
    for (std::size_t i = 0; i < systems.size(); ++i) {
      const auto& groups = systems[i][key];
      if (g >= groups.size()) continue;
      const auto& b = groups[g];
      s += "<tr><td class=\"l\">";
      if (i == 0) {
        s += esc(b.value("name", ""));
        if (with_description) {
          s += "<br><span class=\"meta\">" + esc(b.value("description", "")) + "</span>";
        }
      }
      s += "</td><td class=\"l sys\"><span class=\"sw\" style=\"background:" +
           std::string(color(i)) + "\"></span>" + esc(systems[i].value("name", "")) + "</td>";
      s += "<td>" + num(b["rows"]) + "</td><td>" + num(b["positives"]) + "</td>";
      s += metric_cells(b["at_threshold"]);
      s += "<td>" + num(b["roc_auc"]) + "</td><td>" + num(b["pr_auc"]) + "</td>";
      s += "<td>" + num(b["at_best_f1"]["f1"]) + "</td></tr>";
    }
  }
  return s + "</tbody></table>";
}

std::string mistakes(const ordered_json& list, bool false_negative) {
  if (list.empty()) return "<p class=\"note\">None.</p>";
  std::string s;
  std::size_t rank = 0;
  for (const auto& m : list) {
    ++rank;
    s += std::string("<div class=\"mistake") + (false_negative ? " fn" : "") + "\">";
    s += "<div class=\"meta\"><b>#" + std::to_string(rank) + "</b> score <b>" + num(m["score"]) +
         "</b> · true label " + num(m["label"]) + " (" +
         (m.value("label", 0) == 1 ? "refusal" : "normal") + ") · " + esc(m.value("source", "")) +
         " · " + esc(m.value("model", "")) + " · " + esc(m.value("file", "")) + ":" +
         num(m["line"]);
    for (const auto& f : m.value("flags", ordered_json::array())) s += " · <i>" + esc(f) + "</i>";
    s += "</div>";
    const std::string prompt = m.value("prompt", "");
    if (!prompt.empty()) s += "<div class=\"prompt\"><b>Prompt:</b> " + esc(prompt) + "</div>";
    s += "<div class=\"text\">" + esc(m.value("text", ""));
    if (m.value("text_cut", false)) {
      s += "\n[… cut: " + num(m["text_chars"]) + " characters in all]";
    }
    s += "</div></div>";
  }
  return s;
}

}  // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string render_html(std::string_view report_json) {
  const ordered_json report = [&] {
    try {
      return ordered_json::parse(report_json);
    } catch (const nlohmann::json::parse_error& e) {
      throw Error(std::string("evaluation report: not JSON: ") + e.what());
    }
  }();
  const auto& systems = report.contains("systems") ? report["systems"] : ordered_json::array();
  const auto& data = report.value("data", ordered_json::object());
  const auto& run = report.value("run", ordered_json::object());
  std::string h =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      "<title>refusal eval report</title><style>";
  h += kCss;
  h += "</style></head><body><main>";
  h += "<h1>Refusal classifier evaluation</h1><p class=\"sub\">" +
       esc(report.value("tool", "refusal eval")) + " " + esc(report.value("version", "")) + "</p>";
  if (run.contains("note")) h += "<p class=\"note\"><b>" + esc(run["note"]) + "</b></p>";

  // The run and the data.
  h += "<div class=\"cards\"><div class=\"card\"><h3>Run</h3><table><tbody>";
  for (const auto& [k, v] : run.items()) {
    if (k == "note") continue;
    h += "<tr><th class=\"l\">" + esc(k) + "</th><td class=\"l\">" + esc(v) + "</td></tr>";
  }
  h += "</tbody></table></div><div class=\"card\"><h3>Data</h3><table><thead><tr>"
       "<th class=\"l\">file</th><th>rows read</th><th>labelled</th></tr></thead><tbody>";
  for (const auto& f : data.value("files", ordered_json::array())) {
    h += "<tr><td class=\"l\">" + esc(f.value("file", "")) + "</td><td>" + num(f["rows"]) +
         "</td><td>" + num(f["labelled"]) + "</td></tr>";
  }
  h += "</tbody></table><table><tbody>";
  h += "<tr><th class=\"l\">labelled rows</th><td>" + num(data.value("rows_labelled", 0)) +
       "</td></tr><tr><th class=\"l\">refusals (1) / normal (0)</th><td>" +
       num(data.value("positives", 0)) + " / " + num(data.value("negatives", 0)) + "</td></tr>";
  h += "<tr><th class=\"l\">flagged partial / soft refusals</th><td>" +
       num(data.value("partial_refusal", 0)) + " / " + num(data.value("soft_refusal", 0)) +
       "</td></tr>";
  const auto skipped = data.value("skipped", ordered_json::object());
  for (const auto& [k, v] : skipped.items()) {
    h += "<tr><th class=\"l\">skipped: " + esc(k) + "</th><td>" + num(v) + "</td></tr>";
  }
  h += "</tbody></table>";
  const auto skipped_rows = data.value("skipped_rows", ordered_json::array());
  if (!skipped_rows.empty()) {
    h += "<details><summary>skipped rows (first " + std::to_string(skipped_rows.size()) +
         ")</summary><ul>";
    for (const auto& r : skipped_rows) {
      h += "<li>" + esc(r.value("file", "")) + ":" + num(r["line"]) + " — " +
           esc(r.value("reason", "")) + "</li>";
    }
    h += "</ul></details>";
  }
  h += "</div></div>";

  // Summary.
  h += "<h2 id=\"summary\">Summary</h2><p class=\"note\">A row is called a refusal when its "
       "score &gt; threshold. 0/0 counts as 0. ROC-AUC and PR-AUC (average precision) do not "
       "depend on the threshold. The best-F1 threshold is chosen on this same data, so its F1 "
       "is optimistic.</p>";
  h += "<table><thead><tr><th class=\"l\">system</th><th class=\"l\">at</th><th>threshold</th>"
       "<th>accuracy</th><th>precision</th><th>recall</th><th>F1</th><th>TP</th><th>FP</th>"
       "<th>TN</th><th>FN</th><th>ROC-AUC</th><th>PR-AUC</th><th>rows</th></tr></thead><tbody>";
  for (std::size_t i = 0; i < systems.size(); ++i) {
    const auto& s = systems[i];
    const auto& o = s["overall"];
    for (const char* at : {"at_threshold", "at_best_f1"}) {
      const bool best = std::string(at) == "at_best_f1";
      h += std::string("<tr") + (best ? " class=\"best\"" : "") + "><td class=\"l\">";
      if (!best) {
        h += "<span class=\"sw\" style=\"background:" + std::string(color(i)) + "\"></span><b>" +
             esc(s.value("name", "")) + "</b><br><span class=\"meta\">" +
             esc(s.value("description", "")) + "</span>";
      }
      h += std::string("</td><td class=\"l\">") + (best ? "best F1" : "chosen") + "</td><td>" +
           thr(o[at]["threshold"]) + "</td>" + metric_cells(o[at]);
      h +=
          "<td>" + num(o["roc_auc"]) + "</td><td>" + num(o["pr_auc"]) + "</td><td>" +
          num(o["rows"]) +
          (s.value("unscored", 0) > 0 ? " (+" + num(s["unscored"]) + " unscored)" : std::string()) +
          "</td></tr>";
    }
  }
  h += "</tbody></table>";

  // Confusion matrices.
  h += "<h3>Confusion matrices at the chosen threshold</h3><div class=\"cards\">";
  for (std::size_t i = 0; i < systems.size(); ++i) {
    const auto& m = systems[i]["overall"]["at_threshold"];
    h += "<div class=\"card\"><b>" + esc(systems[i].value("name", "")) + "</b> (score &gt; " +
         thr(m["threshold"]) +
         ")<table class=\"cm\"><thead><tr><th></th><th>predicted refusal"
         "</th><th>predicted normal</th></tr></thead><tbody><tr><th class=\"l\">refusal (1)</th>"
         "<td class=\"ok\">TP " +
         num(m["tp"]) + "</td><td class=\"bad\">FN " + num(m["fn"]) +
         "</td></tr><tr><th class=\"l\">normal (0)</th><td class=\"bad\">FP " + num(m["fp"]) +
         "</td><td class=\"ok\">TN " + num(m["tn"]) + "</td></tr></tbody></table></div>";
  }
  h += "</div>";

  // Curves.
  std::vector<Series> roc, pr;
  double prevalence = 0.0;
  for (std::size_t i = 0; i < systems.size(); ++i) {
    const auto& s = systems[i];
    Series r{s.value("name", "") + " (ROC-AUC " + num(s["overall"]["roc_auc"]) + ")", color(i), {}};
    for (const auto& p : s["curves"]["roc"]) {
      r.points.emplace_back(p[0].is_number() ? p[0].get<double>() : NAN,
                            p[1].is_number() ? p[1].get<double>() : NAN);
    }
    Series q{s.value("name", "") + " (PR-AUC " + num(s["overall"]["pr_auc"]) + ")", color(i), {}};
    // Drawn as the step function whose area is the average precision: precision P_k over
    // recall (R_{k-1}, R_k], from recall 0.
    double previous_recall = 0.0;
    for (const auto& p : s["curves"]["pr"]) {
      if (!p[0].is_number() || !p[1].is_number()) continue;
      const double recall = p[0].get<double>(), precision = p[1].get<double>();
      q.points.emplace_back(previous_recall, precision);
      q.points.emplace_back(recall, precision);
      previous_recall = recall;
    }
    roc.push_back(std::move(r));
    pr.push_back(std::move(q));
    const double rows = s["overall"].value("rows", 0.0);
    if (i == 0 && rows > 0) prevalence = s["overall"].value("positives", 0.0) / rows;
  }
  h += "<h2 id=\"curves\">ROC and precision-recall curves</h2><div class=\"legend\">";
  for (std::size_t i = 0; i < systems.size(); ++i) {
    h += "<span><span class=\"sw\" style=\"background:" + std::string(color(i)) + "\"></span>" +
         esc(systems[i].value("name", "")) + " (ROC-AUC " + num(systems[i]["overall"]["roc_auc"]) +
         ", PR-AUC " + num(systems[i]["overall"]["pr_auc"]) + ")</span>";
  }
  h += "</div><div class=\"cards\"><div class=\"card\">";
  h += line_chart(roc, "false positive rate", "true positive rate", "ROC curve",
                  {Series{"chance", "#9aa3b2", {{0, 0}, {1, 1}}}});
  h += "</div><div class=\"card\">";
  h += line_chart(
      pr, "recall", "precision", "Precision-recall curve",
      {Series{
          "prevalence " + fixed(prevalence, 3), "#9aa3b2", {{0, prevalence}, {1, prevalence}}}});
  h += "</div></div>";

  // Histograms.
  h += "<h2 id=\"histograms\">Score histograms per true class</h2><p class=\"legend\"><span>"
       "<span class=\"sw\" style=\"background:#6c8ebf\"></span>normal (label 0)</span><span>"
       "<span class=\"sw\" style=\"background:#d1495b\"></span>refusal (label 1)</span>"
       "<span>dashed: the chosen threshold</span></p><div class=\"cards\">";
  for (const auto& s : systems) {
    h += "<div class=\"card\">" +
         histogram_chart(s["histogram"], s.value("threshold", 0.5), s.value("name", "")) + "</div>";
  }
  h += "</div>";

  // Breakdowns.
  h += "<h2 id=\"by-source\">By source</h2>" + group_table(systems, "by_source", "source", false);
  h += "<h2 id=\"by-model\">By answering model</h2>" +
       group_table(systems, "by_model", "model", false);
  // One section per --group-by field: each system's groups of that field under one key.
  const std::size_t fields =
      systems.empty() ? 0 : systems[0].value("by_field", ordered_json::array()).size();
  for (std::size_t f = 0; f < fields; ++f) {
    ordered_json view = ordered_json::array();
    for (const auto& sys : systems) {
      view.push_back({{"name", sys.value("name", "")}, {"groups", sys["by_field"][f]["groups"]}});
    }
    const std::string field = systems[0]["by_field"][f].value("field", "");
    h += "<h2 id=\"by-field-" + esc(field) + "\">By " + esc(field) + "</h2>" +
         group_table(view, "groups", field, false);
  }
  h += "<h2 id=\"flagged\">With and without partial / soft refusals</h2><p class=\"note\">Rows "
       "flagged <code>meta.partial_refusal</code> or <code>meta.soft_refusal</code> are labelled "
       "1; the last rows show how many of them each system catches (recall). A subset that leaves "
       "out nothing repeats <i>all</i> and is not shown (the JSON has every subset).</p>" +
       group_table(systems, "subsets", "rows", true);

  // Worst mistakes.
  h += "<h2 id=\"mistakes\">Worst mistakes</h2><p class=\"note\">Highest-scoring false "
       "positives and lowest-scoring false negatives at the chosen threshold.</p>";
  for (const auto& s : systems) {
    h += "<h3>" + esc(s.value("name", "")) +
         ": false positives (normal answers called "
         "refusals)</h3>" +
         mistakes(s["worst"]["false_positives"], false);
    h += "<h3>" + esc(s.value("name", "")) + ": false negatives (refusals missed)</h3>" +
         mistakes(s["worst"]["false_negatives"], true);
  }
  h += "</main></body></html>\n";
  return h;
}

}  // namespace refusal::eval
