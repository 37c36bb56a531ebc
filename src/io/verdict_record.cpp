#include "io/verdict_record.h"

#include "refusal/scanner_rules.h"

namespace refusal::io {

using nlohmann::ordered_json;

ordered_json verdict_record(const Verdict& v, const ModelConfig& config,
                            const RecordFields& fields) {
  ordered_json r;
  r["label"] = v.label;
  r["score"] = v.score;
  ordered_json scores = ordered_json::object();
  for (std::size_t i = 0; i < v.scores.size(); ++i) scores[config.labels[i]] = v.scores[i];
  r["scores"] = scores;
  r["refusal"] = v.refusal;
  if (fields.llm_guard) {
    r["is_valid"] = v.is_valid;
    r["risk_score"] = v.risk_score;
  }
  r["truncated"] = v.truncated;
  if (fields.raw_scores) r["logits"] = v.logits;
  if (fields.explain) {
    r["explain"] = {{"text", v.evidence.text},     {"start", v.evidence.char_begin},
                    {"end", v.evidence.char_end},  {"segment", v.evidence.segment},
                    {"window", v.evidence.window}, {"segments", v.segments},
                    {"windows", v.windows}};
  }
  return r;
}

ordered_json keyword_record(std::string_view text) {
  const auto v = no_refusal_light(text);
  ordered_json r;
  r["label"] = v.is_valid ? "NORMAL" : "REJECTION";
  r["refusal"] = !v.is_valid;
  r["is_valid"] = v.is_valid;
  r["risk_score"] = v.risk_score;
  r["matched"] = v.matched;
  return r;
}

std::vector<std::string> record_columns(const RecordFields& fields, bool keywords) {
  if (keywords) return {"label", "refusal", "is_valid", "risk_score", "matched"};
  std::vector<std::string> c = {"label", "score", "scores", "refusal"};
  if (fields.llm_guard) c.insert(c.end(), {"is_valid", "risk_score"});
  c.push_back("truncated");
  if (fields.raw_scores) c.push_back("logits");
  if (fields.explain) c.push_back("explain");
  return c;
}

}  // namespace refusal::io
