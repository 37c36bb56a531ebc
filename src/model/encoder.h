// The encoder forward pass (RoBERTa and BERT: the same math, ArchitectureScheme says where
// positions start) over a ragged batch: sequences packed one after another, no padding, so a
// batch costs what its tokens cost and no sequence sees another. Then the classification head
// on each sequence's first token: dense → tanh → linear (RoBERTa's classifier.dense/out_proj,
// BERT's pooler.dense/classifier).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/packed_linear.h"
#include "model/weights.h"
#include "refusal/model.h"

namespace refusal::model {

// The encoder's linear layers packed for the kernels in one precision (Q, K and V fused), and
// the head's dense layer packed in fp32 (whatever the precision: it is one row per sequence),
// next to the weights the rest of the model reads as they are (embeddings, LayerNorms, the
// head's tiny output layer).
class EncoderRuntime {
 public:
  struct PackedLayer {
    kernels::PackedLinear qkv, attention_out, intermediate, output;
  };

  // `packed(l)` is called once layer l is packed, so its source can be released at once and
  // loading never holds two copies of the encoder.
  EncoderRuntime(const ModelConfig& config, const EncoderWeights& weights,
                 kernels::Precision precision,
                 const std::function<void(std::size_t)>& packed = nullptr);
  // Takes layers packed earlier (e.g. borrowed from a stored file, see model/packed_store.h);
  // the encoder matrices of `weights` are not read. Throws refusal::Error if the layer count,
  // a shape or a precision does not match `config`.
  EncoderRuntime(const ModelConfig& config, const EncoderWeights& weights,
                 kernels::Precision precision, std::vector<PackedLayer> layers);

  // Logits, [sequences × labels] row-major. Ids must already be checked (in vocabulary,
  // 1 ≤ length ≤ max_tokens). Thread-safe; each calling thread reuses its own activations.
  std::vector<float> forward(std::span<const std::vector<std::int32_t>> batch,
                             base::ThreadPool& pool) const;

  std::size_t packed_bytes() const;
  kernels::Precision precision() const { return precision_; }
  const std::vector<PackedLayer>& layers() const { return layers_; }

 private:
  // Packs the head's dense layer (classifier.dense / pooler.dense); both constructors call it.
  void pack_head();
  // y = act(x·Wᵀ + b) over the pool, split by output columns (and rows when columns are too
  // few); act (hidden_act's name) may be null.
  void linear(base::ThreadPool& pool, const kernels::PackedLinear& w, std::size_t rows,
              const float* x, std::size_t ldx, float* y, std::size_t ldy,
              std::vector<std::byte>& scratch, const std::string* act = nullptr) const;

  const ModelConfig& config_;
  const EncoderWeights& weights_;
  kernels::Precision precision_;
  std::vector<PackedLayer> layers_;
  kernels::PackedLinear head_dense_;  // fp32
};

}  // namespace refusal::model
