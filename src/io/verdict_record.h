// The result fields `refusal classify` writes for each input row, shared by the CLI, the
// server's /v1/classify and the Python package's classify_file, so that all three write the
// same record.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "refusal/classifier.h"
#include "refusal/model.h"

namespace refusal::io {

// Which optional fields a record carries.
struct RecordFields {
  bool llm_guard = false;   // is_valid, risk_score (LLM Guard's NoRefusal semantics)
  bool raw_scores = false;  // logits
  bool explain = false;     // the evidence span, segments and windows
};

// label, score, scores {label: p}, refusal, [is_valid, risk_score], truncated, [logits],
// [explain], in that order.
nlohmann::ordered_json verdict_record(const Verdict& v, const ModelConfig& config,
                                      const RecordFields& fields);

// The keyword baseline (NoRefusalLight): label, refusal, is_valid, risk_score, matched.
nlohmann::ordered_json keyword_record(std::string_view text);

// The column names of those records (for CSV output), in their order.
std::vector<std::string> record_columns(const RecordFields& fields, bool keywords);

}  // namespace refusal::io
