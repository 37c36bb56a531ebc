// Texts in, verdicts out: the tokenizer, the engine and the scanner rules put together.
//
//   text → segments (the whole text, or its sentences) → token windows (truncated, or
//   overlapping windows over all of it) → logits → per-segment scores → one verdict
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "refusal/engine.h"
#include "refusal/tokenizer.h"

namespace refusal {

enum class MatchMode {
  kFull,      // the whole text is one segment (LLM Guard's MatchType.FULL)
  kSentence,  // each sentence, as nltk.sent_tokenize splits it (MatchType.SENTENCE)
};

enum class LongTextMode {
  kTruncate,  // keep the first max_length tokens, like the reference pipelines
  kWindows,   // score overlapping windows over the whole text and keep the highest
};

struct ClassifierOptions {
  MatchMode match = MatchMode::kFull;
  LongTextMode long_text = LongTextMode::kTruncate;
  std::size_t max_length = 0;  // tokens per window, specials included; 0: the tokenizer's (512)
  std::size_t stride = 0;      // tokens shared by consecutive windows; 0: max_length / 4
  double threshold = 0.5;      // refusal when score > threshold
  // LLM Guard NoRefusal semantics: scores rounded to 2 decimals with Python's round, the first
  // segment over the threshold decides, is_valid and risk_score as calculate_risk_score.
  bool llm_guard = false;
  std::size_t batch_tokens = 8192;  // tokens per engine call
  std::string punkt_dir;            // punkt_tab/english folder; empty: the bundled copy
};

// The part of the text that decided the verdict.
struct Evidence {
  std::size_t segment = 0;  // sentence index (sentence mode) or window index
  std::size_t window = 0;   // window inside the sentence (windows mode)
  std::size_t char_begin = 0, char_end = 0;  // code points into the input text
  std::string text;
};

struct Verdict {
  std::string label;              // argmax label of the deciding segment
  double score = 0.0;             // probability of the refusal label (rounded in llm_guard mode)
  std::vector<float> scores;      // every label's probability, by label id
  std::vector<float> logits;      // the deciding segment's logits
  bool refusal = false;           // score > threshold
  Evidence evidence;
  std::size_t segments = 0;       // segments scored
  std::size_t windows = 0;        // model inputs scored (windows over all segments)
  std::size_t tokens = 0;         // tokens of the deciding window, specials included
  bool truncated = false;         // some text was cut off (truncate mode only)
  // LLM Guard's (is_valid, risk_score); set in every mode, meaningful with llm_guard.
  bool is_valid = true;
  double risk_score = -1.0;
};

class Classifier {
 public:
  // Loads the model (and the tokenizer in its folder) that resolve_model finds.
  static Classifier load(const std::string& model, const EngineOptions& engine_options,
                         const ClassifierOptions& options);

  Classifier(std::shared_ptr<const Engine> engine, Tokenizer tokenizer, ClassifierOptions options);
  ~Classifier();
  Classifier(Classifier&&) noexcept;
  Classifier& operator=(Classifier&&) noexcept;

  // Thread-safe. One verdict per text, in order.
  std::vector<Verdict> classify(std::span<const std::string_view> texts) const;

  const Engine& engine() const;
  const Tokenizer& tokenizer() const;
  const ClassifierOptions& options() const;
  // Label id whose probability is the score: the label named REJECTION / REFUSAL (any case),
  // else label 1 of a two-label model.
  int refusal_label() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace refusal
