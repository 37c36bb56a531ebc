// The trainable RobertaForSequenceClassification or BertForSequenceClassification: fp32
// parameters in one flat buffer (tensor names and shapes exactly as transformers'), a forward
// pass over a ragged batch that keeps its activations, and the backward pass, accumulating into
// a gradient buffer of the same layout. Both passes are made of the ops of kernels/ops.h (the
// ones inference runs), forward and backward side by side there.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "refusal/model.h"

namespace refusal::train {

// What training needs from config.json beyond ModelConfig.
struct TrainConfig {
  ModelConfig model;
  float hidden_dropout = 0.1f;
  float attention_dropout = 0.1f;
  float classifier_dropout = 0.1f;  // classifier_dropout, else hidden_dropout_prob
  float initializer_range = 0.02f;
};

TrainConfig load_train_config(const std::filesystem::path& config_json);

struct ParamTensor {
  std::string name;  // e.g. "bert.encoder.layer.0.attention.self.query.weight"
  std::vector<std::int64_t> shape;
  std::size_t offset = 0;  // into Params::data
  std::size_t size = 0;
  bool decay = true;  // AdamW weight decay applies (not biases, not LayerNorm)
};

// All parameters, in one buffer.
struct Params {
  std::vector<ParamTensor> tensors;
  std::vector<float> data;

  // The layout for `config`, zero-filled.
  static Params layout(const ModelConfig& config);
  const ParamTensor& tensor(const std::string& name) const;
  float* ptr(const std::string& name) { return data.data() + tensor(name).offset; }
  const float* ptr(const std::string& name) const { return data.data() + tensor(name).offset; }
};

// Loads weights (F32/F16/BF16) from model files into `params`' layout (tensor names exactly as
// in the layout). With `init_missing_head` (the --init path), the files may also hold a bare base
// model (RobertaModel/BertModel: encoder tensors with or without the `roberta.`/`bert.` prefix,
// no classifier); the head tensors they lack (classifier, and BERT's pooler when absent) are
// then initialised like transformers does (weights normal(0, initializer_range) from `seed`,
// biases 0). Returns the names it initialised.
std::vector<std::string> load_params(Params& params,
                                     const std::vector<std::filesystem::path>& files,
                                     const TrainConfig* init_missing_head = nullptr,
                                     std::uint64_t seed = 0);
// transformers' _init_weights: normal(0, initializer_range) for linear and embedding weights,
// zero biases, LayerNorm weight 1 and bias 0; the padding row of the word embeddings zero.
void init_params(Params& params, const TrainConfig& config, std::uint64_t seed);

struct DropoutSpec {
  bool enabled = false;
  std::uint64_t seed = 0;  // counter-based: masks depend only on (seed, step key, site, index)
  std::uint64_t key = 0;   // e.g. the micro-batch number
};

struct ForwardResult {
  std::vector<float> logits;  // [batch × labels]
  double loss = 0;            // weighted mean cross-entropy
  double weight_sum = 0;      // Σ class weight of the labels
};

// One training step's worth of model: forward (keeping activations) and backward.
class TrainModel {
 public:
  TrainModel(TrainConfig config, Params params);

  const TrainConfig& config() const { return config_; }
  Params& params() { return params_; }
  const Params& params() const { return params_; }

  // Forward over `batch` (ids with their <s> ... </s>, no padding). With labels, also the
  // cross-entropy loss (mean over the batch, weighted by class_weights when not empty).
  ForwardResult forward(std::span<const std::vector<std::int32_t>> batch,
                        std::span<const int> labels, std::span<const float> class_weights,
                        const DropoutSpec& dropout, base::ThreadPool& pool);

  // Backward of the last forward: grad += loss_scale · ∂loss/∂params. `grad` has params' size.
  void backward(float loss_scale, std::vector<float>& grad, base::ThreadPool& pool);

 private:
  // Where each tensor starts in Params::data (and in a gradient, which has the same layout).
  struct Linear {
    std::size_t w = 0, b = 0;
  };
  struct Norm {
    std::size_t gamma = 0, beta = 0;
  };
  struct Layer {
    Linear query, key, value, attention_out;
    Norm attention_norm;
    Linear intermediate, output;
    Norm output_norm;
  };
  struct Offsets {
    std::size_t word = 0, position = 0, type = 0;
    Norm embedding_norm;
    std::vector<Layer> layers;
    Linear head_dense, head_out;
  };

  // Activations of the last forward.
  struct Acts;

  // The passes, stage by stage, on acts_; grad: the gradient buffer's data.
  void pack(std::span<const std::vector<std::int32_t>> batch);
  void embeddings_forward(const DropoutSpec& dropout, base::ThreadPool& pool);
  void layer_forward(std::size_t layer, const DropoutSpec& dropout, base::ThreadPool& pool);
  void head_forward(const DropoutSpec& dropout, base::ThreadPool& pool);
  ForwardResult loss_forward(std::span<const int> labels, std::span<const float> class_weights);
  std::vector<float> head_backward(float loss_scale, float* grad, base::ThreadPool& pool);
  void layer_backward(std::size_t layer, std::vector<float>& dx, float* grad,
                      base::ThreadPool& pool);
  void embeddings_backward(std::vector<float>& dx, float* grad, base::ThreadPool& pool);
  void size_attention_scratch(base::ThreadPool& pool);

  TrainConfig config_;
  Params params_;
  Offsets at_;
  std::shared_ptr<Acts> acts_;
};

}  // namespace refusal::train
