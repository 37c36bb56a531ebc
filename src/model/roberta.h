// The RoBERTa forward pass over a ragged batch: sequences packed one after another, no padding,
// so a batch costs what its tokens cost and no sequence sees another.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/thread_pool.h"
#include "model/weights.h"
#include "refusal/model.h"

namespace refusal::model {

// Returns logits, [sequences × labels] row-major. Ids must already be checked (in vocabulary,
// 1 ≤ length ≤ max_tokens).
std::vector<float> roberta_forward(const ModelConfig& config, const RobertaWeights& weights,
                                   std::span<const std::vector<std::int32_t>> batch,
                                   base::ThreadPool& pool);

// Position ids as transformers computes them: pad tokens keep pad_token_id, every other token
// counts up from pad_token_id + 1.
std::vector<std::int32_t> roberta_position_ids(std::span<const std::int32_t> ids, int pad_token_id);

}  // namespace refusal::model
