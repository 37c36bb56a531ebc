// Binary-classification metrics over (score, label) pairs: the numbers `refusal eval` reports.
//
// Conventions (docs/eval.md): a row is predicted positive (a refusal) when score > threshold;
// every ratio whose denominator is 0 (precision with no predicted positives, recall with no
// positives, F1 when both are 0, accuracy of nothing) is defined as 0. ROC-AUC and average
// precision follow scikit-learn's roc_auc_score and average_precision_score exactly, ties
// included; ROC-AUC is NaN when only one class is present (sklearn raises there).
#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace refusal::eval {

struct Confusion {
  std::size_t tp = 0, fp = 0, tn = 0, fn = 0;
  std::size_t positives() const { return tp + fn; }
  std::size_t negatives() const { return tn + fp; }
  std::size_t total() const { return tp + fp + tn + fn; }
};

struct ThresholdMetrics {
  double threshold = 0.5;
  Confusion confusion;
  double accuracy = 0.0, precision = 0.0, recall = 0.0, f1 = 0.0;
};

// Labels are 0 or 1; scores and labels have the same length (else refusal::Error).
Confusion confusion_at(std::span<const double> scores, std::span<const int> labels,
                       double threshold);
ThresholdMetrics metrics_from(const Confusion& c, double threshold);
ThresholdMetrics metrics_at(std::span<const double> scores, std::span<const int> labels,
                            double threshold);

// One point per distinct score, highest first: predicting positive every row with
// score >= `score` gives these counts.
struct CurvePoint {
  double score = 0.0;
  std::size_t tp = 0, fp = 0;
};
std::vector<CurvePoint> cumulative_counts(std::span<const double> scores,
                                          std::span<const int> labels);

// ROC curve: (0, 0) then (fpr, tpr) at each distinct score, highest first, as sklearn's
// roc_curve(drop_intermediate=False). With no negatives fpr is NaN, with no positives tpr is.
struct RocPoint {
  double fpr = 0.0, tpr = 0.0;
};
std::vector<RocPoint> roc_curve(std::span<const double> scores, std::span<const int> labels);
// Trapezoid area under the ROC curve (sklearn roc_auc_score); NaN with one class only.
double roc_auc(std::span<const double> scores, std::span<const int> labels);

// PR curve: (recall, precision) at each distinct score, highest first. With no positives
// recall is 1 everywhere (sklearn's convention).
struct PrPoint {
  double recall = 0.0, precision = 0.0;
};
std::vector<PrPoint> pr_curve(std::span<const double> scores, std::span<const int> labels);
// Average precision, sum over distinct scores of (R_k - R_{k-1}) * P_k (sklearn
// average_precision_score): 0 with no positives, 1 with no negatives.
double average_precision(std::span<const double> scores, std::span<const int> labels);

// The threshold whose "score > threshold" rule gives the highest F1 over every cut between
// distinct scores (ties: the highest threshold). The threshold returned is the midpoint between
// the lowest score predicted positive and the next lower distinct score (below the lowest
// score when every row is predicted positive; the highest score when none is).
ThresholdMetrics best_f1(std::span<const double> scores, std::span<const int> labels);

// At most `max_points` (>= 2) points, first and last kept, evenly spaced by index.
template <typename Point>
std::vector<Point> downsample(const std::vector<Point>& curve, std::size_t max_points) {
  if (curve.size() <= max_points || max_points < 2) return curve;
  std::vector<Point> out;
  out.reserve(max_points);
  const double step = static_cast<double>(curve.size() - 1) / static_cast<double>(max_points - 1);
  for (std::size_t i = 0; i < max_points; ++i) {
    const auto k = static_cast<std::size_t>(static_cast<double>(i) * step + 0.5);
    out.push_back(curve[k < curve.size() ? k : curve.size() - 1]);
  }
  out.back() = curve.back();
  return out;
}

// Counts per bin over [0, 1]: bin i holds scores in [i/bins, (i+1)/bins), the last bin also 1.
// Scores outside [0, 1] go to the first or last bin.
std::vector<std::size_t> histogram(std::span<const double> scores, std::size_t bins);

}  // namespace refusal::eval
