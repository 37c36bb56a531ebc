// LLM Guard v0.3.16 NoRefusal.scan's decision over the model's per-segment results. Internal to
// the library: the classifier applies it (ClassifierOptions::llm_guard); tests check it against
// the Python scanner.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "refusal/classifier.h"
#include "refusal/scanner_rules.h"

namespace refusal {

// The inputs NoRefusal feeds to the model: MatchType.FULL (MatchMode::kFull) gives the output
// itself (not stripped), SENTENCE gives split_sentences(output). Empty-after-strip output has
// no inputs (the scanner returns before running the model).
std::vector<Sentence> no_refusal_inputs(std::string_view output, MatchMode match,
                                        const PunktParameters& params,
                                        PunktVariant variant = kDefaultPunktVariant);

// What the transformers text-classification pipeline returns for one input: the top label
// ("REJECTION" or "NORMAL") and its probability, a float32 value widened to double.
struct SegmentScore {
  std::string label;
  double score = 0.0;
};

// The pipeline's top label from float32 softmax probabilities (argmax, ties go to index 0,
// "NORMAL").
SegmentScore pipeline_top_label(float p_normal, float p_rejection);

// round(score if label == "REJECTION" else 1 - score, 2), in double arithmetic as Python does.
double rejection_score(const SegmentScore& segment);

struct NoRefusalVerdict {
  bool is_valid = true;
  double risk_score = -1.0;
  // Invalid: the first segment whose score exceeds the threshold. Valid: the first segment
  // holding the highest score above 0.0 (the scanner's starting value); none when every score
  // is 0.0 or there are no segments.
  std::optional<std::size_t> deciding_segment;
  double highest_score = 0.0;
  std::vector<double> scores;  // rejection_score() per segment, in order
};

// NoRefusal.scan given the model results in input order: the first score > threshold makes the
// output invalid with the risk of that score; otherwise valid with the risk of the highest
// score. An empty span (empty-after-strip output) gives (true, -1.0).
NoRefusalVerdict no_refusal_decision(std::span<const SegmentScore> segments, double threshold);

}  // namespace refusal
