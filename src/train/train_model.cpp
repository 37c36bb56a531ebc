#include "train/train_model.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>

#include "model/safetensors.h"
#include "model/weights.h"
#include "refusal/error.h"

namespace refusal::train {
namespace {

using std::size_t;

int ci(size_t v) { return static_cast<int>(v); }

void blas_single_threaded() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

using base::parallel_ranges;

// Y[m, n] (ldy) = X[m, k] (ldx) · W[n, k]ᵀ + b.
void linear_fwd(base::ThreadPool& pool, size_t m, size_t n, size_t k, const float* x, size_t ldx,
                const float* w, const float* b, float* y, size_t ldy) {
  parallel_ranges(pool, m, 16, [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; ++r) std::memcpy(y + r * ldy, b, n * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, ci(r1 - r0), ci(n), ci(k), 1.0f,
                x + r0 * ldx, ci(ldx), w, ci(k), 1.0f, y + r0 * ldy, ci(ldy));
  });
}

// Given dY [m, n] (lddy): dW[n, k] += dYᵀ X, db += Σ rows dY, and dX[m, k] (lddx) = dY W
// (or += when accumulate_dx). dx may be null.
void linear_bwd(base::ThreadPool& pool, size_t m, size_t n, size_t k, const float* x, size_t ldx,
                const float* w, const float* dy, size_t lddy, float* dw, float* db, float* dx,
                size_t lddx, bool accumulate_dx) {
  // Weight and bias gradients: split the output features.
  parallel_ranges(pool, n, 8, [&](size_t o0, size_t o1) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ci(o1 - o0), ci(k), ci(m), 1.0f, dy + o0,
                ci(lddy), x, ci(ldx), 1.0f, dw + o0 * k, ci(k));
    for (size_t o = o0; o < o1; ++o) {
      double s = 0;
      for (size_t r = 0; r < m; ++r) s += dy[r * lddy + o];
      db[o] += static_cast<float>(s);
    }
  });
  if (dx == nullptr) return;
  parallel_ranges(pool, m, 16, [&](size_t r0, size_t r1) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ci(r1 - r0), ci(k), ci(n), 1.0f,
                dy + r0 * lddy, ci(lddy), w, ci(k), accumulate_dx ? 1.0f : 0.0f, dx + r0 * lddx,
                ci(lddx));
  });
}

// LayerNorm forward of rows of z into y, keeping x̂ and 1/σ.
void ln_fwd(const float* z, size_t rows, size_t h, const float* g, const float* b, float eps,
            float* xhat, float* rstd, float* y) {
  for (size_t r = 0; r < rows; ++r) {
    const float* zr = z + r * h;
    double mean = 0;
    for (size_t j = 0; j < h; ++j) mean += zr[j];
    mean /= static_cast<double>(h);
    double var = 0;
    for (size_t j = 0; j < h; ++j) var += (zr[j] - mean) * (zr[j] - mean);
    var /= static_cast<double>(h);
    const float rs = static_cast<float>(1.0 / std::sqrt(var + eps));
    rstd[r] = rs;
    for (size_t j = 0; j < h; ++j) {
      const float xh = static_cast<float>(zr[j] - mean) * rs;
      xhat[r * h + j] = xh;
      y[r * h + j] = xh * g[j] + b[j];
    }
  }
}

// LayerNorm backward for rows [r0, r1): dz from dy; dg/db accumulated into per-call buffers.
void ln_bwd_rows(size_t r0, size_t r1, size_t h, const float* dy, const float* xhat,
                 const float* rstd, const float* g, float* dz, double* dg, double* db) {
  for (size_t r = r0; r < r1; ++r) {
    const float* dyr = dy + r * h;
    const float* xr = xhat + r * h;
    double m1 = 0, m2 = 0;
    for (size_t j = 0; j < h; ++j) {
      const double d = static_cast<double>(dyr[j]) * g[j];
      m1 += d;
      m2 += d * xr[j];
      dg[j] += static_cast<double>(dyr[j]) * xr[j];
      db[j] += dyr[j];
    }
    m1 /= static_cast<double>(h);
    m2 /= static_cast<double>(h);
    for (size_t j = 0; j < h; ++j) {
      const double d = static_cast<double>(dyr[j]) * g[j];
      dz[r * h + j] = static_cast<float>(rstd[r] * (d - m1 - xr[j] * m2));
    }
  }
}

void ln_bwd(base::ThreadPool& pool, size_t rows, size_t h, const float* dy, const float* xhat,
            const float* rstd, const float* g, float* dz, float* dg, float* db) {
  // Fixed row blocks, summed in block order: the result does not depend on thread timing.
  const size_t block = 64;
  const size_t blocks = (rows + block - 1) / block;
  std::vector<double> lg(blocks * h, 0.0), lb(blocks * h, 0.0);
  pool.parallel_for(blocks, [&](size_t k) {
    ln_bwd_rows(k * block, std::min(rows, (k + 1) * block), h, dy, xhat, rstd, g, dz,
                lg.data() + k * h, lb.data() + k * h);
  });
  for (size_t j = 0; j < h; ++j) {
    double sg = 0, sb = 0;
    for (size_t k = 0; k < blocks; ++k) {
      sg += lg[k * h + j];
      sb += lb[k * h + j];
    }
    dg[j] += static_cast<float>(sg);
    db[j] += static_cast<float>(sb);
  }
}

std::uint64_t splitmix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Dropout mask values (0 or 1/(1-p)) for n elements of one site: depends only on the inputs.
void dropout_mask(const DropoutSpec& d, std::uint64_t site, std::uint64_t index, float p,
                  float* mask, size_t n) {
  const float keep_scale = 1.0f / (1.0f - p);
  std::uint64_t base =
      splitmix(splitmix(splitmix(d.seed) ^ d.key) ^ site) ^ (index * 0x632be59bd9b4e019ULL);
  for (size_t i = 0; i < n; ++i) {
    const std::uint64_t r = splitmix(base + i);
    const float u = static_cast<float>(r >> 40) * (1.0f / 16777216.0f);
    mask[i] = u >= p ? keep_scale : 0.0f;
  }
}

float gelu(float x) { return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f)); }
float gelu_grad(float x) {
  const float cdf = 0.5f * (1.0f + std::erf(x * 0.70710678118654752f));
  const float pdf = 0.39894228040143268f * std::exp(-0.5f * x * x);
  return cdf + x * pdf;
}

}  // namespace

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
  const auto& scheme = c.scheme();
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
      const auto& scheme = mc->scheme();
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
  const auto& scheme = config.model.scheme();
  float* word = params.ptr(scheme.base + ".embeddings.word_embeddings.weight");
  const size_t pad = static_cast<size_t>(config.model.pad_token_id);
  std::fill(word + pad * h, word + (pad + 1) * h, 0.0f);
  if (scheme.pad_position_row) {
    float* pos = params.ptr(scheme.base + ".embeddings.position_embeddings.weight");
    std::fill(pos + pad * h, pos + (pad + 1) * h, 0.0f);
  }
}

// ---------------------------------------------------------------------------------------------

struct TrainModel::Layer {
  const float *wq, *bq, *wk, *bk, *wv, *bv, *wo, *bo, *g1, *b1, *wi, *bi, *wf, *bf, *g2, *b2;
  size_t off_wq, off_bq, off_wk, off_bk, off_wv, off_bv, off_wo, off_bo, off_g1, off_b1, off_wi,
      off_bi, off_wf, off_bf, off_g2, off_b2;
};

struct TrainModel::Acts {
  size_t seqs = 0, tokens = 0;
  std::vector<size_t> start;
  std::vector<std::int32_t> ids, positions;
  bool dropout = false;
  std::vector<float> emb_xhat, emb_rstd, emb_mask;
  struct LayerActs {
    std::vector<float> qkv, probs, attn_mask, ctx, ao_mask, ln1_xhat, ln1_rstd, h1, inter_pre,
        inter_act, out_mask, ln2_xhat, ln2_rstd;
  };
  std::vector<std::vector<float>> xs;  // xs[l]: input of layer l; xs[L]: the encoder's output
  std::vector<LayerActs> layers;
  std::vector<size_t> prob_offset;  // per (seq, head): offset into probs
  std::vector<float> cls, cls_mask, cls_d, dense_t, dense_mask, dense_d, logits, softmax;
  std::vector<int> labels;
  std::vector<float> sample_weight;  // class weight of each label / Σ weights
};

TrainModel::TrainModel(TrainConfig config, Params params)
    : config_(std::move(config)), params_(std::move(params)), acts_(std::make_shared<Acts>()) {
  blas_single_threaded();
}

ForwardResult TrainModel::forward(std::span<const std::vector<std::int32_t>> batch,
                                  std::span<const int> labels, std::span<const float> class_weights,
                                  const DropoutSpec& dropout, base::ThreadPool& pool) {
  const auto& c = config_.model;
  const size_t H = static_cast<size_t>(c.hidden_size);
  const size_t F = static_cast<size_t>(c.intermediate_size);
  const size_t NH = static_cast<size_t>(c.num_attention_heads);
  const size_t D = H / NH;
  const size_t L = static_cast<size_t>(c.num_hidden_layers);
  const size_t C = static_cast<size_t>(c.num_labels());
  const float eps = c.layer_norm_eps;
  const auto& scheme = c.scheme();
  const std::string base = scheme.base + ".";
  Acts& a = *acts_;
  const Params& P = params_;
  a.seqs = batch.size();
  a.start.assign(a.seqs + 1, 0);
  for (size_t s = 0; s < a.seqs; ++s) {
    if (batch[s].empty()) throw Error("empty sequence in a training batch");
    a.start[s + 1] = a.start[s] + batch[s].size();
  }
  const size_t T = a.tokens = a.start.back();
  const size_t S = a.seqs;
  a.ids.resize(T);
  a.positions.resize(T);
  for (size_t s = 0; s < S; ++s) {
    const auto pos = position_ids(c, batch[s]);
    for (size_t i = 0; i < batch[s].size(); ++i) {
      const auto id = batch[s][i];
      if (id < 0 || id >= c.vocab_size) throw Error("token id out of the vocabulary");
      if (pos[i] >= c.max_position_embeddings) throw Error("sequence longer than the model allows");
      a.ids[a.start[s] + i] = id;
      a.positions[a.start[s] + i] = pos[i];
    }
  }
  a.dropout = dropout.enabled;
  auto use_drop = [&](float p) { return dropout.enabled && p > 0.0f; };

  // Embeddings.
  a.xs.resize(L + 1);
  a.xs[0].resize(T * H);
  a.emb_xhat.resize(T * H);
  a.emb_rstd.resize(T);
  {
    const float* word = P.ptr(base + "embeddings.word_embeddings.weight");
    const float* posw = P.ptr(base + "embeddings.position_embeddings.weight");
    const float* type = P.ptr(base + "embeddings.token_type_embeddings.weight");  // type 0
    const float* g = P.ptr(base + "embeddings.LayerNorm.weight");
    const float* b = P.ptr(base + "embeddings.LayerNorm.bias");
    float* x = a.xs[0].data();
    parallel_ranges(pool, T, 16, [&](size_t r0, size_t r1) {
      for (size_t r = r0; r < r1; ++r) {
        const float* wr = word + static_cast<size_t>(a.ids[r]) * H;
        const float* pr = posw + static_cast<size_t>(a.positions[r]) * H;
        for (size_t j = 0; j < H; ++j) x[r * H + j] = wr[j] + pr[j] + type[j];
      }
      ln_fwd(x + r0 * H, r1 - r0, H, g, b, eps, a.emb_xhat.data() + r0 * H, a.emb_rstd.data() + r0,
             x + r0 * H);
    });
    if (use_drop(config_.hidden_dropout)) {
      a.emb_mask.resize(T * H);
      // One mask draw per row (index = row), so the split of rows over threads changes nothing.
      parallel_ranges(pool, T, 16, [&](size_t r0, size_t r1) {
        for (size_t r = r0; r < r1; ++r) {
          dropout_mask(dropout, 1, r, config_.hidden_dropout, a.emb_mask.data() + r * H, H);
        }
      });
      for (size_t i = 0; i < T * H; ++i) x[i] *= a.emb_mask[i];
    }
  }

  // Attention probability layout.
  a.prob_offset.assign(S * NH + 1, 0);
  for (size_t s = 0; s < S; ++s) {
    const size_t len = batch[s].size();
    for (size_t h = 0; h < NH; ++h) {
      a.prob_offset[s * NH + h + 1] = a.prob_offset[s * NH + h] + len * len;
    }
  }
  const size_t prob_total = a.prob_offset.back();
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));

  a.layers.resize(L);
  for (size_t l = 0; l < L; ++l) {
    auto& la = a.layers[l];
    const std::string p0 = base + "encoder.layer." + std::to_string(l);
    const float* x = a.xs[l].data();
    la.qkv.resize(T * 3 * H);
    linear_fwd(pool, T, H, H, x, H, P.ptr(p0 + ".attention.self.query.weight"),
               P.ptr(p0 + ".attention.self.query.bias"), la.qkv.data(), 3 * H);
    linear_fwd(pool, T, H, H, x, H, P.ptr(p0 + ".attention.self.key.weight"),
               P.ptr(p0 + ".attention.self.key.bias"), la.qkv.data() + H, 3 * H);
    linear_fwd(pool, T, H, H, x, H, P.ptr(p0 + ".attention.self.value.weight"),
               P.ptr(p0 + ".attention.self.value.bias"), la.qkv.data() + 2 * H, 3 * H);
    la.probs.resize(prob_total);
    la.ctx.resize(T * H);
    const bool adrop = use_drop(config_.attention_dropout);
    if (adrop) la.attn_mask.resize(prob_total);
    pool.parallel_for(S * NH, [&](size_t task) {
      const size_t s = task / NH, h = task % NH;
      const size_t len = batch[s].size(), row0 = a.start[s];
      float* pr = la.probs.data() + a.prob_offset[task];
      const float* q = la.qkv.data() + row0 * 3 * H + h * D;
      const float* k = q + H;
      const float* v = q + 2 * H;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, ci(len), ci(len), ci(D), scale, q,
                  ci(3 * H), k, ci(3 * H), 0.0f, pr, ci(len));
      for (size_t i = 0; i < len; ++i) {
        float* row = pr + i * len;
        float mx = row[0];
        for (size_t j = 1; j < len; ++j) mx = std::max(mx, row[j]);
        double sum = 0;
        for (size_t j = 0; j < len; ++j) {
          row[j] = std::exp(row[j] - mx);
          sum += row[j];
        }
        const float inv = static_cast<float>(1.0 / sum);
        for (size_t j = 0; j < len; ++j) row[j] *= inv;
      }
      const float* pv = pr;
      std::vector<float> dropped;
      if (adrop) {
        float* m = la.attn_mask.data() + a.prob_offset[task];
        dropout_mask(dropout, 100 + l * 8 + 0, task, config_.attention_dropout, m, len * len);
        dropped.resize(len * len);
        for (size_t i = 0; i < len * len; ++i) dropped[i] = pr[i] * m[i];
        pv = dropped.data();
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ci(len), ci(D), ci(len), 1.0f, pv,
                  ci(len), v, ci(3 * H), 0.0f, la.ctx.data() + row0 * H + h * D, ci(H));
    });

    // Output projection, dropout, residual, LayerNorm.
    std::vector<float> z(T * H);
    linear_fwd(pool, T, H, H, la.ctx.data(), H, P.ptr(p0 + ".attention.output.dense.weight"),
               P.ptr(p0 + ".attention.output.dense.bias"), z.data(), H);
    if (use_drop(config_.hidden_dropout)) {
      la.ao_mask.resize(T * H);
      dropout_mask(dropout, 100 + l * 8 + 1, 0, config_.hidden_dropout, la.ao_mask.data(), T * H);
      for (size_t i = 0; i < T * H; ++i) z[i] *= la.ao_mask[i];
    }
    for (size_t i = 0; i < T * H; ++i) z[i] += x[i];
    la.ln1_xhat.resize(T * H);
    la.ln1_rstd.resize(T);
    la.h1.resize(T * H);
    {
      const float* g = P.ptr(p0 + ".attention.output.LayerNorm.weight");
      const float* b = P.ptr(p0 + ".attention.output.LayerNorm.bias");
      parallel_ranges(pool, T, 16, [&](size_t r0, size_t r1) {
        ln_fwd(z.data() + r0 * H, r1 - r0, H, g, b, eps, la.ln1_xhat.data() + r0 * H,
               la.ln1_rstd.data() + r0, la.h1.data() + r0 * H);
      });
    }

    // Feed-forward.
    la.inter_pre.resize(T * F);
    la.inter_act.resize(T * F);
    linear_fwd(pool, T, F, H, la.h1.data(), H, P.ptr(p0 + ".intermediate.dense.weight"),
               P.ptr(p0 + ".intermediate.dense.bias"), la.inter_pre.data(), F);
    parallel_ranges(pool, T * F, 4096, [&](size_t i0, size_t i1) {
      for (size_t i = i0; i < i1; ++i) la.inter_act[i] = gelu(la.inter_pre[i]);
    });
    linear_fwd(pool, T, H, F, la.inter_act.data(), F, P.ptr(p0 + ".output.dense.weight"),
               P.ptr(p0 + ".output.dense.bias"), z.data(), H);
    if (use_drop(config_.hidden_dropout)) {
      la.out_mask.resize(T * H);
      dropout_mask(dropout, 100 + l * 8 + 2, 0, config_.hidden_dropout, la.out_mask.data(), T * H);
      for (size_t i = 0; i < T * H; ++i) z[i] *= la.out_mask[i];
    }
    for (size_t i = 0; i < T * H; ++i) z[i] += la.h1[i];
    la.ln2_xhat.resize(T * H);
    la.ln2_rstd.resize(T);
    a.xs[l + 1].resize(T * H);
    {
      const float* g = P.ptr(p0 + ".output.LayerNorm.weight");
      const float* b = P.ptr(p0 + ".output.LayerNorm.bias");
      parallel_ranges(pool, T, 16, [&](size_t r0, size_t r1) {
        ln_fwd(z.data() + r0 * H, r1 - r0, H, g, b, eps, la.ln2_xhat.data() + r0 * H,
               la.ln2_rstd.data() + r0, a.xs[l + 1].data() + r0 * H);
      });
    }
  }

  // Head: first token → dropout → dense → tanh → dropout → out_proj (RoBERTa), or first token →
  // pooler dense → tanh → dropout → classifier (BERT).
  a.cls.resize(S * H);
  for (size_t s = 0; s < S; ++s) {
    std::memcpy(a.cls.data() + s * H, a.xs[L].data() + a.start[s] * H, H * sizeof(float));
  }
  a.cls_d = a.cls;
  const bool cdrop = use_drop(config_.classifier_dropout);
  a.cls_mask.clear();
  a.dense_mask.clear();
  if (cdrop && scheme.dropout_before_dense) {
    a.cls_mask.resize(S * H);
    dropout_mask(dropout, 2, 0, config_.classifier_dropout, a.cls_mask.data(), S * H);
    for (size_t i = 0; i < S * H; ++i) a.cls_d[i] *= a.cls_mask[i];
  }
  a.dense_t.resize(S * H);
  linear_fwd(pool, S, H, H, a.cls_d.data(), H, P.ptr(scheme.head_dense + ".weight"),
             P.ptr(scheme.head_dense + ".bias"), a.dense_t.data(), H);
  for (auto& v : a.dense_t) v = std::tanh(v);
  a.dense_d = a.dense_t;
  if (cdrop) {
    a.dense_mask.resize(S * H);
    dropout_mask(dropout, 3, 0, config_.classifier_dropout, a.dense_mask.data(), S * H);
    for (size_t i = 0; i < S * H; ++i) a.dense_d[i] *= a.dense_mask[i];
  }
  a.logits.resize(S * C);
  linear_fwd(pool, S, C, H, a.dense_d.data(), H, P.ptr(scheme.head_out + ".weight"),
             P.ptr(scheme.head_out + ".bias"), a.logits.data(), C);

  ForwardResult result;
  result.logits = a.logits;
  a.labels.assign(labels.begin(), labels.end());
  a.softmax.resize(S * C);
  a.sample_weight.clear();
  if (!labels.empty()) {
    if (labels.size() != S) throw Error("labels and batch differ in size");
    double wsum = 0, loss = 0;
    std::vector<double> nll(S);
    for (size_t s = 0; s < S; ++s) {
      const float* lg = a.logits.data() + s * C;
      const int y = labels[s];
      if (y < 0 || static_cast<size_t>(y) >= C) throw Error("label out of range");
      double mx = lg[0];
      for (size_t j = 1; j < C; ++j) mx = std::max(mx, static_cast<double>(lg[j]));
      double sum = 0;
      for (size_t j = 0; j < C; ++j) sum += std::exp(lg[j] - mx);
      for (size_t j = 0; j < C; ++j)
        a.softmax[s * C + j] = static_cast<float>(std::exp(lg[j] - mx) / sum);
      nll[s] = -(lg[y] - mx - std::log(sum));
      const double w = class_weights.empty() ? 1.0 : class_weights[static_cast<size_t>(y)];
      wsum += w;
      loss += w * nll[s];
    }
    a.sample_weight.resize(S);
    for (size_t s = 0; s < S; ++s) {
      const double w = class_weights.empty() ? 1.0 : class_weights[static_cast<size_t>(labels[s])];
      a.sample_weight[s] = static_cast<float>(w / wsum);
    }
    result.loss = loss / wsum;
    result.weight_sum = wsum;
  }
  return result;
}

void TrainModel::backward(float loss_scale, std::vector<float>& grad, base::ThreadPool& pool) {
  const auto& c = config_.model;
  const size_t H = static_cast<size_t>(c.hidden_size);
  const size_t F = static_cast<size_t>(c.intermediate_size);
  const size_t NH = static_cast<size_t>(c.num_attention_heads);
  const size_t D = H / NH;
  const size_t L = static_cast<size_t>(c.num_hidden_layers);
  const size_t C = static_cast<size_t>(c.num_labels());
  Acts& a = *acts_;
  const Params& P = params_;
  const size_t S = a.seqs, T = a.tokens;
  if (a.sample_weight.size() != S) throw Error("backward needs a forward with labels");
  if (grad.size() != P.data.size()) grad.assign(P.data.size(), 0.0f);
  auto G = [&](const std::string& name) { return grad.data() + P.tensor(name).offset; };
  const auto& scheme = c.scheme();
  const std::string base = scheme.base + ".";

  // Cross-entropy.
  std::vector<float> dlogits(S * C);
  for (size_t s = 0; s < S; ++s) {
    for (size_t j = 0; j < C; ++j) {
      const float target = static_cast<int>(j) == a.labels[s] ? 1.0f : 0.0f;
      dlogits[s * C + j] = loss_scale * a.sample_weight[s] * (a.softmax[s * C + j] - target);
    }
  }
  // Head.
  std::vector<float> d_dense(S * H), d_cls(S * H);
  const std::string dense = scheme.head_dense, out = scheme.head_out;
  linear_bwd(pool, S, C, H, a.dense_d.data(), H, P.ptr(out + ".weight"), dlogits.data(), C,
             G(out + ".weight"), G(out + ".bias"), d_dense.data(), H, false);
  for (size_t i = 0; i < S * H; ++i) {
    if (!a.dense_mask.empty() && a.dropout) d_dense[i] *= a.dense_mask[i];
    d_dense[i] *= 1.0f - a.dense_t[i] * a.dense_t[i];
  }
  linear_bwd(pool, S, H, H, a.cls_d.data(), H, P.ptr(dense + ".weight"), d_dense.data(), H,
             G(dense + ".weight"), G(dense + ".bias"), d_cls.data(), H, false);
  if (!a.cls_mask.empty() && a.dropout) {
    for (size_t i = 0; i < S * H; ++i) d_cls[i] *= a.cls_mask[i];
  }
  std::vector<float> dx(T * H, 0.0f);
  for (size_t s = 0; s < S; ++s) {
    std::memcpy(dx.data() + a.start[s] * H, d_cls.data() + s * H, H * sizeof(float));
  }

  std::vector<float> dz(T * H), dh1(T * H), dinter(T * F), dctx(T * H), dqkv(T * 3 * H);
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  for (size_t l = L; l-- > 0;) {
    auto& la = a.layers[l];
    const std::string p0 = base + "encoder.layer." + std::to_string(l);
    const bool hdrop = a.dropout && !la.out_mask.empty();
    // Output LayerNorm: dx is ∂/∂(layer output).
    ln_bwd(pool, T, H, dx.data(), la.ln2_xhat.data(), la.ln2_rstd.data(),
           P.ptr(p0 + ".output.LayerNorm.weight"), dz.data(), G(p0 + ".output.LayerNorm.weight"),
           G(p0 + ".output.LayerNorm.bias"));
    dh1 = dz;  // residual
    if (hdrop) {
      for (size_t i = 0; i < T * H; ++i) dz[i] *= la.out_mask[i];
    }
    linear_bwd(pool, T, H, F, la.inter_act.data(), F, P.ptr(p0 + ".output.dense.weight"), dz.data(),
               H, G(p0 + ".output.dense.weight"), G(p0 + ".output.dense.bias"), dinter.data(), F,
               false);
    parallel_ranges(pool, T * F, 4096, [&](size_t i0, size_t i1) {
      for (size_t i = i0; i < i1; ++i) dinter[i] *= gelu_grad(la.inter_pre[i]);
    });
    linear_bwd(pool, T, F, H, la.h1.data(), H, P.ptr(p0 + ".intermediate.dense.weight"),
               dinter.data(), F, G(p0 + ".intermediate.dense.weight"),
               G(p0 + ".intermediate.dense.bias"), dh1.data(), H, true);
    // Attention output LayerNorm.
    ln_bwd(pool, T, H, dh1.data(), la.ln1_xhat.data(), la.ln1_rstd.data(),
           P.ptr(p0 + ".attention.output.LayerNorm.weight"), dz.data(),
           G(p0 + ".attention.output.LayerNorm.weight"),
           G(p0 + ".attention.output.LayerNorm.bias"));
    dx = dz;  // residual into the layer input
    if (a.dropout && !la.ao_mask.empty()) {
      for (size_t i = 0; i < T * H; ++i) dz[i] *= la.ao_mask[i];
    }
    linear_bwd(pool, T, H, H, la.ctx.data(), H, P.ptr(p0 + ".attention.output.dense.weight"),
               dz.data(), H, G(p0 + ".attention.output.dense.weight"),
               G(p0 + ".attention.output.dense.bias"), dctx.data(), H, false);
    // Attention, per (sequence, head).
    const bool adrop = a.dropout && !la.attn_mask.empty();
    pool.parallel_for(S * NH, [&](size_t task) {
      const size_t s = task / NH, h = task % NH;
      const size_t len = a.start[s + 1] - a.start[s], row0 = a.start[s];
      const float* pr = la.probs.data() + a.prob_offset[task];
      const float* q = la.qkv.data() + row0 * 3 * H + h * D;
      const float* k = q + H;
      const float* v = q + 2 * H;
      float* dq = dqkv.data() + row0 * 3 * H + h * D;
      float* dk = dq + H;
      float* dv = dq + 2 * H;
      const float* dc = dctx.data() + row0 * H + h * D;
      std::vector<float> pd, dp(len * len);
      const float* pv = pr;
      if (adrop) {
        const float* m = la.attn_mask.data() + a.prob_offset[task];
        pd.resize(len * len);
        for (size_t i = 0; i < len * len; ++i) pd[i] = pr[i] * m[i];
        pv = pd.data();
      }
      // dV = Pdᵀ dC; dPd = dC Vᵀ.
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ci(len), ci(D), ci(len), 1.0f, pv,
                  ci(len), dc, ci(H), 0.0f, dv, ci(3 * H));
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, ci(len), ci(len), ci(D), 1.0f, dc, ci(H),
                  v, ci(3 * H), 0.0f, dp.data(), ci(len));
      if (adrop) {
        const float* m = la.attn_mask.data() + a.prob_offset[task];
        for (size_t i = 0; i < len * len; ++i) dp[i] *= m[i];
      }
      // Softmax: dS = P ∘ (dP − rowsum(dP ∘ P)).
      for (size_t i = 0; i < len; ++i) {
        double dot = 0;
        for (size_t j = 0; j < len; ++j)
          dot += static_cast<double>(dp[i * len + j]) * pr[i * len + j];
        for (size_t j = 0; j < len; ++j) {
          dp[i * len + j] = pr[i * len + j] * (dp[i * len + j] - static_cast<float>(dot));
        }
      }
      // dQ = scale dS K; dK = scale dSᵀ Q.
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ci(len), ci(D), ci(len), scale,
                  dp.data(), ci(len), k, ci(3 * H), 0.0f, dq, ci(3 * H));
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ci(len), ci(D), ci(len), scale,
                  dp.data(), ci(len), q, ci(3 * H), 0.0f, dk, ci(3 * H));
    });
    const float* x = a.xs[l].data();
    const char* names[3] = {".attention.self.query", ".attention.self.key",
                            ".attention.self.value"};
    for (size_t p = 0; p < 3; ++p) {
      linear_bwd(pool, T, H, H, x, H, P.ptr(p0 + names[p] + ".weight"), dqkv.data() + p * H, 3 * H,
                 G(p0 + names[p] + ".weight"), G(p0 + names[p] + ".bias"), dx.data(), H, true);
    }
  }

  // Embeddings.
  if (a.dropout && !a.emb_mask.empty()) {
    for (size_t i = 0; i < T * H; ++i) dx[i] *= a.emb_mask[i];
  }
  ln_bwd(pool, T, H, dx.data(), a.emb_xhat.data(), a.emb_rstd.data(),
         P.ptr(base + "embeddings.LayerNorm.weight"), dz.data(),
         G(base + "embeddings.LayerNorm.weight"), G(base + "embeddings.LayerNorm.bias"));
  float* gw = G(base + "embeddings.word_embeddings.weight");
  float* gp = G(base + "embeddings.position_embeddings.weight");
  float* gt = G(base + "embeddings.token_type_embeddings.weight");  // row 0: every token's type
  const std::int32_t pad = c.pad_token_id;
  for (size_t r = 0; r < T; ++r) {
    const float* d = dz.data() + r * H;
    // nn.Embedding(padding_idx=pad): the padding row gets no gradient. BERT's position
    // embeddings have no padding_idx.
    if (a.ids[r] != pad) {
      float* w = gw + static_cast<size_t>(a.ids[r]) * H;
      for (size_t j = 0; j < H; ++j) w[j] += d[j];
    }
    if (!scheme.pad_position_row || a.positions[r] != pad) {
      float* p = gp + static_cast<size_t>(a.positions[r]) * H;
      for (size_t j = 0; j < H; ++j) p[j] += d[j];
    }
    for (size_t j = 0; j < H; ++j) gt[j] += d[j];
  }
}

}  // namespace refusal::train
