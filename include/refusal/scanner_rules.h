// The model-free parts of LLM Guard v0.3.16's NoRefusal / NoRefusalLight output scanners that
// callers use: Punkt sentence splitting (nltk.sent_tokenize with the English punkt_tab data),
// the risk formula and NoRefusalLight. Every function reproduces what the Python code computes,
// bit for bit; docs/scanner.md says how that was checked. (The Python emulation underneath and
// the per-segment decision are private: src/scan/python_emulation.h, src/scan/no_refusal.h.)
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace refusal {

// llm_guard.util.calculate_risk_score (v0.3.16): in [-1, 1], negative below the threshold,
// -0.0 kept. Throws refusal::Error where Python raises ZeroDivisionError (threshold 0 or 1).
double calculate_risk_score(double score, double threshold);

// ---- Punkt sentence splitting (nltk.tokenize.punkt) ----

// The four files of nltk_data's tokenizers/punkt_tab/<language>/, as nltk's PunktDecoder reads
// them (entries are UTF-8 strings exactly as in the files).
struct PunktParameters {
  std::unordered_set<std::string> abbrev_types;
  std::unordered_set<std::string> sent_starters;
  // Collocation pairs, stored as first + '\t' + second.
  std::unordered_set<std::string> collocations;
  std::unordered_map<std::string, int> ortho_context;
};

// Reads abbrev_types.txt, collocations.tab, ortho_context.tab and sent_starters.txt from `dir`
// (e.g. data/punkt_tab/english). Errors name the file and line.
PunktParameters load_punkt_parameters(const std::filesystem::path& dir);

// Which nltk's Punkt to reproduce. nltk 3.9.x uses Python's `re`; nltk >= 3.10 compiles its
// patterns with the `regex` module (whose \s leaves out U+001C..U+001F and whose \w adds
// marks) and treats curly quotes and guillemets as closing punctuation. `pip install
// llm-guard==0.3.16` (nltk>=3.9.1,<4) resolves to 3.10.x today.
enum class PunktVariant { kNltk39, kNltk310 };
inline constexpr PunktVariant kDefaultPunktVariant = PunktVariant::kNltk310;

// One sentence, with its position in the ORIGINAL (unstripped) text: code-point offsets and
// byte offsets, half-open.
struct Sentence {
  std::string text;
  std::size_t char_begin = 0;
  std::size_t char_end = 0;
  std::size_t byte_begin = 0;
  std::size_t byte_end = 0;
};

// nltk.sent_tokenize(text.strip()) with the given parameters, i.e. what
// llm_guard.util.split_text_by_sentences returns. Empty or whitespace-only text gives [].
std::vector<Sentence> split_sentences(std::string_view text, const PunktParameters& params,
                                      PunktVariant variant = kDefaultPunktVariant);

// ---- NoRefusal (model-based) decision ----

inline constexpr double kNoRefusalDefaultThreshold = 0.75;

// ---- NoRefusalLight (substring list) ----

struct NoRefusalLightVerdict {
  bool is_valid = true;
  double risk_score = -1.0;
  std::vector<std::string> matched;  // the lowercased phrases found, in list order
};

// The 28 phrases of NoRefusalLight, verbatim and in order.
std::span<const std::string_view> no_refusal_light_phrases();

// NoRefusalLight().scan: lowercase both sides with str.lower(), plain substring match; any
// hit gives (false, 1.0), none gives (true, -1.0).
NoRefusalLightVerdict no_refusal_light(std::string_view output);

}  // namespace refusal
