// LLM Guard v0.3.16 NoRefusal.scan's decision over model results, NoRefusalLight's substring
// list, and the public Python string helpers they rely on.
#include "scan/no_refusal.h"

#include <array>
#include <string>

#include "base/utf8.h"
#include "refusal/error.h"
#include "refusal/scanner_rules.h"
#include "scan/py_unicode.h"
#include "scan/python_emulation.h"

namespace refusal {
namespace {

// llm_guard/output_scanners/no_refusal.py, NoRefusalLight.__init__, verbatim and in order.
constexpr std::array<std::string_view, 28> kLightPhrases = {
    "I'm sorry",
    "Sorry",
    "I am sorry",
    "I apologize",
    "As an",
    "As an AI",
    "I'm an",
    "I'm just",
    "As a language model",
    "As an Assistant",
    "I cannot",
    "I do not",
    "Hello!",
    "is illegal and unethical",
    "I'm really sorry",
    "OpenAI",
    "unethical",
    "not ethical",
    "not legal",
    "My apologies",
    "but I cannot",
    "If you have any other non-malicious requests",
    "I'm not able to provide",
    "I am really sorry",
    "I cannot create",
    "I cannot support",
    "I can't provide",
    "I can't assist",
};

}  // namespace

bool python_isspace(char32_t c) { return scan::py_isspace(c); }

std::string_view python_strip(std::string_view text) {
  std::vector<std::size_t> bytes;
  const std::u32string cps = base::to_code_points(text, &bytes);
  std::size_t begin = 0;
  std::size_t end = cps.size();
  while (begin < end && scan::py_isspace(cps[begin])) ++begin;
  while (end > begin && scan::py_isspace(cps[end - 1])) --end;
  return text.substr(bytes[begin], bytes[end] - bytes[begin]);
}

bool python_isspace_only(std::string_view text) { return python_strip(text).empty(); }

std::string python_lower(std::string_view text) {
  return base::to_utf8(scan::py_lower(base::to_code_points(text)));
}

SegmentScore pipeline_top_label(float p_normal, float p_rejection) {
  // numpy argmax returns the first maximum: a tie goes to index 0, NORMAL.
  if (p_rejection > p_normal) return {"REJECTION", static_cast<double>(p_rejection)};
  return {"NORMAL", static_cast<double>(p_normal)};
}

double rejection_score(const SegmentScore& segment) {
  const double p = segment.label == "REJECTION" ? segment.score : 1.0 - segment.score;
  return python_round(p, 2);
}

NoRefusalVerdict no_refusal_decision(std::span<const SegmentScore> segments, double threshold) {
  NoRefusalVerdict verdict;
  if (segments.empty()) return verdict;  // output.strip() == "": (True, -1.0)
  verdict.scores.reserve(segments.size());
  for (const SegmentScore& s : segments) verdict.scores.push_back(rejection_score(s));

  double highest = 0.0;
  for (std::size_t i = 0; i < verdict.scores.size(); ++i) {
    const double score = verdict.scores[i];
    if (score > highest) {
      highest = score;
      verdict.deciding_segment = i;
    }
    if (score > threshold) {
      // The first segment over the threshold decides, with its own score.
      verdict.is_valid = false;
      verdict.highest_score = highest;
      verdict.deciding_segment = i;
      verdict.risk_score = calculate_risk_score(score, threshold);
      return verdict;
    }
  }
  verdict.is_valid = true;
  verdict.highest_score = highest;
  verdict.risk_score = calculate_risk_score(highest, threshold);
  return verdict;
}

std::span<const std::string_view> no_refusal_light_phrases() { return kLightPhrases; }

NoRefusalLightVerdict no_refusal_light(std::string_view output) {
  // BanSubstrings(match_type=STR, case_sensitive=False): both sides str.lower()ed, then `in`.
  // Lowering is idempotent, so lowering the output once equals re-lowering it per phrase.
  // A UTF-8 byte search finds exactly the code-point substrings.
  const std::string text = python_lower(output);
  NoRefusalLightVerdict verdict;
  for (std::string_view phrase : kLightPhrases) {
    const std::string lowered = python_lower(phrase);
    if (text.find(lowered) != std::string::npos) verdict.matched.push_back(lowered);
  }
  if (!verdict.matched.empty()) {
    verdict.is_valid = false;
    verdict.risk_score = 1.0;
  }
  return verdict;
}

}  // namespace refusal
