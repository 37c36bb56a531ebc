// src/eval/metrics against scikit-learn (tests/data/eval/metrics.json, made by
// scripts/vectors/make_eval_vectors.py), and the conventions sklearn does not decide.
#include "eval/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "refusal/error.h"
#include "test_support.h"

namespace refusal::eval {
namespace {

using nlohmann::json;

constexpr double kTol = 1e-12;

TEST(EvalMetrics, MatchSklearnOnEveryVector) {
  const json vectors = testing::read_json("tests/data/eval/metrics.json");
  ASSERT_GE(vectors["cases"].size(), 20u);
  for (const auto& c : vectors["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const auto scores = c["scores"].get<std::vector<double>>();
    const auto labels = c["labels"].get<std::vector<int>>();
    for (const auto& at : c["at"]) {
      const double t = at["threshold"];
      SCOPED_TRACE("threshold " + std::to_string(t));
      const auto m = metrics_at(scores, labels, t);
      EXPECT_EQ(m.confusion.tp, at["tp"].get<std::size_t>());
      EXPECT_EQ(m.confusion.fp, at["fp"].get<std::size_t>());
      EXPECT_EQ(m.confusion.tn, at["tn"].get<std::size_t>());
      EXPECT_EQ(m.confusion.fn, at["fn"].get<std::size_t>());
      EXPECT_NEAR(m.accuracy, at["accuracy"].get<double>(), kTol);
      EXPECT_NEAR(m.precision, at["precision"].get<double>(), kTol);
      EXPECT_NEAR(m.recall, at["recall"].get<double>(), kTol);
      EXPECT_NEAR(m.f1, at["f1"].get<double>(), kTol);
    }
    if (c["roc_auc"].is_null()) {
      EXPECT_TRUE(std::isnan(roc_auc(scores, labels)));
    } else {
      EXPECT_NEAR(roc_auc(scores, labels), c["roc_auc"].get<double>(), kTol);
      const auto curve = roc_curve(scores, labels);
      ASSERT_EQ(curve.size(), c["roc_curve"].size());
      for (std::size_t i = 0; i < curve.size(); ++i) {
        EXPECT_NEAR(curve[i].fpr, c["roc_curve"][i][0].get<double>(), kTol) << i;
        EXPECT_NEAR(curve[i].tpr, c["roc_curve"][i][1].get<double>(), kTol) << i;
      }
    }
    EXPECT_NEAR(average_precision(scores, labels), c["average_precision"].get<double>(), kTol);
    const auto best = best_f1(scores, labels);
    EXPECT_NEAR(best.f1, c["best_f1"].get<double>(), kTol);
    // The threshold reported reproduces that F1 under the score > threshold rule.
    const auto again = metrics_at(scores, labels, best.threshold);
    EXPECT_NEAR(again.f1, best.f1, kTol);
    EXPECT_EQ(again.confusion.tp, best.confusion.tp);
    EXPECT_EQ(again.confusion.fp, best.confusion.fp);
  }
}

TEST(EvalMetrics, ZeroOverZeroIsZero) {
  // Nothing predicted positive, no positives at all.
  const std::vector<double> scores = {0.1, 0.2};
  const std::vector<int> labels = {0, 0};
  const auto m = metrics_at(scores, labels, 0.5);
  EXPECT_EQ(m.precision, 0.0);
  EXPECT_EQ(m.recall, 0.0);
  EXPECT_EQ(m.f1, 0.0);
  EXPECT_EQ(m.accuracy, 1.0);
  const auto empty = metrics_at({}, {}, 0.5);
  EXPECT_EQ(empty.accuracy, 0.0);
  EXPECT_TRUE(std::isnan(roc_auc({}, {})));
  EXPECT_EQ(average_precision({}, {}), 0.0);
}

TEST(EvalMetrics, ScoreEqualToTheThresholdIsNegative) {
  const std::vector<double> scores = {0.5, 0.5000001};
  const std::vector<int> labels = {1, 1};
  const auto c = confusion_at(scores, labels, 0.5);
  EXPECT_EQ(c.fn, 1u);
  EXPECT_EQ(c.tp, 1u);
}

TEST(EvalMetrics, BestF1ThresholdSitsBetweenScores) {
  const std::vector<double> scores = {0.9, 0.8, 0.3, 0.2};
  const std::vector<int> labels = {1, 1, 0, 0};
  const auto best = best_f1(scores, labels);
  EXPECT_EQ(best.f1, 1.0);
  EXPECT_NEAR(best.threshold, 0.55, 1e-15);
  // Everything positive: below the lowest score.
  const auto all = best_f1(std::vector<double>{0.4, 0.6}, std::vector<int>{1, 1});
  EXPECT_EQ(all.confusion.tp, 2u);
  EXPECT_LT(all.threshold, 0.4);
}

TEST(EvalMetrics, RejectsBadInput) {
  EXPECT_THROW(metrics_at(std::vector<double>{0.1}, std::vector<int>{}, 0.5), Error);
  EXPECT_THROW(metrics_at(std::vector<double>{0.1}, std::vector<int>{2}, 0.5), Error);
  EXPECT_THROW(roc_auc(std::vector<double>{NAN, 0.1}, std::vector<int>{0, 1}), Error);
}

TEST(EvalMetrics, HistogramAndDownsample) {
  const std::vector<double> scores = {0.0, 0.05, 0.1, 0.5, 0.99, 1.0, -0.1, 1.5};
  const auto h = histogram(scores, 10);
  ASSERT_EQ(h.size(), 10u);
  EXPECT_EQ(h[0], 3u);  // 0.0, 0.05, -0.1
  EXPECT_EQ(h[1], 1u);
  EXPECT_EQ(h[5], 1u);
  EXPECT_EQ(h[9], 3u);  // 0.99, 1.0, 1.5
  std::vector<RocPoint> curve;
  for (int i = 0; i <= 1000; ++i) curve.push_back({i / 1000.0, i / 1000.0});
  const auto small = downsample(curve, 50);
  ASSERT_EQ(small.size(), 50u);
  EXPECT_EQ(small.front().fpr, 0.0);
  EXPECT_EQ(small.back().fpr, 1.0);
  for (std::size_t i = 1; i < small.size(); ++i) EXPECT_GT(small[i].fpr, small[i - 1].fpr);
  EXPECT_EQ(downsample(curve, 5000).size(), curve.size());
}

}  // namespace
}  // namespace refusal::eval
