#include "model/encoder.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/ops.h"
#include "refusal/error.h"

namespace refusal::model {
namespace {

using base::parallel_ranges;
using std::size_t;

// Forward passes over at most this many tokens (with more than one thread) take the few-rows
// path: four parallel regions per layer instead of seven, at the price of every task applying
// the LayerNorm before its matrix to all rows itself (about one barrier's time at 64 rows).
constexpr size_t kFewRows = 64;

// In place.
void activation(const std::string& name, float* x, size_t n) {
  if (name == "gelu") {
    kernels::gelu_erf_forward(x, x, n);
  } else if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") {
    kernels::gelu_tanh_forward(x, x, n);
  } else if (name == "relu") {
    kernels::relu_forward(x, x, n);
  } else {  // silu, swish (config checked at load)
    kernels::silu_forward(x, x, n);
  }
}

// In place on columns [c0, c1) of rows [r0, r1) (row stride ld): element-wise, so any split of
// a matrix gives the bits of one whole call.
void activation(const std::string& name, float* x, size_t ld, size_t r0, size_t r1, size_t c0,
                size_t c1) {
  if (c1 - c0 == ld) return activation(name, x + r0 * ld, (r1 - r0) * ld);
  for (size_t r = r0; r < r1; ++r) activation(name, x + r * ld + c0, c1 - c0);
}

// Columns [c0, c1) of part p when w's outputs are split into `parts` runs of whole 64-column
// blocks (the AVX-512 tile's two panels), as even as the blocks allow; empty past the last.
struct Columns {
  size_t c0, c1;
};
size_t column_parts(const kernels::PackedLinear& w, size_t wanted) {
  const size_t block = 2 * w.column_block();
  const size_t blocks = (w.n() + block - 1) / block;
  const size_t per = (blocks + std::min(blocks, wanted) - 1) / std::min(blocks, wanted);
  return (blocks + per - 1) / per;
}
Columns column_part(const kernels::PackedLinear& w, size_t parts, size_t p) {
  const size_t block = 2 * w.column_block();
  const size_t blocks = (w.n() + block - 1) / block;
  const size_t per = (blocks + parts - 1) / parts;
  return {std::min(w.n(), p * per * block), std::min(w.n(), (p + 1) * per * block)};
}

// Activations of one forward pass, kept per calling thread and grown as needed, so the steady
// state allocates nothing.
struct Workspace {
  std::vector<float> x, x_next, qkv, context, tmp, inter;
  std::vector<std::byte> scratch;
  std::vector<size_t> start;
  // Per pool thread (ThreadPool::worker_index()), sized before each parallel region.
  std::vector<std::vector<std::int32_t>> positions;
  std::vector<std::vector<float>> attention;
  // The few-rows path: each thread's copy of a LayerNorm's output, and its converted inputs.
  std::vector<std::vector<float>> normed;
  std::vector<std::vector<std::byte>> prepared;

  static Workspace& for_this_thread() {
    thread_local Workspace w;
    return w;
  }
};

template <typename T>
T* grow(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

// Kernel scratch must be 64-byte aligned.
std::byte* grow_aligned(std::vector<std::byte>& v, size_t n) {
  std::byte* p = grow(v, n + 64);
  const auto misalign = reinterpret_cast<std::uintptr_t>(p) % 64;
  return misalign ? p + (64 - misalign) : p;
}

}  // namespace

EncoderRuntime::EncoderRuntime(const ModelConfig& config, const EncoderWeights& weights,
                               kernels::Precision precision,
                               const std::function<void(std::size_t)>& packed_layer)
    : config_(config), weights_(weights), precision_(precision) {
  const size_t h = static_cast<size_t>(config.hidden_size);
  const size_t f = static_cast<size_t>(config.intermediate_size);
  for (const auto& layer : weights.layers) {
    // Q, K and V as one [3h, h] product: one pass over the activations instead of three.
    std::vector<float> w(3 * h * h), b(3 * h);
    const LinearWeights* parts[] = {&layer.query, &layer.key, &layer.value};
    for (size_t p = 0; p < 3; ++p) {
      std::memcpy(w.data() + p * h * h, parts[p]->weight.data(), h * h * sizeof(float));
      std::memcpy(b.data() + p * h, parts[p]->bias.data(), h * sizeof(float));
    }
    PackedLayer packed{kernels::PackedLinear(w.data(), b.data(), 3 * h, h, precision),
                       kernels::PackedLinear(layer.attention_out.weight.data(),
                                             layer.attention_out.bias.data(), h, h, precision),
                       kernels::PackedLinear(layer.intermediate.weight.data(),
                                             layer.intermediate.bias.data(), f, h, precision),
                       kernels::PackedLinear(layer.output.weight.data(), layer.output.bias.data(),
                                             h, f, precision)};
    layers_.push_back(std::move(packed));
    if (packed_layer) packed_layer(layers_.size() - 1);
  }
  pack_head();
}

void EncoderRuntime::pack_head() {
  // fp32 in every precision: it reads one row per sequence, so its 4·h² bytes cost what they
  // cost in any dtype, and fp32 keeps the head exact. Packed (instead of OpenBLAS on the
  // weights as they are) so that it runs on the pool with the encoder's kernels, without
  // OpenBLAS copying the whole matrix into its own panels on every call.
  const size_t h = static_cast<size_t>(config_.hidden_size);
  head_dense_ =
      kernels::PackedLinear(weights_.classifier_dense.weight.data(),
                            weights_.classifier_dense.bias.data(), h, h, kernels::Precision::kFp32);
}

EncoderRuntime::EncoderRuntime(const ModelConfig& config, const EncoderWeights& weights,
                               kernels::Precision precision, std::vector<PackedLayer> layers)
    : config_(config), weights_(weights), precision_(precision), layers_(std::move(layers)) {
  const size_t h = static_cast<size_t>(config.hidden_size);
  const size_t f = static_cast<size_t>(config.intermediate_size);
  if (layers_.size() != static_cast<size_t>(config.num_hidden_layers)) {
    throw Error("packed encoder: " + std::to_string(layers_.size()) + " layers, config.json says " +
                std::to_string(config.num_hidden_layers));
  }
  for (size_t l = 0; l < layers_.size(); ++l) {
    const auto& p = layers_[l];
    const struct {
      const kernels::PackedLinear* w;
      size_t n, k;
    } want[] = {
        {&p.qkv, 3 * h, h}, {&p.attention_out, h, h}, {&p.intermediate, f, h}, {&p.output, h, f}};
    for (const auto& m : want) {
      if (m.w->n() != m.n || m.w->k() != m.k || m.w->precision() != precision) {
        throw Error("packed encoder: layer " + std::to_string(l) + " has a [" +
                    std::to_string(m.w->n()) + ", " + std::to_string(m.w->k()) + "] " +
                    kernels::precision_name(m.w->precision()) + " matrix where [" +
                    std::to_string(m.n) + ", " + std::to_string(m.k) + "] " +
                    kernels::precision_name(precision) + " is expected");
      }
    }
  }
  pack_head();
}

std::size_t EncoderRuntime::packed_bytes() const {
  size_t bytes = 0;
  for (const auto& l : layers_) {
    bytes += l.qkv.bytes() + l.attention_out.bytes() + l.intermediate.bytes() + l.output.bytes();
  }
  return bytes;
}

void EncoderRuntime::linear(base::ThreadPool& pool, const kernels::PackedLinear& w, size_t rows,
                            const float* x, size_t ldx, float* y, size_t ldy,
                            std::vector<std::byte>& scratch, const std::string* act) const {
  const size_t threads = static_cast<size_t>(pool.threads());
  std::byte* s = grow_aligned(scratch, w.scratch_bytes(rows));
  // bf16 / int8: convert the rows first (a no-op for fp32).
  if (w.precision() != kernels::Precision::kFp32) {
    if (rows >= 64 * threads) {
      parallel_ranges(pool, rows, 2,
                      [&](size_t r0, size_t r1) { w.prepare_rows(x, ldx, r0, r1, s); });
    } else {
      w.prepare_rows(x, ldx, 0, rows, s);
    }
  }
  // Split the output columns, so that each weight byte is read from memory by one thread (the
  // kernel blocks rows and k for the caches); split the rows too only when there are too few
  // column blocks to keep every thread busy.
  const size_t block = 2 * w.column_block();
  const size_t col_tasks = (w.n() + block - 1) / block;
  const size_t wanted = 2 * threads;
  const size_t row_tasks =
      std::min<size_t>(col_tasks >= wanted ? 1 : (wanted + col_tasks - 1) / col_tasks,
                       std::max<size_t>(1, rows / 24));
  const size_t cols_per_part =
      (col_tasks + std::min(col_tasks, wanted) - 1) / std::min(col_tasks, wanted);
  const size_t col_parts = (col_tasks + cols_per_part - 1) / cols_per_part;  // none left empty
  const size_t rows_per_part = (rows + row_tasks - 1) / row_tasks;
  pool.parallel_for(col_parts * row_tasks, [&](size_t task) {
    const size_t cp = task % col_parts;
    const size_t rp = task / col_parts;
    const size_t c0 = cp * cols_per_part * block;
    const size_t c1 = std::min(w.n(), (cp + 1) * cols_per_part * block);
    const size_t r0 = rp * rows_per_part;
    const size_t r1 = std::min(rows, r0 + rows_per_part);
    if (c0 < c1 && r0 < r1) {
      w.compute(x, ldx, s, r0, r1, c0, c1, y, ldy);
      // The activation on the block this task just wrote, while it is in cache: no region of
      // its own.
      if (act != nullptr) activation(*act, y, ldy, r0, r1, c0, c1);
    }
  });
}

std::vector<float> EncoderRuntime::forward(std::span<const std::vector<std::int32_t>> batch,
                                           base::ThreadPool& pool) const {
  const auto& c = config_;
  const auto& w = weights_;
  const size_t hidden = static_cast<size_t>(c.hidden_size);
  const size_t ffn = static_cast<size_t>(c.intermediate_size);
  const size_t heads = static_cast<size_t>(c.num_attention_heads);
  const size_t head_dim = hidden / heads;
  const size_t qkv_width = 3 * hidden;
  const float eps = c.layer_norm_eps;
  Workspace& ws = Workspace::for_this_thread();

  // Ragged packing: sequence s owns rows [start[s], start[s + 1]).
  ws.start.assign(batch.size() + 1, 0);
  auto& start = ws.start;
  for (size_t s = 0; s < batch.size(); ++s) start[s + 1] = start[s] + batch[s].size();
  const size_t tokens = start.back();
  const size_t seqs = batch.size();

  float* x = grow(ws.x, tokens * hidden);
  float* qkv = grow(ws.qkv, tokens * qkv_width);
  float* context = grow(ws.context, tokens * hidden);
  float* tmp = grow(ws.tmp, tokens * hidden);
  float* inter = grow(ws.inter, tokens * ffn);

  // Embeddings: word + position + token type 0, then LayerNorm.
  size_t longest = 0;
  for (const auto& ids : batch) longest = std::max(longest, ids.size());
  const size_t threads = static_cast<size_t>(pool.threads());
  ws.positions.resize(std::max(ws.positions.size(), threads));
  ws.attention.resize(std::max(ws.attention.size(), threads));
  for (size_t t = 0; t < threads; ++t) {
    grow(ws.positions[t], longest);
    grow(ws.attention[t], kernels::attention_scratch_floats(longest, longest, head_dim));
  }
  pool.parallel_for(seqs, [&](size_t s) {
    const auto& ids = batch[s];
    const std::span<std::int32_t> positions(
        ws.positions[static_cast<size_t>(pool.worker_index())].data(), ids.size());
    position_ids(c, ids, positions);
    float* rows = x + start[s] * hidden;
    kernels::embeddings_forward(ids.size(), hidden, ids.data(), positions.data(),
                                w.word_embeddings.data(), w.token_type_embeddings.data(),
                                w.position_embeddings.data(), rows);
    kernels::layernorm_forward(rows, nullptr, ids.size(), hidden, w.embedding_norm.gamma.data(),
                               w.embedding_norm.beta.data(), eps, rows, nullptr, nullptr);
  });

  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  auto worker = [&pool] { return static_cast<size_t>(pool.worker_index()); };
  // Attention of head h of sequence s over the fused QKV rows; in the last layer only the
  // first token's query (row s of context).
  auto attend = [&](size_t s, size_t h, bool last) {
    const size_t len = batch[s].size();
    const size_t row0 = start[s];
    const float* qh = qkv + row0 * qkv_width + h * head_dim;
    float* out = (last ? context + s * hidden : context + row0 * hidden) + h * head_dim;
    kernels::attention_forward(last ? 1 : len, len, head_dim, scale, qh, qh + hidden,
                               qh + 2 * hidden, qkv_width, out, hidden,
                               ws.attention[worker()].data());
  };
  // The head reads only each sequence's first token, so after the last layer's attention
  // (which needs every token's keys and values) only those rows go on: rows [0, seqs).
  auto keep_first_tokens = [&] {
    for (size_t s = 0; s < seqs; ++s) {
      if (s != start[s]) {
        std::memcpy(x + s * hidden, x + start[s] * hidden, hidden * sizeof(float));
      }
    }
  };

  if (threads > 1 && tokens <= kFewRows) {
    // Few rows (a short text alone): the weights' traffic and the pool's barriers are the cost,
    // so each layer is four parallel regions, one per matrix, each ending in the one barrier
    // its consumers need. Every task reads its own columns of the weights, once. The bias is
    // added in the GEMM's epilogue and the activation right after it by the same task; each
    // LayerNorm (with its residual) is applied by every task of the next region to its own
    // copy of the rows (they are few), task 0 writing the shared one, instead of in a region
    // of its own. Every copy has the same bits, so the result is the bits of the other path.
    float* x_next = grow(ws.x_next, tokens * hidden);
    ws.normed.resize(std::max(ws.normed.size(), threads));
    ws.prepared.resize(std::max(ws.prepared.size(), threads));
    for (size_t t = 0; t < threads; ++t) grow(ws.normed[t], tokens * hidden);
    size_t rows = tokens;
    const LayerNormWeights* pending = nullptr;  // LayerNorm(x + tmp) still to apply
    // The rows a task multiplies: x, or this task's copy of LayerNorm(x + tmp).
    auto input = [&](size_t task) -> const float* {
      if (pending == nullptr) return x;
      float* out = task == 0 ? x_next : ws.normed[worker()].data();
      std::memcpy(out, x, rows * hidden * sizeof(float));
      kernels::layernorm_forward(out, tmp, rows, hidden, pending->gamma.data(),
                                 pending->beta.data(), eps, out, nullptr, nullptr);
      return out;
    };
    auto applied = [&] {
      if (pending == nullptr) return;
      std::swap(x, x_next);
      pending = nullptr;
    };
    // bf16 / int8: the task's own conversion of its input rows (nothing for fp32).
    auto prepare = [&](const kernels::PackedLinear& m, const float* in, size_t ldx) {
      if (m.precision() == kernels::Precision::kFp32) {
        return static_cast<const std::byte*>(nullptr);
      }
      std::byte* p = grow_aligned(ws.prepared[worker()], m.scratch_bytes(rows));
      m.prepare_rows(in, ldx, 0, rows, p);
      return static_cast<const std::byte*>(p);
    };
    // y = act(in·Wᵀ + b), one task per run of output columns; in == nullptr: input(task).
    auto columns = [&](const kernels::PackedLinear& m, const float* in, size_t ldx, float* y,
                       size_t ldy, const std::string* act, bool tanh = false) {
      const size_t parts = column_parts(m, threads);
      pool.parallel_for(parts, [&](size_t p) {
        const float* a = in != nullptr ? in : input(p);
        const Columns cols = column_part(m, parts, p);
        m.compute(a, ldx, prepare(m, a, ldx), 0, rows, cols.c0, cols.c1, y, ldy);
        if (act != nullptr) activation(*act, y, ldy, 0, rows, cols.c0, cols.c1);
        if (tanh) {
          for (size_t r = 0; r < rows; ++r) {
            kernels::tanh_forward(y + r * ldy + cols.c0, y + r * ldy + cols.c0, cols.c1 - cols.c0);
          }
        }
      });
      if (in == nullptr) applied();
    };
    // Q, K and V of a group of heads are whole 32-column blocks when head_dim is a multiple of
    // 32: then one task computes its heads' projections and their attention, no barrier between.
    const bool heads_own_columns = head_dim % kernels::PackedLinear::column_block() == 0;
    const size_t groups = std::min(heads, threads);
    for (size_t l = 0; l < layers_.size(); ++l) {
      const auto& packed = layers_[l];
      const auto& layer = w.layers[l];
      const bool last = l + 1 == layers_.size();
      rows = tokens;
      if (heads_own_columns) {
        pool.parallel_for(groups, [&](size_t g) {
          const float* a = input(g);
          const std::byte* prepared = prepare(packed.qkv, a, hidden);
          const size_t h0 = g * heads / groups;
          const size_t h1 = (g + 1) * heads / groups;
          for (size_t part = 0; part < 3; ++part) {  // Q, K, V
            const size_t c0 = part * hidden + h0 * head_dim;
            packed.qkv.compute(a, hidden, prepared, 0, rows, c0, c0 + (h1 - h0) * head_dim, qkv,
                               qkv_width);
          }
          for (size_t s = 0; s < seqs; ++s) {
            for (size_t h = h0; h < h1; ++h) attend(s, h, last);
          }
        });
        applied();
      } else {
        columns(packed.qkv, nullptr, hidden, qkv, qkv_width, nullptr);
        pool.parallel_for(seqs * heads,
                          [&](size_t task) { attend(task / heads, task % heads, last); });
      }
      if (last) {
        keep_first_tokens();
        rows = seqs;
      }
      columns(packed.attention_out, context, hidden, tmp, hidden, nullptr);
      pending = &layer.attention_norm;
      columns(packed.intermediate, nullptr, hidden, inter, ffn, &c.hidden_act);
      columns(packed.output, inter, ffn, tmp, hidden, nullptr);
      pending = &layer.output_norm;
    }
    // The head's dense layer over the pool, each task applying the last LayerNorm to its own
    // copy of the rows first (task 0 writing the shared one), then tanh on its columns.
    float* dense = grow(ws.context, seqs * hidden);
    columns(head_dense_, nullptr, hidden, dense, hidden, nullptr, /*tanh=*/true);
  } else {
    for (size_t l = 0; l < layers_.size(); ++l) {
      const auto& packed = layers_[l];
      const auto& layer = w.layers[l];
      const bool last = l + 1 == layers_.size();
      linear(pool, packed.qkv, tokens, x, hidden, qkv, qkv_width, ws.scratch);

      // Self-attention, one task per (sequence, head); a sequence attends only to itself.
      pool.parallel_for(seqs * heads,
                        [&](size_t task) { attend(task / heads, task % heads, last); });

      size_t rows = tokens;
      if (last) {
        keep_first_tokens();
        rows = seqs;
      }

      // Attention output projection, residual, LayerNorm (into x).
      linear(pool, packed.attention_out, rows, context, hidden, tmp, hidden, ws.scratch);
      parallel_ranges(pool, rows, 8, [&](size_t r0, size_t r1) {
        float* out = tmp + r0 * hidden;
        kernels::layernorm_forward(out, x + r0 * hidden, r1 - r0, hidden,
                                   layer.attention_norm.gamma.data(),
                                   layer.attention_norm.beta.data(), eps, out, nullptr, nullptr);
      });
      std::swap(x, tmp);

      // Feed-forward: activation(x W1ᵀ + b1) W2ᵀ + b2, residual, LayerNorm.
      linear(pool, packed.intermediate, rows, x, hidden, inter, ffn, ws.scratch, &c.hidden_act);
      linear(pool, packed.output, rows, inter, ffn, tmp, hidden, ws.scratch);
      parallel_ranges(pool, rows, 8, [&](size_t r0, size_t r1) {
        float* out = tmp + r0 * hidden;
        kernels::layernorm_forward(out, x + r0 * hidden, r1 - r0, hidden,
                                   layer.output_norm.gamma.data(), layer.output_norm.beta.data(),
                                   eps, out, nullptr, nullptr);
      });
      std::swap(x, tmp);
    }
    linear(pool, head_dense_, seqs, x, hidden, context, hidden, ws.scratch);
    kernels::tanh_forward(context, context, seqs * hidden);
  }

  // Classification head on each sequence's first token (<s> or [CLS]), now row s: dense → tanh
  // (above on the few-rows path) → out_proj (BERT: pooler → classifier), in fp32. The packed
  // kernels give a row the same bits whatever the rows beside it; the tiny output layer runs
  // one sequence at a time, since BLAS sums a product differently for different row counts,
  // and a sequence's logits must not depend on the batch it came in (a distributed job
  // batches differently from the CLI).
  const size_t labels = static_cast<size_t>(c.num_labels());
  std::vector<float> logits(seqs * labels);
  float* dense = ws.context.data();
  for (size_t s = 0; s < seqs; ++s) {
    kernels::linear_forward(1, labels, hidden, dense + s * hidden, hidden,
                            w.classifier_out.weight.data(), w.classifier_out.bias.data(),
                            logits.data() + s * labels, labels);
  }
  return logits;
}

}  // namespace refusal::model
