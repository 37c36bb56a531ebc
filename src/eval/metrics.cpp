#include "eval/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "refusal/error.h"

namespace refusal::eval {
namespace {

void check(std::span<const double> scores, std::span<const int> labels) {
  if (scores.size() != labels.size()) {
    throw Error("metrics: " + std::to_string(scores.size()) + " scores but " +
                std::to_string(labels.size()) + " labels");
  }
  for (int l : labels) {
    if (l != 0 && l != 1) throw Error("metrics: label " + std::to_string(l) + " is not 0 or 1");
  }
  for (double s : scores) {
    if (std::isnan(s)) throw Error("metrics: a score is NaN");
  }
}

double ratio(double num, double den) { return den == 0.0 ? 0.0 : num / den; }

}  // namespace

Confusion confusion_at(std::span<const double> scores, std::span<const int> labels,
                       double threshold) {
  check(scores, labels);
  Confusion c;
  for (std::size_t i = 0; i < scores.size(); ++i) {
    const bool predicted = scores[i] > threshold;
    if (labels[i] == 1) {
      (predicted ? c.tp : c.fn) += 1;
    } else {
      (predicted ? c.fp : c.tn) += 1;
    }
  }
  return c;
}

ThresholdMetrics metrics_from(const Confusion& c, double threshold) {
  ThresholdMetrics m;
  m.threshold = threshold;
  m.confusion = c;
  const auto tp = static_cast<double>(c.tp), fp = static_cast<double>(c.fp),
             tn = static_cast<double>(c.tn), fn = static_cast<double>(c.fn);
  m.accuracy = ratio(tp + tn, tp + fp + tn + fn);
  m.precision = ratio(tp, tp + fp);
  m.recall = ratio(tp, tp + fn);
  m.f1 = ratio(2.0 * tp, 2.0 * tp + fp + fn);
  return m;
}

ThresholdMetrics metrics_at(std::span<const double> scores, std::span<const int> labels,
                            double threshold) {
  return metrics_from(confusion_at(scores, labels, threshold), threshold);
}

std::vector<CurvePoint> cumulative_counts(std::span<const double> scores,
                                          std::span<const int> labels) {
  check(scores, labels);
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
  std::vector<CurvePoint> points;
  std::size_t tp = 0, fp = 0;
  for (std::size_t k = 0; k < order.size(); ++k) {
    const std::size_t i = order[k];
    (labels[i] == 1 ? tp : fp) += 1;
    // A point where the next score differs (the last of a run of ties).
    if (k + 1 == order.size() || scores[order[k + 1]] != scores[i]) {
      points.push_back({scores[i], tp, fp});
    }
  }
  return points;
}

std::vector<RocPoint> roc_curve(std::span<const double> scores, std::span<const int> labels) {
  const auto counts = cumulative_counts(scores, labels);
  const double p = counts.empty() ? 0.0 : static_cast<double>(counts.back().tp);
  const double n = counts.empty() ? 0.0 : static_cast<double>(counts.back().fp);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<RocPoint> curve;
  curve.push_back({n > 0 ? 0.0 : nan, p > 0 ? 0.0 : nan});
  for (const auto& c : counts) {
    curve.push_back(
        {n > 0 ? static_cast<double>(c.fp) / n : nan, p > 0 ? static_cast<double>(c.tp) / p : nan});
  }
  return curve;
}

double roc_auc(std::span<const double> scores, std::span<const int> labels) {
  const auto curve = roc_curve(scores, labels);
  if (curve.size() < 2 || std::isnan(curve.back().fpr) || std::isnan(curve.back().tpr)) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  double area = 0.0;
  for (std::size_t i = 1; i < curve.size(); ++i) {
    area += (curve[i].fpr - curve[i - 1].fpr) * (curve[i].tpr + curve[i - 1].tpr) / 2.0;
  }
  return area;
}

std::vector<PrPoint> pr_curve(std::span<const double> scores, std::span<const int> labels) {
  const auto counts = cumulative_counts(scores, labels);
  const double p = counts.empty() ? 0.0 : static_cast<double>(counts.back().tp);
  std::vector<PrPoint> curve;
  for (const auto& c : counts) {
    const auto tp = static_cast<double>(c.tp);
    curve.push_back({p > 0 ? tp / p : 1.0, tp / (tp + static_cast<double>(c.fp))});
  }
  return curve;
}

double average_precision(std::span<const double> scores, std::span<const int> labels) {
  const auto curve = pr_curve(scores, labels);
  const bool any_positive = std::find(labels.begin(), labels.end(), 1) != labels.end();
  if (!any_positive) return 0.0;
  double ap = 0.0, previous_recall = 0.0;
  for (const auto& point : curve) {
    ap += (point.recall - previous_recall) * point.precision;
    previous_recall = point.recall;
  }
  return ap;
}

ThresholdMetrics best_f1(std::span<const double> scores, std::span<const int> labels) {
  const auto counts = cumulative_counts(scores, labels);
  if (counts.empty()) return metrics_from({}, 0.5);
  const std::size_t p = counts.back().tp, n = counts.back().fp;
  // k = 0: nothing predicted positive.
  Confusion best{0, 0, n, p};
  double best_f1_value = 0.0;
  std::size_t best_k = 0;
  for (std::size_t k = 0; k < counts.size(); ++k) {
    const Confusion c{counts[k].tp, counts[k].fp, n - counts[k].fp, p - counts[k].tp};
    const double f1 = metrics_from(c, 0.0).f1;
    if (f1 > best_f1_value) {
      best_f1_value = f1;
      best = c;
      best_k = k + 1;
    }
  }
  double threshold;
  if (best_k == 0) {
    threshold = counts.front().score;
  } else if (best_k == counts.size()) {
    const double low = counts.back().score;
    threshold = std::nextafter(low, -std::numeric_limits<double>::infinity());
    if (low > 0.0 && low <= 1.0) threshold = low / 2.0;
  } else {
    threshold = counts[best_k - 1].score / 2.0 + counts[best_k].score / 2.0;
    // Guard against rounding onto the upper score (adjacent doubles).
    if (!(threshold < counts[best_k - 1].score)) threshold = counts[best_k].score;
  }
  return metrics_from(best, threshold);
}

std::vector<std::size_t> histogram(std::span<const double> scores, std::size_t bins) {
  std::vector<std::size_t> counts(bins, 0);
  if (bins == 0) return counts;
  for (double s : scores) {
    const double x = std::floor(s * static_cast<double>(bins));
    std::size_t i = 0;
    if (x >= static_cast<double>(bins)) {
      i = bins - 1;
    } else if (x > 0.0) {
      i = static_cast<std::size_t>(x);
    }
    ++counts[i];
  }
  return counts;
}

}  // namespace refusal::eval
