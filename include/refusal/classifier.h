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

// What a verdict means, and the defaults that go with it. Every front end (CLI, server,
// Python) names these presets and gets their defaults from here.
enum class Preset {
  kDefault,   // the model's verdict: refusal when score > 0.5; the model's length (512)
  kLlmGuard,  // LLM Guard's NoRefusal: threshold 0.75, 128 tokens, 2-decimal scores, the first
              // segment over the threshold decides, is_valid and risk_score
  kKeywords,  // LLM Guard's NoRefusalLight: 28 phrases, no model (not a Classifier's preset)
};

// "default", "llm-guard", "keywords" / "full", "sentence" / "truncate", "windows"; anything
// else throws refusal::Error naming the value and what is accepted.
Preset parse_preset(std::string_view name);
std::string_view preset_name(Preset preset);
MatchMode parse_match_mode(std::string_view name);
std::string_view match_mode_name(MatchMode mode);
LongTextMode parse_long_text_mode(std::string_view name);
std::string_view long_text_mode_name(LongTextMode mode);

// A preset's refusal threshold (0.5; llm-guard 0.75) and tokens per model input (none: the
// model's own; llm-guard 128, as LLM Guard's pipeline).
double preset_threshold(Preset preset);
std::optional<std::size_t> preset_max_length(Preset preset);

// What a caller sets; what is left unset comes from the preset.
struct ClassifierOptions {
  Preset preset = Preset::kDefault;
  MatchMode match = MatchMode::kFull;
  LongTextMode long_text = LongTextMode::kTruncate;
  // Tokens per window, specials included; unset: the preset's, else the model's (512).
  std::optional<std::size_t> max_length;
  std::size_t stride = 0;           // tokens shared by consecutive windows; 0: max_length / 4
  std::optional<double> threshold;  // refusal when score > threshold; unset: the preset's
  std::size_t batch_tokens = 8192;  // tokens per engine call
  std::string punkt_dir;            // punkt_tab/english folder; empty: the bundled copy

  double effective_threshold() const { return threshold.value_or(preset_threshold(preset)); }
  bool llm_guard() const { return preset == Preset::kLlmGuard; }
};

// The part of the text that decided the verdict.
struct Evidence {
  std::size_t segment = 0;                   // sentence index (sentence mode) or window index
  std::size_t window = 0;                    // window inside the sentence (windows mode)
  std::size_t char_begin = 0, char_end = 0;  // code points into the input text
  std::string text;
};

struct Verdict {
  std::string label;          // argmax label of the deciding segment
  double score = 0.0;         // probability of the refusal label (rounded in llm_guard mode)
  std::vector<float> scores;  // every label's probability, by label id
  std::vector<float> logits;  // the deciding segment's logits
  bool refusal = false;       // score > threshold
  Evidence evidence;
  std::size_t segments = 0;  // segments scored
  std::size_t windows = 0;   // model inputs scored (windows over all segments)
  std::size_t tokens = 0;    // tokens of the deciding window, specials included
  bool truncated = false;    // some text was cut off (truncate mode only)
  // LLM Guard's (is_valid, risk_score); set in every mode, meaningful with llm_guard.
  bool is_valid = true;
  double risk_score = -1.0;
};

// One text's result when texts are classified each on its own account: a verdict, or the
// error that this text alone raised (the other texts of the call are unaffected).
struct TextResult {
  Verdict verdict;    // meaningful when error is empty
  std::string error;  // e.g. "text is not valid UTF-8 (byte 17)"
  bool ok() const { return error.empty(); }
};

class Classifier {
 public:
  // Loads the model (and the tokenizer in its folder) that resolve_model finds.
  static Classifier load(const std::string& model, const EngineOptions& engine_options,
                         const ClassifierOptions& options);

  // Throws refusal::Error for options out of range (naming the option) and for the keywords
  // preset, which needs no model (see no_refusal_light).
  Classifier(std::shared_ptr<const Engine> engine, Tokenizer tokenizer, ClassifierOptions options);
  ~Classifier();
  Classifier(Classifier&&) noexcept;
  Classifier& operator=(Classifier&&) noexcept;

  // Thread-safe. One verdict per text, in order; the first text that cannot be classified
  // (invalid UTF-8, ...) throws refusal::Error for the whole call.
  std::vector<Verdict> classify(std::span<const std::string_view> texts) const;
  // Thread-safe. One result per text, in order: a text that cannot be classified gets its
  // error, and every other text its verdict (the batch is retried text by text).
  std::vector<TextResult> classify_each(std::span<const std::string_view> texts) const;

  const Engine& engine() const;
  const Tokenizer& tokenizer() const;
  // The options as given, and as resolved against the preset and the model.
  const ClassifierOptions& options() const;
  double threshold() const;
  std::size_t max_length() const;
  std::size_t stride() const;
  // Label id whose probability is the score: the label named REJECTION / REFUSAL (any case),
  // else label 1 of a two-label model.
  int refusal_label() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace refusal
