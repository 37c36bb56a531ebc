// refusal::Classifier in LLM Guard mode against the real llm-guard 0.3.16 NoRefusal scanner
// (tests/data/scan/llmguard-norefusal.jsonl.gz, made by
// scripts/vectors/make_llmguard_scan_vectors.py on tests/data/models/random-roberta-tok): is_valid,
// risk_score (bit for bit, sign of zero included), the score that decided, and in sentence mode the
// sentences fed to the model. The vectors name each text by the shared data's file and line: eval/
// texts are read from the repository's copy of that file (data/eval/), the sampled train/ texts
// from llmguard-norefusal.texts.jsonl.gz, the hand-written ones from the vector file itself.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "refusal/classifier.h"
#include "refusal/scanner_rules.h"
#include "scan/no_refusal.h"
#include "scan/python_emulation.h"
#include "test_support.h"

namespace refusal {
namespace {

const std::string kModel = "tests/data/models/random-roberta-tok";
const std::string kVectors = "tests/data/scan/llmguard-norefusal.jsonl.gz";
const std::string kTrainTexts = "tests/data/scan/llmguard-norefusal.texts.jsonl.gz";

struct Row {
  std::size_t index = 0;
  std::string match;
  double threshold = 0.0;
  bool is_valid = true;
  std::string risk_repr;
  bool model_ran = false;
  std::vector<std::pair<std::string, double>> pipeline;  // per model input: label, score
  std::vector<std::string> sentences;
};

struct Vectors {
  std::vector<std::string> texts;                                   // by text index
  std::map<std::pair<std::string, double>, std::vector<Row>> runs;  // (match, threshold)
};

Vectors load_vectors() {
  Vectors v;
  // text index -> (file, line, bytes) for the texts of the shared data
  std::map<std::string, std::map<std::size_t, std::pair<std::size_t, std::size_t>>> wanted;
  std::map<std::size_t, std::string> hand;
  std::size_t max_index = 0;
  testing::for_each_line(kVectors, [&](std::size_t, const std::string& line) {
    const auto j = nlohmann::json::parse(line);
    Row r;
    r.index = j.at("i").get<std::size_t>();
    r.match = j.at("match").get<std::string>();
    r.threshold = j.at("threshold").get<double>();
    r.is_valid = j.at("is_valid").get<bool>();
    r.risk_repr = j.at("risk_repr").get<std::string>();
    r.model_ran = j.at("model_ran").get<bool>();
    for (const auto& p : j.at("pipeline")) {
      r.pipeline.emplace_back(p.at(0).get<std::string>(), p.at(1).get<double>());
    }
    if (j.contains("sentences")) r.sentences = j.at("sentences").get<std::vector<std::string>>();
    const auto file = j.at("file").get<std::string>();
    if (file == "hand") {
      hand[r.index] = j.at("text").get<std::string>();
    } else {
      wanted[file][j.at("line").get<std::size_t>()] = {r.index,
                                                       j.at("text_bytes").get<std::size_t>()};
    }
    max_index = std::max(max_index, r.index);
    v.runs[{r.match, r.threshold}].push_back(std::move(r));
  });
  v.texts.resize(max_index + 1);
  std::vector<bool> have(max_index + 1, false);
  for (auto& [i, t] : hand) v.texts[i] = std::move(t), have[i] = true;
  // Each wanted text by the shared data's file and 0-based line.
  auto take = [&](const std::string& file, std::size_t line, std::string text) {
    const auto f = wanted.find(file);
    if (f == wanted.end()) return;
    const auto it = f->second.find(line);
    if (it == f->second.end()) return;
    if (text.size() != it->second.second) {
      throw std::runtime_error(file + " line " + std::to_string(line) +
                               ": text length differs from the vector file's; rerun "
                               "scripts/vectors/make_llmguard_scan_vectors.py");
    }
    v.texts[it->second.first] = std::move(text);
    have[it->second.first] = true;
  };
  for (const auto& entry : wanted) {
    const std::string& file = entry.first;
    if (!file.starts_with("eval/")) continue;
    testing::for_each_line("data/" + file, [&](std::size_t number, const std::string& line) {
      take(file, number - 1, nlohmann::json::parse(line).at("text").get<std::string>());
    });
  }
  for (const auto& j : testing::read_jsonl(kTrainTexts)) {
    take(j.at("file").get<std::string>(), j.at("line").get<std::size_t>(),
         j.at("text").get<std::string>());
  }
  for (std::size_t i = 0; i < have.size(); ++i) {
    if (!have[i]) throw std::runtime_error("text " + std::to_string(i) + " not found");
  }
  return v;
}

const Vectors& vectors() {
  static const Vectors v = load_vectors();
  return v;
}

std::uint64_t bits(double x) { return std::bit_cast<std::uint64_t>(x); }

// What NoRefusal.scan's decision makes of the recorded pipeline outputs: the score it keeps
// (first over the threshold, else the highest), computed with the project's rules.
double expected_score(const Row& r) {
  std::vector<SegmentScore> s;
  for (const auto& [label, score] : r.pipeline) s.push_back({label, score});
  const auto d = no_refusal_decision(s, r.threshold);
  return d.is_valid ? d.highest_score : d.scores[*d.deciding_segment];
}

struct Tally {
  std::size_t texts = 0, invalid = 0, negative_zero = 0, long_texts = 0, model_inputs = 0;
  std::size_t is_valid_mismatch = 0, risk_mismatch = 0, score_mismatch = 0;
  std::size_t sentence_mismatch = 0, segment_count_mismatch = 0, label_mismatch = 0;
  double worst_probability = 0.0;  // |engine probability - pipeline score|, deciding input
};

Tally run(MatchMode mode, const std::string& match, double threshold) {
  const auto& v = vectors();
  const auto it = v.runs.find({match, threshold});
  if (it == v.runs.end()) throw std::runtime_error("no vectors for " + match);
  const auto& rows = it->second;
  const Classifier classifier = Classifier::load(
      kModel, {.threads = 2},
      {.preset = Preset::kLlmGuard, .match = mode, .max_length = 128, .threshold = threshold});
  std::vector<std::string_view> views;
  for (const auto& r : rows) views.push_back(v.texts.at(r.index));
  const auto verdicts = classifier.classify(views);
  const PunktParameters punkt = load_punkt_parameters("data/punkt_tab/english");

  Tally t;
  for (std::size_t k = 0; k < rows.size(); ++k) {
    const Row& r = rows[k];
    const Verdict& got = verdicts[k];
    const std::string where =
        match + "@" + std::to_string(threshold) + " text " + std::to_string(r.index);
    ++t.texts;
    t.invalid += !r.is_valid;
    t.model_inputs += r.pipeline.size();
    const double want_risk = std::strtod(r.risk_repr.c_str(), nullptr);
    t.negative_zero += r.risk_repr == "-0.0";
    t.long_texts += got.truncated;

    if (got.is_valid != r.is_valid) {
      ++t.is_valid_mismatch;
      ADD_FAILURE() << where << ": is_valid " << got.is_valid << ", llm-guard " << r.is_valid;
    }
    if (bits(got.risk_score) != bits(want_risk) ||
        std::signbit(got.risk_score) != std::signbit(want_risk) ||
        format_python_float(got.risk_score) != r.risk_repr) {
      ++t.risk_mismatch;
      ADD_FAILURE() << where << ": risk " << format_python_float(got.risk_score) << ", llm-guard "
                    << r.risk_repr;
    }
    if (got.windows != r.pipeline.size()) {
      ++t.segment_count_mismatch;
      ADD_FAILURE() << where << ": " << got.windows << " model inputs, llm-guard "
                    << r.pipeline.size();
      continue;
    }
    if (r.model_ran) {
      const double want_score = expected_score(r);
      if (bits(got.score) != bits(want_score)) {
        ++t.score_mismatch;
        ADD_FAILURE() << where << ": score " << got.score << ", llm-guard " << want_score;
      }
      // The deciding input's probability against the pipeline's (when one decided).
      if (!got.scores.empty() && got.tokens > 0) {
        const std::size_t seg = mode == MatchMode::kSentence ? got.evidence.segment : 0;
        const auto& [label, score] = r.pipeline.at(seg);
        const std::size_t top = label == "REJECTION" ? 1 : 0;
        if (got.label != label) ++t.label_mismatch;
        t.worst_probability =
            std::max(t.worst_probability, std::abs(static_cast<double>(got.scores[top]) - score));
      }
    }
    if (mode == MatchMode::kSentence) {
      std::vector<std::string> mine;
      for (const auto& s : split_sentences(v.texts[r.index], punkt)) mine.push_back(s.text);
      if (mine != r.sentences) {
        ++t.sentence_mismatch;
        ADD_FAILURE() << where << ": " << mine.size() << " sentences, llm-guard "
                      << r.sentences.size();
      }
      if (got.segments != r.sentences.size()) {
        ++t.segment_count_mismatch;
        ADD_FAILURE() << where << ": " << got.segments << " segments, llm-guard "
                      << r.sentences.size();
      }
    }
  }
  std::printf(
      "%s@%.2f: %zu texts (%zu truncated at 128 tokens), %zu model inputs, %zu invalid, %zu "
      "risk -0.0 | mismatches: is_valid %zu, risk %zu, score %zu, sentences %zu, counts %zu, "
      "labels %zu | max |p - pipeline| %.3g\n",
      match.c_str(), threshold, t.texts, t.long_texts, t.model_inputs, t.invalid, t.negative_zero,
      t.is_valid_mismatch, t.risk_mismatch, t.score_mismatch, t.sentence_mismatch,
      t.segment_count_mismatch, t.label_mismatch, t.worst_probability);
  return t;
}

void expect_full_agreement(const Tally& t) {
  EXPECT_GE(t.texts, 2000u);
  EXPECT_EQ(t.is_valid_mismatch, 0u);
  EXPECT_EQ(t.risk_mismatch, 0u);
  EXPECT_EQ(t.score_mismatch, 0u);
  EXPECT_EQ(t.sentence_mismatch, 0u);
  EXPECT_EQ(t.segment_count_mismatch, 0u);
  EXPECT_EQ(t.label_mismatch, 0u);
  EXPECT_LE(t.worst_probability, 1e-5);
  // The set exercises both outcomes and LLM Guard's -0.0 risk.
  EXPECT_GT(t.invalid, 0u);
  EXPECT_LT(t.invalid, t.texts);
}

TEST(LlmGuardNoRefusal, FullMatchAtTheDefaultThreshold) {
  const Tally t = run(MatchMode::kFull, "full", 0.75);
  expect_full_agreement(t);
  EXPECT_GT(t.long_texts, 100u);
}

TEST(LlmGuardNoRefusal, FullMatchAtThreshold05) {
  expect_full_agreement(run(MatchMode::kFull, "full", 0.5));
}

TEST(LlmGuardNoRefusal, SentenceMatchAtTheDefaultThreshold) {
  expect_full_agreement(run(MatchMode::kSentence, "sentence", 0.75));
}

TEST(LlmGuardNoRefusal, SentenceMatchAtThreshold05) {
  expect_full_agreement(run(MatchMode::kSentence, "sentence", 0.5));
}

TEST(LlmGuardNoRefusal, BlankTextsSkipTheModel) {
  const auto& v = vectors();
  std::size_t blank = 0;
  for (const auto& [key, rows] : v.runs) {
    for (const auto& r : rows) {
      if (r.model_ran) continue;
      ++blank;
      EXPECT_TRUE(python_isspace_only(v.texts[r.index]));
      EXPECT_TRUE(r.is_valid);
      EXPECT_EQ(r.risk_repr, "-1.0");
    }
  }
  EXPECT_GE(blank, 4u * 5u);  // five blank texts, four runs
}

}  // namespace
}  // namespace refusal
