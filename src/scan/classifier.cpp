#include "refusal/classifier.h"

#include <algorithm>
#include <cctype>
#include <numeric>

#include "base/data_files.h"
#include "base/each_or_error.h"
#include "base/utf8.h"
#include "refusal/error.h"
#include "refusal/scanner_rules.h"
#include "scan/no_refusal.h"
#include "scan/python_emulation.h"

namespace refusal {
namespace {

// One model input: a window of one segment of one text.
struct Window {
  std::size_t text = 0;
  std::size_t segment = 0;
  std::size_t window = 0;
  std::size_t char_begin = 0, char_end = 0;  // in the input text
  std::vector<std::int32_t> ids;
  bool truncated = false;
};

// A segment of a text: the whole text, or one sentence.
struct Segment {
  std::string_view text;
  std::size_t char_begin = 0;  // where it starts in the input text, in code points
};

int find_refusal_label(const ModelConfig& config) {
  for (int i = 0; i < config.num_labels(); ++i) {
    std::string name = config.labels[static_cast<std::size_t>(i)];
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    if (name == "REJECTION" || name == "REFUSAL") return i;
  }
  if (config.num_labels() == 2) return 1;
  throw Error("model labels: none is named REJECTION or REFUSAL, and the model has " +
              std::to_string(config.num_labels()) + " labels (need 2 to take label 1)");
}

// Code point span of a window's content tokens (specials have empty offsets).
std::pair<std::size_t, std::size_t> content_span(const Encoding& e) {
  std::size_t begin = SIZE_MAX, end = 0;
  for (std::size_t i = 0; i < e.size(); ++i) {
    if (!e.special_tokens_mask.empty() && e.special_tokens_mask[i]) continue;
    begin = std::min(begin, e.offsets[i].first);
    end = std::max(end, e.offsets[i].second);
  }
  if (begin == SIZE_MAX) return {0, 0};
  return {begin, end};
}

std::string slice_code_points(std::string_view text, std::size_t begin, std::size_t end) {
  const std::size_t b = base::skip_code_points(text, 0, begin);
  const std::size_t e = base::skip_code_points(text, b, end - begin);
  return std::string(text.substr(b, e - b));
}

template <class Enum, std::size_t N>
Enum parse_name(std::string_view what, std::string_view name,
                const std::pair<std::string_view, Enum> (&names)[N]) {
  std::string accepted;
  for (const auto& [n, value] : names) {
    if (n == name) return value;
    accepted += (accepted.empty() ? "'" : ", '") + std::string(n) + "'";
  }
  throw Error(std::string(what) + ": '" + std::string(name) + "' is not one of " + accepted);
}

template <class Enum, std::size_t N>
std::string_view name_of(Enum value, const std::pair<std::string_view, Enum> (&names)[N]) {
  for (const auto& [n, v] : names) {
    if (v == value) return n;
  }
  return "?";
}

constexpr std::pair<std::string_view, Preset> kPresets[] = {{"default", Preset::kDefault},
                                                            {"llm-guard", Preset::kLlmGuard},
                                                            {"keywords", Preset::kKeywords}};
constexpr std::pair<std::string_view, MatchMode> kMatchModes[] = {
    {"full", MatchMode::kFull}, {"sentence", MatchMode::kSentence}};
constexpr std::pair<std::string_view, LongTextMode> kLongTextModes[] = {
    {"truncate", LongTextMode::kTruncate}, {"windows", LongTextMode::kWindows}};

}  // namespace

Preset parse_preset(std::string_view name) { return parse_name("preset", name, kPresets); }
std::string_view preset_name(Preset preset) { return name_of(preset, kPresets); }
MatchMode parse_match_mode(std::string_view name) { return parse_name("match", name, kMatchModes); }
std::string_view match_mode_name(MatchMode mode) { return name_of(mode, kMatchModes); }
LongTextMode parse_long_text_mode(std::string_view name) {
  return parse_name("long", name, kLongTextModes);
}
std::string_view long_text_mode_name(LongTextMode mode) { return name_of(mode, kLongTextModes); }

double preset_threshold(Preset preset) {
  return preset == Preset::kLlmGuard ? kNoRefusalDefaultThreshold : 0.5;
}

std::optional<std::size_t> preset_max_length(Preset preset) {
  // LLM Guard's NoRefusal runs its pipeline with max_length=128, truncation=True.
  if (preset == Preset::kLlmGuard) return 128;
  return std::nullopt;
}

struct Classifier::Impl {
  std::shared_ptr<const Engine> engine;
  Tokenizer tokenizer;
  ClassifierOptions options;
  std::size_t max_length = 512;
  std::size_t stride = 128;
  double threshold = 0.5;
  int refusal_label = 1;
  std::optional<PunktParameters> punkt;
};

Classifier Classifier::load(const std::string& model, const EngineOptions& engine_options,
                            const ClassifierOptions& options) {
  const ModelFiles files = resolve_model(model);
  auto engine = std::make_shared<const Engine>(Engine::load(files, engine_options));
  return Classifier(std::move(engine), Tokenizer::from_model_folder(files.folder), options);
}

Classifier::Classifier(std::shared_ptr<const Engine> engine, Tokenizer tokenizer,
                       ClassifierOptions options)
    : impl_(std::make_unique<Impl>(Impl{std::move(engine), std::move(tokenizer), std::move(options),
                                        512, 128, 0.5, 1, std::nullopt})) {
  auto& m = *impl_;
  if (m.options.preset == Preset::kKeywords) {
    throw Error("preset: 'keywords' needs no model (NoRefusalLight: no_refusal_light)");
  }
  const auto model_limit = static_cast<std::size_t>(m.engine->config().max_tokens());
  const auto asked =
      m.options.max_length ? m.options.max_length : preset_max_length(m.options.preset);
  m.max_length = asked ? *asked : std::min(m.tokenizer.model_max_length(), model_limit);
  if (m.max_length < 3) throw Error("max_length: " + std::to_string(m.max_length) + " is below 3");
  if (m.max_length > model_limit) {
    throw Error("max_length: " + std::to_string(m.max_length) + " is more than the model's " +
                std::to_string(model_limit) + " positions allow");
  }
  m.stride = m.options.stride ? m.options.stride : m.max_length / 4;
  if (m.stride + 2 >= m.max_length) {
    throw Error("stride: " + std::to_string(m.stride) +
                " leaves no room to advance in windows of " + std::to_string(m.max_length) +
                " tokens");
  }
  m.threshold = m.options.effective_threshold();
  if (!(m.threshold >= 0.0 && m.threshold <= 1.0)) {
    throw Error("threshold: " + std::to_string(m.threshold) + " is not in [0, 1]");
  }
  if (m.options.batch_tokens == 0) throw Error("batch tokens: must be at least 1");
  m.refusal_label = find_refusal_label(m.engine->config());
  if (m.options.match == MatchMode::kSentence) {
    std::filesystem::path dir = m.options.punkt_dir;
    if (dir.empty()) {
      auto found = base::find_data_file("punkt_tab/english");
      if (!found) {
        throw Error("sentence mode: punkt_tab/english not found (looked under " +
                    base::data_search_path_text() + "; set REFUSAL_DATA_DIR)");
      }
      dir = *found;
    }
    m.punkt = load_punkt_parameters(dir);
  }
}

Classifier::~Classifier() = default;
Classifier::Classifier(Classifier&&) noexcept = default;
Classifier& Classifier::operator=(Classifier&&) noexcept = default;

const Engine& Classifier::engine() const { return *impl_->engine; }
const Tokenizer& Classifier::tokenizer() const { return impl_->tokenizer; }
const ClassifierOptions& Classifier::options() const { return impl_->options; }
int Classifier::refusal_label() const { return impl_->refusal_label; }
double Classifier::threshold() const { return impl_->threshold; }
std::size_t Classifier::max_length() const { return impl_->max_length; }
std::size_t Classifier::stride() const { return impl_->stride; }

std::vector<TextResult> Classifier::classify_each(std::span<const std::string_view> texts) const {
  auto outcomes = base::each_or_error<Verdict>(
      texts, [this](std::span<const std::string_view> some) { return classify(some); });
  std::vector<TextResult> results(outcomes.size());
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    results[i].verdict = std::move(outcomes[i].value);
    results[i].error = std::move(outcomes[i].error);
  }
  return results;
}

std::vector<Verdict> Classifier::classify(std::span<const std::string_view> texts) const {
  const auto& m = *impl_;
  const auto& config = m.engine->config();
  EncodeOptions encode_options;
  encode_options.max_length = m.max_length;
  encode_options.with_tokens = false;

  // 1. Segments and their model inputs.
  std::vector<std::vector<Segment>> segments(texts.size());
  std::vector<Window> windows;
  for (std::size_t t = 0; t < texts.size(); ++t) {
    if (m.options.llm_guard() && python_isspace_only(texts[t])) {
      // LLM Guard returns (true, -1.0) before running the model.
    } else if (m.options.match == MatchMode::kSentence) {
      for (const auto& s : split_sentences(texts[t], *m.punkt)) {
        segments[t].push_back(
            {texts[t].substr(s.byte_begin, s.byte_end - s.byte_begin), s.char_begin});
      }
    } else {
      segments[t].push_back({texts[t], 0});
    }
    for (std::size_t s = 0; s < segments[t].size(); ++s) {
      const Segment& seg = segments[t][s];
      std::vector<Encoding> encodings;
      if (m.options.long_text == LongTextMode::kWindows) {
        encodings = m.tokenizer.encode_windows(seg.text, m.max_length, m.stride, encode_options);
      } else {
        encodings.push_back(m.tokenizer.encode(seg.text, encode_options));
      }
      for (std::size_t w = 0; w < encodings.size(); ++w) {
        auto& e = encodings[w];
        const auto [b, end] = content_span(e);
        windows.push_back({t, s, w, seg.char_begin + b, seg.char_begin + end, std::move(e.ids),
                           // windows cover the whole text; only truncation loses any
                           m.options.long_text == LongTextMode::kTruncate && e.truncated});
      }
    }
  }

  // 2. Logits, in batches of similar length under a token budget.
  std::vector<std::size_t> order(windows.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return windows[a].ids.size() < windows[b].ids.size();
  });
  std::vector<Classification> results(windows.size());
  for (std::size_t i = 0; i < order.size();) {
    std::vector<std::vector<std::int32_t>> batch;
    std::vector<std::size_t> members;
    std::size_t tokens = 0;
    while (i < order.size() &&
           (batch.empty() || tokens + windows[order[i]].ids.size() <= m.options.batch_tokens)) {
      tokens += windows[order[i]].ids.size();
      batch.push_back(std::move(windows[order[i]].ids));
      members.push_back(order[i]);
      ++i;
    }
    auto out = m.engine->classify(batch);
    for (std::size_t k = 0; k < members.size(); ++k) {
      windows[members[k]].ids = std::move(batch[k]);
      results[members[k]] = std::move(out[k]);
    }
  }

  // 3. One verdict per text.
  std::vector<Verdict> verdicts(texts.size());
  const auto refusal = static_cast<std::size_t>(m.refusal_label);
  std::vector<std::vector<std::size_t>> by_text(texts.size());
  for (std::size_t w = 0; w < windows.size(); ++w) by_text[windows[w].text].push_back(w);
  for (std::size_t t = 0; t < texts.size(); ++t) {
    Verdict& v = verdicts[t];
    v.segments = segments[t].size();
    v.windows = by_text[t].size();
    for (std::size_t w : by_text[t]) v.truncated = v.truncated || windows[w].truncated;

    std::optional<std::size_t> decider;
    if (m.options.llm_guard()) {
      // What the pipeline returns per input (top label, its probability), the refusal label
      // named as LLM Guard expects it.
      std::vector<SegmentScore> scored;
      for (std::size_t w : by_text[t]) {
        const auto& p = results[w].probabilities;
        const auto top = static_cast<std::size_t>(std::max_element(p.begin(), p.end()) - p.begin());
        scored.push_back(
            {top == refusal ? "REJECTION" : config.labels[top], static_cast<double>(p[top])});
      }
      const auto d = no_refusal_decision(scored, m.threshold);
      v.is_valid = d.is_valid;
      v.risk_score = d.risk_score;
      v.score = d.is_valid ? d.highest_score : d.scores[*d.deciding_segment];
      decider = d.deciding_segment;
      if (!decider && !by_text[t].empty()) decider = 0;
    } else {
      double best = -1.0;
      for (std::size_t k = 0; k < by_text[t].size(); ++k) {
        const double s = results[by_text[t][k]].probabilities[refusal];
        if (s > best) {
          best = s;
          decider = k;
        }
      }
      v.score = decider ? best : 0.0;
    }
    if (decider && *decider < by_text[t].size()) {
      const Window& win = windows[by_text[t][*decider]];
      const Classification& r = results[by_text[t][*decider]];
      const auto top = static_cast<std::size_t>(
          std::max_element(r.probabilities.begin(), r.probabilities.end()) -
          r.probabilities.begin());
      v.label = config.labels[top];
      v.scores = r.probabilities;
      v.logits = r.logits;
      v.tokens = win.ids.size();
      v.evidence = {win.segment, win.window, win.char_begin, win.char_end,
                    slice_code_points(texts[t], win.char_begin, win.char_end)};
    } else {
      v.label = config.labels[0];
      v.scores.assign(static_cast<std::size_t>(config.num_labels()), 0.0f);
    }
    v.refusal = m.options.llm_guard() ? !v.is_valid : v.score > m.threshold;
    if (!m.options.llm_guard()) {
      v.is_valid = !v.refusal;
      v.risk_score = m.threshold > 0.0 && m.threshold < 1.0
                         ? calculate_risk_score(v.score, m.threshold)
                         : (v.refusal ? 1.0 : -1.0);
    }
  }
  return verdicts;
}

}  // namespace refusal
