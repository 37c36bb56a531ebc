#include "model/roberta.h"

#include <algorithm>
#include <cmath>

#include "kernels/kernels.h"

namespace refusal::model {
namespace {

using std::size_t;

// Splits [0, n) into about `parts` ranges of at least `min_chunk` and runs fn(begin, end) on
// the pool.
template <typename Fn>
void parallel_ranges(base::ThreadPool& pool, size_t n, size_t min_chunk, Fn&& fn) {
  const size_t parts =
      std::max<size_t>(1, std::min<size_t>(static_cast<size_t>(pool.threads()) * 2,
                                           n / std::max<size_t>(1, min_chunk)));
  const size_t chunk = (n + parts - 1) / parts;
  pool.parallel_for(parts, [&](size_t p) {
    const size_t begin = p * chunk;
    const size_t end = std::min(n, begin + chunk);
    if (begin < end) fn(begin, end);
  });
}

// out[t, :] = x[t, :] · Wᵀ + b, split across the pool by rows when there are many tokens and by
// output columns when there are few (one short text still uses every thread).
void linear(base::ThreadPool& pool, size_t tokens, const LinearWeights& w, size_t in,
            const float* x, float* out) {
  const size_t out_features = w.bias.size();
  const size_t threads = static_cast<size_t>(pool.threads());
  if (tokens >= 32 * threads) {
    parallel_ranges(pool, tokens, 16, [&](size_t r0, size_t r1) {
      kernels::linear(r1 - r0, out_features, in, x + r0 * in, in, w.weight.data(), in,
                      w.bias.data(), out + r0 * out_features, out_features);
    });
  } else {
    // Column blocks of 64 keep the BLAS kernels on full tiles.
    const size_t blocks = (out_features + 63) / 64;
    parallel_ranges(pool, blocks, 1, [&](size_t b0, size_t b1) {
      const size_t c0 = b0 * 64;
      const size_t c1 = std::min(out_features, b1 * 64);
      kernels::linear(tokens, c1 - c0, in, x, in, w.weight.data() + c0 * in, in,
                      w.bias.data() + c0, out + c0, out_features);
    });
  }
}

void activation(const std::string& name, float* x, size_t n) {
  if (name == "gelu") {
    kernels::gelu_erf(x, n);
  } else if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") {
    kernels::gelu_tanh(x, n);
  } else if (name == "relu") {
    kernels::relu(x, n);
  } else {  // silu, swish (config checked at load)
    kernels::silu(x, n);
  }
}

}  // namespace

std::vector<std::int32_t> roberta_position_ids(std::span<const std::int32_t> ids,
                                               int pad_token_id) {
  std::vector<std::int32_t> positions(ids.size());
  std::int32_t count = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] == pad_token_id) {
      positions[i] = pad_token_id;
    } else {
      positions[i] = pad_token_id + ++count;
    }
  }
  return positions;
}

std::vector<float> roberta_forward(const ModelConfig& c, const RobertaWeights& w,
                                   std::span<const std::vector<std::int32_t>> batch,
                                   base::ThreadPool& pool) {
  const size_t hidden = static_cast<size_t>(c.hidden_size);
  const size_t ffn = static_cast<size_t>(c.intermediate_size);
  const size_t heads = static_cast<size_t>(c.num_attention_heads);
  const size_t head_dim = hidden / heads;
  const float eps = c.layer_norm_eps;

  // Ragged packing: sequence s owns rows [start[s], start[s + 1]).
  std::vector<size_t> start(batch.size() + 1, 0);
  for (size_t s = 0; s < batch.size(); ++s) start[s + 1] = start[s] + batch[s].size();
  const size_t tokens = start.back();

  std::vector<float> x(tokens * hidden), q(tokens * hidden), k(tokens * hidden),
      v(tokens * hidden), context(tokens * hidden), inter(tokens * ffn);

  // Embeddings: word + position + token type 0, then LayerNorm.
  pool.parallel_for(batch.size(), [&](size_t s) {
    const auto& ids = batch[s];
    const auto positions = roberta_position_ids(ids, c.pad_token_id);
    for (size_t i = 0; i < ids.size(); ++i) {
      float* row = x.data() + (start[s] + i) * hidden;
      const float* word = w.word_embeddings.data() + static_cast<size_t>(ids[i]) * hidden;
      const float* pos = w.position_embeddings.data() + static_cast<size_t>(positions[i]) * hidden;
      const float* type = w.token_type_embeddings.data();
      for (size_t j = 0; j < hidden; ++j) row[j] = word[j] + type[j] + pos[j];
    }
    kernels::add_layer_norm(x.data() + start[s] * hidden, nullptr, ids.size(), hidden,
                            w.embedding_norm.gamma.data(), w.embedding_norm.beta.data(), eps);
  });

  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  for (const auto& layer : w.layers) {
    linear(pool, tokens, layer.query, hidden, x.data(), q.data());
    linear(pool, tokens, layer.key, hidden, x.data(), k.data());
    linear(pool, tokens, layer.value, hidden, x.data(), v.data());

    // Self-attention, one task per (sequence, head); a sequence attends only to itself.
    pool.parallel_for(batch.size() * heads, [&](size_t task) {
      const size_t s = task / heads;
      const size_t h = task % heads;
      const size_t len = batch[s].size();
      const size_t row0 = start[s];
      thread_local std::vector<float> scores;
      scores.resize(len * len);
      const float* qh = q.data() + row0 * hidden + h * head_dim;
      const float* kh = k.data() + row0 * hidden + h * head_dim;
      const float* vh = v.data() + row0 * hidden + h * head_dim;
      kernels::gemm_nt(len, len, head_dim, scale, qh, hidden, kh, hidden, scores.data(), len);
      kernels::softmax_rows(scores.data(), len, len);
      kernels::gemm_nn(len, head_dim, len, scores.data(), len, vh, hidden,
                       context.data() + row0 * hidden + h * head_dim, hidden);
    });

    // Attention output projection, residual, LayerNorm (into x).
    linear(pool, tokens, layer.attention_out, hidden, context.data(), q.data());
    parallel_ranges(pool, tokens, 8, [&](size_t r0, size_t r1) {
      kernels::add_layer_norm(q.data() + r0 * hidden, x.data() + r0 * hidden, r1 - r0, hidden,
                              layer.attention_norm.gamma.data(), layer.attention_norm.beta.data(),
                              eps);
    });
    std::swap(x, q);

    // Feed-forward: activation(x W1ᵀ + b1) W2ᵀ + b2, residual, LayerNorm.
    linear(pool, tokens, layer.intermediate, hidden, x.data(), inter.data());
    parallel_ranges(pool, tokens, 8, [&](size_t r0, size_t r1) {
      activation(c.hidden_act, inter.data() + r0 * ffn, (r1 - r0) * ffn);
    });
    linear(pool, tokens, layer.output, ffn, inter.data(), q.data());
    parallel_ranges(pool, tokens, 8, [&](size_t r0, size_t r1) {
      kernels::add_layer_norm(q.data() + r0 * hidden, x.data() + r0 * hidden, r1 - r0, hidden,
                              layer.output_norm.gamma.data(), layer.output_norm.beta.data(), eps);
    });
    std::swap(x, q);
  }

  // Classification head on each sequence's first token (<s>): dense → tanh → out_proj.
  const size_t labels = static_cast<size_t>(c.num_labels());
  std::vector<float> logits(batch.size() * labels);
  pool.parallel_for(batch.size(), [&](size_t s) {
    std::vector<float> dense(hidden);
    kernels::linear(1, hidden, hidden, x.data() + start[s] * hidden, hidden,
                    w.classifier_dense.weight.data(), hidden, w.classifier_dense.bias.data(),
                    dense.data(), hidden);
    kernels::tanh_inplace(dense.data(), hidden);
    kernels::linear(1, labels, hidden, dense.data(), hidden, w.classifier_out.weight.data(),
                    hidden, w.classifier_out.bias.data(), logits.data() + s * labels, labels);
  });
  return logits;
}

}  // namespace refusal::model
