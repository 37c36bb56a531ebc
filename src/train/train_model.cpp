#include "train/train_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "kernels/ops.h"
#include "model/architecture.h"
#include "model/safetensors.h"
#include "model/weights.h"
#include "refusal/error.h"

namespace refusal::train {

using std::size_t;

TrainConfig load_train_config(const std::filesystem::path& path) {
  TrainConfig c;
  c.model = load_model_config(path);
  std::ifstream in(path);
  const auto j = nlohmann::json::parse(in);
  auto num = [&](const char* key, float fallback) {
    auto it = j.find(key);
    return it != j.end() && it->is_number() ? it->get<float>() : fallback;
  };
  c.hidden_dropout = num("hidden_dropout_prob", 0.1f);
  c.attention_dropout = num("attention_probs_dropout_prob", 0.1f);
  c.classifier_dropout = num("classifier_dropout", c.hidden_dropout);
  c.initializer_range = num("initializer_range", 0.02f);
  if (c.model.hidden_act != "gelu") {
    throw Error(path.string() + ": training supports hidden_act \"gelu\" only, not \"" +
                c.model.hidden_act + "\"");
  }
  if (c.model.multi_label())
    throw Error(path.string() + ": training supports single-label models only");
  return c;
}

Params Params::layout(const ModelConfig& c) {
  Params p;
  const std::int64_t h = c.hidden_size, f = c.intermediate_size;
  size_t offset = 0;
  auto add = [&](const std::string& name, std::vector<std::int64_t> shape, bool decay) {
    size_t n = 1;
    for (auto d : shape) n *= static_cast<size_t>(d);
    p.tensors.push_back({name, std::move(shape), offset, n, decay});
    offset += n;
  };
  auto linear = [&](const std::string& prefix, std::int64_t out, std::int64_t in) {
    add(prefix + ".weight", {out, in}, true);
    add(prefix + ".bias", {out}, false);
  };
  auto norm = [&](const std::string& prefix) {
    add(prefix + ".weight", {h}, false);
    add(prefix + ".bias", {h}, false);
  };
  const auto& scheme = architecture_scheme(c);
  const std::string base = scheme.base + ".";
  add(base + "embeddings.word_embeddings.weight", {c.vocab_size, h}, true);
  add(base + "embeddings.position_embeddings.weight", {c.max_position_embeddings, h}, true);
  add(base + "embeddings.token_type_embeddings.weight", {c.type_vocab_size, h}, true);
  norm(base + "embeddings.LayerNorm");
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p0 = base + "encoder.layer." + std::to_string(i);
    linear(p0 + ".attention.self.query", h, h);
    linear(p0 + ".attention.self.key", h, h);
    linear(p0 + ".attention.self.value", h, h);
    linear(p0 + ".attention.output.dense", h, h);
    norm(p0 + ".attention.output.LayerNorm");
    linear(p0 + ".intermediate.dense", f, h);
    linear(p0 + ".output.dense", h, f);
    norm(p0 + ".output.LayerNorm");
  }
  // RoBERTa: classifier.dense, classifier.out_proj; BERT: bert.pooler.dense, classifier.
  linear(scheme.head_dense, h, h);
  linear(scheme.head_out, c.num_labels(), h);
  p.data.assign(offset, 0.0f);
  return p;
}

const ParamTensor& Params::tensor(const std::string& name) const {
  for (const auto& t : tensors) {
    if (t.name == name) return t;
  }
  throw Error("no parameter named '" + name + "'");
}

std::vector<std::string> load_params(Params& params,
                                     const std::vector<std::filesystem::path>& files,
                                     const TrainConfig* init_missing_head, std::uint64_t seed) {
  model::TensorSet set(files);
  model::TensorLayout layout;
  const ModelConfig* mc = init_missing_head ? &init_missing_head->model : nullptr;
  if (mc) layout = model::detect_layout(*mc, set);
  std::mt19937_64 rng(seed);
  std::vector<std::string> initialized;
  for (auto& t : params.tensors) {
    const std::string file_name = mc ? layout.file_name(*mc, t.name) : t.name;
    const model::TensorView* v = set.find(file_name);
    float* dst = params.data.data() + t.offset;
    if (v == nullptr && mc) {
      const auto& scheme = architecture_scheme(*mc);
      const bool head = t.name.rfind(scheme.head_dense + ".", 0) == 0 ||
                        t.name.rfind(scheme.head_out + ".", 0) == 0;
      if (head && !layout.has_head) {
        // transformers' _init_weights for a head the checkpoint lacks: Linear weights
        // normal(0, initializer_range), biases zero.
        const bool bias = t.name.size() > 5 && t.name.compare(t.name.size() - 5, 5, ".bias") == 0;
        std::normal_distribution<float> normal(0.0f, init_missing_head->initializer_range);
        for (size_t i = 0; i < t.size; ++i) dst[i] = bias ? 0.0f : normal(rng);
        initialized.push_back(t.name);
        continue;
      }
    }
    if (v == nullptr) throw Error("missing tensor '" + file_name + "' in the model's weights");
    if (v->shape != t.shape) {
      throw Error(v->file.string() + ": tensor '" + file_name + "' has shape " + v->shape_string() +
                  ", not what config.json implies");
    }
    std::vector<float> owned;
    const auto f = model::as_float(*v, owned);
    std::memcpy(dst, f.data(), t.size * sizeof(float));
  }
  return initialized;
}

void init_params(Params& params, const TrainConfig& config, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, config.initializer_range);
  for (auto& t : params.tensors) {
    float* p = params.data.data() + t.offset;
    const bool is_norm = t.name.find("LayerNorm") != std::string::npos;
    const bool is_bias = t.name.size() > 5 && t.name.compare(t.name.size() - 5, 5, ".bias") == 0;
    if (is_norm && !is_bias) {
      std::fill(p, p + t.size, 1.0f);
    } else if (is_bias) {
      std::fill(p, p + t.size, 0.0f);
    } else {
      for (size_t i = 0; i < t.size; ++i) p[i] = normal(rng);
    }
  }
  const size_t h = static_cast<size_t>(config.model.hidden_size);
  const auto& scheme = architecture_scheme(config.model);
  float* word = params.ptr(scheme.base + ".embeddings.word_embeddings.weight");
  const size_t pad = static_cast<size_t>(config.model.pad_token_id);
  std::fill(word + pad * h, word + (pad + 1) * h, 0.0f);
  if (scheme.pad_position_row) {
    float* pos = params.ptr(scheme.base + ".embeddings.position_embeddings.weight");
    std::fill(pos + pad * h, pos + (pad + 1) * h, 0.0f);
  }
}

// ---------------------------------------------------------------------------------------------
// The passes: kernels/ops.h's ops, split over the pool here.

namespace {

using base::parallel_ranges;

// Rows split over the pool.
void linear_forward(base::ThreadPool& pool, size_t m, size_t n, size_t k, const float* x,
                    size_t ldx, const float* w, const float* b, float* y, size_t ldy) {
  parallel_ranges(pool, m, 16, [&](size_t r0, size_t r1) {
    kernels::linear_forward(r1 - r0, n, k, x + r0 * ldx, ldx, w, b, y + r0 * ldy, ldy);
  });
}

// Weight and bias gradients split by output features, the input gradient by rows.
void linear_backward(base::ThreadPool& pool, size_t m, size_t n, size_t k, const float* x,
                     size_t ldx, const float* w, const float* dy, size_t lddy, float* dw, float* db,
                     float* dx, size_t lddx, bool accumulate_dx) {
  parallel_ranges(pool, n, 8, [&](size_t o0, size_t o1) {
    kernels::linear_backward(m, o1 - o0, k, x, ldx, w + o0 * k, dy + o0, lddy, dw + o0 * k, db + o0,
                             nullptr, 0, false);
  });
  if (dx == nullptr) return;
  parallel_ranges(pool, m, 16, [&](size_t r0, size_t r1) {
    kernels::linear_backward(r1 - r0, n, k, x + r0 * ldx, ldx, w, dy + r0 * lddy, lddy, nullptr,
                             nullptr, dx + r0 * lddx, lddx, accumulate_dx);
  });
}

void layernorm_forward(base::ThreadPool& pool, float* x, const float* residual, size_t rows,
                       size_t width, const float* gamma, const float* beta, float eps, float* out,
                       float* mean, float* rstd) {
  parallel_ranges(pool, rows, 16, [&](size_t r0, size_t r1) {
    kernels::layernorm_forward(x + r0 * width, residual ? residual + r0 * width : nullptr, r1 - r0,
                               width, gamma, beta, eps, out + r0 * width, mean + r0, rstd + r0);
  });
}

// Fixed row blocks, their parameter gradients summed in block order: the result does not
// depend on the number of threads.
void layernorm_backward(base::ThreadPool& pool, size_t rows, size_t width, const float* x,
                        const float* mean, const float* rstd, const float* gamma, const float* dout,
                        float* dx, float* dgamma, float* dbeta) {
  const size_t block = 64;
  const size_t blocks = (rows + block - 1) / block;
  std::vector<double> dg(blocks * width, 0.0), db(blocks * width, 0.0);
  pool.parallel_for(blocks, [&](size_t b) {
    const size_t r0 = b * block, r1 = std::min(rows, r0 + block);
    kernels::layernorm_backward(r1 - r0, width, x + r0 * width, mean + r0, rstd + r0, gamma,
                                dout + r0 * width, dx + r0 * width, dg.data() + b * width,
                                db.data() + b * width);
  });
  for (size_t j = 0; j < width; ++j) {
    double sg = 0, sb = 0;
    for (size_t b = 0; b < blocks; ++b) {
      sg += dg[b * width + j];
      sb += db[b * width + j];
    }
    dgamma[j] += static_cast<float>(sg);
    dbeta[j] += static_cast<float>(sb);
  }
}

struct Dims {
  size_t hidden, ffn, heads, head_dim, layers, labels;
  explicit Dims(const ModelConfig& c)
      : hidden(static_cast<size_t>(c.hidden_size)),
        ffn(static_cast<size_t>(c.intermediate_size)),
        heads(static_cast<size_t>(c.num_attention_heads)),
        head_dim(hidden / heads),
        layers(static_cast<size_t>(c.num_hidden_layers)),
        labels(static_cast<size_t>(c.num_labels())) {}
};

// Dropout sites: each draws its own stream, so masks never depend on the order of the draws.
constexpr std::uint64_t kEmbeddingSite = 1, kHeadInputSite = 2, kHeadDenseSite = 3;
std::uint64_t layer_site(size_t layer, std::uint64_t which) { return 100 + layer * 8 + which; }
constexpr std::uint64_t kAttentionProbs = 0, kAttentionOutput = 1, kFfnOutput = 2;

// Draws the mask of a dropout site over n values in one piece, or empties it when dropout is
// off there.
void draw_mask(const DropoutSpec& d, float p, std::uint64_t site, std::vector<float>& mask,
               size_t n) {
  if (!d.enabled || p <= 0.0f) {
    mask.clear();
    return;
  }
  mask.resize(n);
  kernels::dropout_mask(kernels::dropout_stream(d.seed, d.key, site), 0, p, mask.data(), n);
}

}  // namespace

struct TrainModel::Acts {
  size_t seqs = 0, tokens = 0;
  std::vector<size_t> start;  // sequence s owns token rows [start[s], start[s + 1])
  std::vector<std::int32_t> ids, positions;
  // A dropout mask is empty where dropout is off.
  std::vector<float> emb_sum, emb_mean, emb_rstd, emb_mask;  // emb_sum: the LayerNorm's input
  struct LayerActs {
    std::vector<float> qkv, probs, attn_mask, ctx;
    std::vector<float> attn_sum, ln1_mean, ln1_rstd, ao_mask, h1;  // LayerNorm 1: input, output
    std::vector<float> inter_pre, inter_act;
    std::vector<float> ffn_sum, ln2_mean, ln2_rstd, out_mask;  // LayerNorm 2's input
  };
  std::vector<std::vector<float>> xs;  // xs[l]: input of layer l; xs[L]: the encoder's output
  std::vector<LayerActs> layers;
  std::vector<size_t> prob_offset;  // per (seq, head): offset into probs
  size_t longest = 0;
  std::vector<std::vector<float>> attention_scratch;  // per pool thread (worker_index())
  std::vector<float> cls, cls_mask, cls_d, dense_t, dense_mask, dense_d, logits, softmax;
  std::vector<int> labels;
  std::vector<float> sample_weight;  // class weight of each label / Σ weights
};

TrainModel::TrainModel(TrainConfig config, Params params)
    : config_(std::move(config)), params_(std::move(params)), acts_(std::make_shared<Acts>()) {
  const auto& scheme = architecture_scheme(config_.model);
  const std::string base = scheme.base + ".";
  auto at = [&](const std::string& name) { return params_.tensor(name).offset; };
  auto linear = [&](const std::string& prefix) {
    return Linear{at(prefix + ".weight"), at(prefix + ".bias")};
  };
  auto norm = [&](const std::string& prefix) {
    return Norm{at(prefix + ".weight"), at(prefix + ".bias")};
  };
  at_.word = at(base + "embeddings.word_embeddings.weight");
  at_.position = at(base + "embeddings.position_embeddings.weight");
  at_.type = at(base + "embeddings.token_type_embeddings.weight");
  at_.embedding_norm = norm(base + "embeddings.LayerNorm");
  for (int i = 0; i < config_.model.num_hidden_layers; ++i) {
    const std::string p = base + "encoder.layer." + std::to_string(i);
    at_.layers.push_back(
        {linear(p + ".attention.self.query"), linear(p + ".attention.self.key"),
         linear(p + ".attention.self.value"), linear(p + ".attention.output.dense"),
         norm(p + ".attention.output.LayerNorm"), linear(p + ".intermediate.dense"),
         linear(p + ".output.dense"), norm(p + ".output.LayerNorm")});
  }
  at_.head_dense = linear(scheme.head_dense);
  at_.head_out = linear(scheme.head_out);
}

ForwardResult TrainModel::forward(std::span<const std::vector<std::int32_t>> batch,
                                  std::span<const int> labels, std::span<const float> class_weights,
                                  const DropoutSpec& dropout, base::ThreadPool& pool) {
  pack(batch);
  embeddings_forward(dropout, pool);
  for (size_t l = 0; l < acts_->layers.size(); ++l) layer_forward(l, dropout, pool);
  head_forward(dropout, pool);
  return loss_forward(labels, class_weights);
}

void TrainModel::backward(float loss_scale, std::vector<float>& grad, base::ThreadPool& pool) {
  Acts& a = *acts_;
  if (a.sample_weight.size() != a.seqs) throw Error("backward needs a forward with labels");
  if (grad.size() != params_.data.size()) grad.assign(params_.data.size(), 0.0f);
  std::vector<float> dx = head_backward(loss_scale, grad.data(), pool);
  for (size_t l = a.layers.size(); l-- > 0;) layer_backward(l, dx, grad.data(), pool);
  embeddings_backward(dx, grad.data(), pool);
}

// Ragged packing: ids and positions of every token, sequences one after another.
void TrainModel::pack(std::span<const std::vector<std::int32_t>> batch) {
  const auto& c = config_.model;
  Acts& a = *acts_;
  a.seqs = batch.size();
  a.start.assign(a.seqs + 1, 0);
  for (size_t s = 0; s < a.seqs; ++s) {
    if (batch[s].empty()) throw Error("empty sequence in a training batch");
    a.start[s + 1] = a.start[s] + batch[s].size();
  }
  a.tokens = a.start.back();
  a.ids.resize(a.tokens);
  a.positions.resize(a.tokens);
  for (size_t s = 0; s < a.seqs; ++s) {
    const auto pos = position_ids(c, batch[s]);
    for (size_t i = 0; i < batch[s].size(); ++i) {
      const auto id = batch[s][i];
      if (id < 0 || id >= c.vocab_size) throw Error("token id out of the vocabulary");
      if (pos[i] >= c.max_position_embeddings) throw Error("sequence longer than the model allows");
      a.ids[a.start[s] + i] = id;
      a.positions[a.start[s] + i] = pos[i];
    }
  }
  // Attention probabilities: one [len, len] block per (sequence, head).
  const size_t heads = static_cast<size_t>(c.num_attention_heads);
  a.prob_offset.assign(a.seqs * heads + 1, 0);
  size_t longest = 0;
  for (size_t s = 0; s < a.seqs; ++s) {
    const size_t len = batch[s].size();
    longest = std::max(longest, len);
    for (size_t h = 0; h < heads; ++h) {
      a.prob_offset[s * heads + h + 1] = a.prob_offset[s * heads + h] + len * len;
    }
  }
  a.longest = longest;
  a.xs.resize(static_cast<size_t>(c.num_hidden_layers) + 1);
  a.layers.resize(static_cast<size_t>(c.num_hidden_layers));
}

// Per pool thread, room for the attention ops' scratch (at most 2 · len²) of the longest
// sequence.
void TrainModel::size_attention_scratch(base::ThreadPool& pool) {
  Acts& a = *acts_;
  a.attention_scratch.resize(static_cast<size_t>(pool.threads()));
  for (auto& s : a.attention_scratch) s.resize(2 * a.longest * a.longest);
}

void TrainModel::embeddings_forward(const DropoutSpec& dropout, base::ThreadPool& pool) {
  const size_t H = Dims(config_.model).hidden, T = acts_->tokens;
  Acts& a = *acts_;
  const float* P = params_.data.data();
  a.emb_sum.resize(T * H);
  a.emb_mean.resize(T);
  a.emb_rstd.resize(T);
  a.xs[0].resize(T * H);
  parallel_ranges(pool, T, 16, [&](size_t r0, size_t r1) {
    kernels::embeddings_forward(r1 - r0, H, a.ids.data() + r0, a.positions.data() + r0,
                                P + at_.word, P + at_.type, P + at_.position,
                                a.emb_sum.data() + r0 * H);
  });
  layernorm_forward(pool, a.emb_sum.data(), nullptr, T, H, P + at_.embedding_norm.gamma,
                    P + at_.embedding_norm.beta, config_.model.layer_norm_eps, a.xs[0].data(),
                    a.emb_mean.data(), a.emb_rstd.data());
  if (!dropout.enabled || config_.hidden_dropout <= 0.0f) {
    a.emb_mask.clear();
    return;
  }
  // One draw per row (index = row), so the split of rows over threads changes nothing.
  a.emb_mask.resize(T * H);
  const auto stream = kernels::dropout_stream(dropout.seed, dropout.key, kEmbeddingSite);
  parallel_ranges(pool, T, 16, [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; ++r) {
      kernels::dropout_mask(stream, r, config_.hidden_dropout, a.emb_mask.data() + r * H, H);
    }
  });
  kernels::dropout_forward(a.xs[0].data(), a.emb_mask.data(), T * H);
}

// Self-attention → output projection → dropout → residual → LayerNorm → FFN (GELU) → dropout →
// residual → LayerNorm.
void TrainModel::layer_forward(size_t l, const DropoutSpec& dropout, base::ThreadPool& pool) {
  const Dims d(config_.model);
  const size_t H = d.hidden, F = d.ffn, D = d.head_dim, NH = d.heads;
  Acts& a = *acts_;
  const size_t T = a.tokens;
  auto& la = a.layers[l];
  const Layer& at = at_.layers[l];
  const float* P = params_.data.data();
  const float eps = config_.model.layer_norm_eps;
  const float* x = a.xs[l].data();

  // Q, K and V side by side in one [T, 3H] buffer; then one task per (sequence, head).
  la.qkv.resize(T * 3 * H);
  const Linear* qkv[] = {&at.query, &at.key, &at.value};
  for (size_t p = 0; p < 3; ++p) {
    linear_forward(pool, T, H, H, x, H, P + qkv[p]->w, P + qkv[p]->b, la.qkv.data() + p * H, 3 * H);
  }
  la.probs.resize(a.prob_offset.back());
  la.ctx.resize(T * H);
  const bool attention_dropout = dropout.enabled && config_.attention_dropout > 0.0f;
  if (attention_dropout) {
    la.attn_mask.resize(a.prob_offset.back());  // drawn per task below
  } else {
    la.attn_mask.clear();
  }
  const auto stream =
      kernels::dropout_stream(dropout.seed, dropout.key, layer_site(l, kAttentionProbs));
  size_attention_scratch(pool);
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  pool.parallel_for(a.seqs * NH, [&](size_t task) {
    const size_t s = task / NH, h = task % NH;
    const size_t len = a.start[s + 1] - a.start[s], row0 = a.start[s];
    const float* q = la.qkv.data() + row0 * 3 * H + h * D;
    float* mask = nullptr;
    if (attention_dropout) {
      mask = la.attn_mask.data() + a.prob_offset[task];
      kernels::dropout_mask(stream, task, config_.attention_dropout, mask, len * len);
    }
    float* scratch = a.attention_scratch[static_cast<size_t>(pool.worker_index())].data();
    kernels::attention_forward_keep(len, D, scale, q, q + H, q + 2 * H, 3 * H, mask,
                                    la.probs.data() + a.prob_offset[task], scratch,
                                    la.ctx.data() + row0 * H + h * D, H);
  });

  la.attn_sum.resize(T * H);
  la.h1.resize(T * H);
  la.ln1_mean.resize(T);
  la.ln1_rstd.resize(T);
  linear_forward(pool, T, H, H, la.ctx.data(), H, P + at.attention_out.w, P + at.attention_out.b,
                 la.attn_sum.data(), H);
  draw_mask(dropout, config_.hidden_dropout, layer_site(l, kAttentionOutput), la.ao_mask, T * H);
  if (!la.ao_mask.empty()) kernels::dropout_forward(la.attn_sum.data(), la.ao_mask.data(), T * H);
  layernorm_forward(pool, la.attn_sum.data(), x, T, H, P + at.attention_norm.gamma,
                    P + at.attention_norm.beta, eps, la.h1.data(), la.ln1_mean.data(),
                    la.ln1_rstd.data());

  la.inter_pre.resize(T * F);
  la.inter_act.resize(T * F);
  la.ffn_sum.resize(T * H);
  la.ln2_mean.resize(T);
  la.ln2_rstd.resize(T);
  a.xs[l + 1].resize(T * H);
  linear_forward(pool, T, F, H, la.h1.data(), H, P + at.intermediate.w, P + at.intermediate.b,
                 la.inter_pre.data(), F);
  parallel_ranges(pool, T * F, 4096, [&](size_t i0, size_t i1) {
    kernels::gelu_erf_forward(la.inter_pre.data() + i0, la.inter_act.data() + i0, i1 - i0);
  });
  linear_forward(pool, T, H, F, la.inter_act.data(), F, P + at.output.w, P + at.output.b,
                 la.ffn_sum.data(), H);
  draw_mask(dropout, config_.hidden_dropout, layer_site(l, kFfnOutput), la.out_mask, T * H);
  if (!la.out_mask.empty()) kernels::dropout_forward(la.ffn_sum.data(), la.out_mask.data(), T * H);
  layernorm_forward(pool, la.ffn_sum.data(), la.h1.data(), T, H, P + at.output_norm.gamma,
                    P + at.output_norm.beta, eps, a.xs[l + 1].data(), la.ln2_mean.data(),
                    la.ln2_rstd.data());
}

// First token → dropout → dense → tanh → dropout → out_proj (RoBERTa), or first token → pooler
// dense → tanh → dropout → classifier (BERT).
void TrainModel::head_forward(const DropoutSpec& dropout, base::ThreadPool& pool) {
  const Dims d(config_.model);
  const size_t H = d.hidden, C = d.labels;
  Acts& a = *acts_;
  const size_t S = a.seqs;
  const float* P = params_.data.data();
  const float p = config_.classifier_dropout;
  a.cls.resize(S * H);
  for (size_t s = 0; s < S; ++s) {
    std::memcpy(a.cls.data() + s * H, a.xs[d.layers].data() + a.start[s] * H, H * sizeof(float));
  }
  a.cls_d = a.cls;
  // BERT drops out after the pooler only.
  const bool before_dense = architecture_scheme(config_.model).dropout_before_dense;
  draw_mask(dropout, before_dense ? p : 0.0f, kHeadInputSite, a.cls_mask, S * H);
  if (!a.cls_mask.empty()) kernels::dropout_forward(a.cls_d.data(), a.cls_mask.data(), S * H);
  a.dense_t.resize(S * H);
  linear_forward(pool, S, H, H, a.cls_d.data(), H, P + at_.head_dense.w, P + at_.head_dense.b,
                 a.dense_t.data(), H);
  kernels::tanh_forward(a.dense_t.data(), a.dense_t.data(), S * H);
  a.dense_d = a.dense_t;
  draw_mask(dropout, p, kHeadDenseSite, a.dense_mask, S * H);
  if (!a.dense_mask.empty()) kernels::dropout_forward(a.dense_d.data(), a.dense_mask.data(), S * H);
  a.logits.resize(S * C);
  linear_forward(pool, S, C, H, a.dense_d.data(), H, P + at_.head_out.w, P + at_.head_out.b,
                 a.logits.data(), C);
}

// Cross-entropy, mean over the batch weighted by the labels' class weights.
ForwardResult TrainModel::loss_forward(std::span<const int> labels,
                                       std::span<const float> class_weights) {
  Acts& a = *acts_;
  const size_t S = a.seqs, C = Dims(config_.model).labels;
  ForwardResult result;
  result.logits = a.logits;
  a.labels.assign(labels.begin(), labels.end());
  a.softmax.resize(S * C);
  a.sample_weight.clear();
  if (labels.empty()) return result;
  if (labels.size() != S) {
    throw Error("label count " + std::to_string(labels.size()) + " does not match the batch's " +
                std::to_string(S) + " sequences");
  }
  for (size_t s = 0; s < S; ++s) {
    if (labels[s] < 0 || static_cast<size_t>(labels[s]) >= C) {
      throw Error("label " + std::to_string(labels[s]) + " of sequence " + std::to_string(s) +
                  " is out of range: the model has " + std::to_string(C) + " labels");
    }
  }
  std::vector<double> nll(S);
  kernels::cross_entropy_forward(S, C, a.logits.data(), labels.data(), a.softmax.data(),
                                 nll.data());
  auto weight = [&](size_t s) {
    return class_weights.empty() ? 1.0 : class_weights[static_cast<size_t>(labels[s])];
  };
  double wsum = 0, loss = 0;
  for (size_t s = 0; s < S; ++s) {
    wsum += weight(s);
    loss += weight(s) * nll[s];
  }
  a.sample_weight.resize(S);
  for (size_t s = 0; s < S; ++s) a.sample_weight[s] = static_cast<float>(weight(s) / wsum);
  result.loss = loss / wsum;
  result.weight_sum = wsum;
  return result;
}

// Cross-entropy and the head; returns ∂/∂(encoder output), [tokens, hidden] (zero but for each
// sequence's first token).
std::vector<float> TrainModel::head_backward(float loss_scale, float* G, base::ThreadPool& pool) {
  const Dims d(config_.model);
  const size_t H = d.hidden, C = d.labels;
  Acts& a = *acts_;
  const size_t S = a.seqs;
  const float* P = params_.data.data();
  std::vector<float> row_scale(S), dlogits(S * C);
  for (size_t s = 0; s < S; ++s) row_scale[s] = loss_scale * a.sample_weight[s];
  kernels::cross_entropy_backward(S, C, a.softmax.data(), a.labels.data(), row_scale.data(),
                                  dlogits.data());
  std::vector<float> d_dense(S * H), d_cls(S * H);
  linear_backward(pool, S, C, H, a.dense_d.data(), H, P + at_.head_out.w, dlogits.data(), C,
                  G + at_.head_out.w, G + at_.head_out.b, d_dense.data(), H, false);
  if (!a.dense_mask.empty()) kernels::dropout_backward(d_dense.data(), a.dense_mask.data(), S * H);
  kernels::tanh_backward(a.dense_t.data(), d_dense.data(), d_dense.data(), S * H);
  linear_backward(pool, S, H, H, a.cls_d.data(), H, P + at_.head_dense.w, d_dense.data(), H,
                  G + at_.head_dense.w, G + at_.head_dense.b, d_cls.data(), H, false);
  if (!a.cls_mask.empty()) kernels::dropout_backward(d_cls.data(), a.cls_mask.data(), S * H);
  std::vector<float> dx(a.tokens * H, 0.0f);
  for (size_t s = 0; s < S; ++s) {
    std::memcpy(dx.data() + a.start[s] * H, d_cls.data() + s * H, H * sizeof(float));
  }
  return dx;
}

// dx: ∂/∂(layer output) in, ∂/∂(layer input) out.
void TrainModel::layer_backward(size_t l, std::vector<float>& dx, float* G,
                                base::ThreadPool& pool) {
  const Dims d(config_.model);
  const size_t H = d.hidden, F = d.ffn, D = d.head_dim, NH = d.heads;
  Acts& a = *acts_;
  const size_t T = a.tokens;
  const auto& la = a.layers[l];
  const Layer& at = at_.layers[l];
  const float* P = params_.data.data();
  std::vector<float> dsum(T * H), dinter(T * F), dctx(T * H), dqkv(T * 3 * H);

  // Output LayerNorm; its input's gradient also flows to the residual (h1).
  layernorm_backward(pool, T, H, la.ffn_sum.data(), la.ln2_mean.data(), la.ln2_rstd.data(),
                     P + at.output_norm.gamma, dx.data(), dsum.data(), G + at.output_norm.gamma,
                     G + at.output_norm.beta);
  std::vector<float> dh1 = dsum;
  if (!la.out_mask.empty()) kernels::dropout_backward(dsum.data(), la.out_mask.data(), T * H);
  linear_backward(pool, T, H, F, la.inter_act.data(), F, P + at.output.w, dsum.data(), H,
                  G + at.output.w, G + at.output.b, dinter.data(), F, false);
  parallel_ranges(pool, T * F, 4096, [&](size_t i0, size_t i1) {
    kernels::gelu_erf_backward(la.inter_pre.data() + i0, dinter.data() + i0, dinter.data() + i0,
                               i1 - i0);
  });
  linear_backward(pool, T, F, H, la.h1.data(), H, P + at.intermediate.w, dinter.data(), F,
                  G + at.intermediate.w, G + at.intermediate.b, dh1.data(), H, true);

  // Attention output LayerNorm; its input's gradient also flows to the layer input.
  layernorm_backward(pool, T, H, la.attn_sum.data(), la.ln1_mean.data(), la.ln1_rstd.data(),
                     P + at.attention_norm.gamma, dh1.data(), dsum.data(),
                     G + at.attention_norm.gamma, G + at.attention_norm.beta);
  dx = dsum;
  if (!la.ao_mask.empty()) kernels::dropout_backward(dsum.data(), la.ao_mask.data(), T * H);
  linear_backward(pool, T, H, H, la.ctx.data(), H, P + at.attention_out.w, dsum.data(), H,
                  G + at.attention_out.w, G + at.attention_out.b, dctx.data(), H, false);
  size_attention_scratch(pool);
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  pool.parallel_for(a.seqs * NH, [&](size_t task) {
    const size_t s = task / NH, h = task % NH;
    const size_t len = a.start[s + 1] - a.start[s], row0 = a.start[s];
    const float* q = la.qkv.data() + row0 * 3 * H + h * D;
    float* dq = dqkv.data() + row0 * 3 * H + h * D;
    const float* mask = la.attn_mask.empty() ? nullptr : la.attn_mask.data() + a.prob_offset[task];
    float* scratch = a.attention_scratch[static_cast<size_t>(pool.worker_index())].data();
    kernels::attention_backward(
        len, D, scale, q, q + H, q + 2 * H, 3 * H, la.probs.data() + a.prob_offset[task], mask,
        dctx.data() + row0 * H + h * D, H, dq, dq + H, dq + 2 * H, 3 * H, scratch);
  });
  const Linear* qkv[] = {&at.query, &at.key, &at.value};
  for (size_t p = 0; p < 3; ++p) {
    linear_backward(pool, T, H, H, a.xs[l].data(), H, P + qkv[p]->w, dqkv.data() + p * H, 3 * H,
                    G + qkv[p]->w, G + qkv[p]->b, dx.data(), H, true);
  }
}

void TrainModel::embeddings_backward(std::vector<float>& dx, float* G, base::ThreadPool& pool) {
  const auto& c = config_.model;
  const size_t H = Dims(c).hidden;
  Acts& a = *acts_;
  const size_t T = a.tokens;
  if (!a.emb_mask.empty()) kernels::dropout_backward(dx.data(), a.emb_mask.data(), T * H);
  std::vector<float> dsum(T * H);
  layernorm_backward(pool, T, H, a.emb_sum.data(), a.emb_mean.data(), a.emb_rstd.data(),
                     params_.data.data() + at_.embedding_norm.gamma, dx.data(), dsum.data(),
                     G + at_.embedding_norm.gamma, G + at_.embedding_norm.beta);
  // nn.Embedding(padding_idx=pad): the padding row gets no gradient; BERT's position embeddings
  // have no padding_idx. Every token has type 0: row 0 of the token types gets every gradient.
  const std::int32_t pad = c.pad_token_id;
  kernels::embeddings_backward(T, H, a.ids.data(), a.positions.data(), dsum.data(), pad,
                               architecture_scheme(c).pad_position_row ? pad : -1, G + at_.word,
                               G + at_.type, G + at_.position);
}

}  // namespace refusal::train
