// The classifier engine: token ids in, logits and probabilities out.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "refusal/model.h"

namespace refusal {

// Precision of the linear layers. fp32 is exact (transformers' logits within 1e-4); the others
// trade a little accuracy for speed and are only used when asked for.
enum class DType {
  kFp32,  // default
  kBf16,  // bf16 weights and activations, fp32 accumulation (AVX512-BF16 where present)
  kInt8,  // int8 per-channel weights, activations quantized per token at run time (VNNI)
};

// "fp32", "bf16", "int8" ↔ DType; parse throws refusal::Error naming the bad value.
DType parse_dtype(const std::string& name);
const char* dtype_name(DType dtype);

struct EngineOptions {
  // Worker threads, the caller included. 0: $REFUSAL_NUM_THREADS, else $OMP_NUM_THREADS (how
  // Ray, Spark and Dask give a worker its CPU share), else the CPUs this process may really use
  // (affinity and cgroup CPU quota), not the machine's core count. A bad value of either
  // variable is a refusal::Error naming it.
  int threads = 0;
  DType dtype = DType::kFp32;
  // Stored packed weights (`refusal pack`): when the model folder holds
  // refusal-packed-DTYPE.bin for this dtype, the encoder's packed weights are memory-mapped from
  // it instead of being packed (and quantized) from model.safetensors again, with bit-identical
  // results. A file that does not match the model (stale fingerprint, other shapes, format or
  // layout version, damaged or truncated) is an error naming the file and the field, never used
  // and never silently skipped. false: always pack at load, ignore any stored file.
  bool packed_weights = true;
  // Another place for the stored file; when set, it must exist.
  std::filesystem::path packed_weights_file;
};

// Where `refusal pack` stores, and Engine::load looks for, the packed weights of a model for a
// dtype: FOLDER/refusal-packed-DTYPE.bin, FOLDER the folder of config.json.
std::filesystem::path packed_weights_path(const ModelFiles& files, DType dtype);

// One text's result.
struct Classification {
  std::vector<float> logits;         // one per label
  std::vector<float> probabilities;  // softmax, or sigmoid for multi-label models
};

// A loaded RobertaForSequenceClassification or BertForSequenceClassification (a bare
// RobertaModel/BertModel is refused: it has no classification head). Load once, then call
// classify from any number of threads at once: the weights are read-only and every call has its
// own scratch memory.
class Engine {
 public:
  // Loads the model that resolve_model finds for `model`.
  static Engine load(const std::string& model, const EngineOptions& options = {});
  // Loads from already-resolved files.
  static Engine load(const ModelFiles& files, const EngineOptions& options = {});

  Engine(Engine&&) noexcept;
  Engine& operator=(Engine&&) noexcept;
  ~Engine();

  const ModelConfig& config() const;
  const ModelFiles& files() const;
  int threads() const;
  DType dtype() const;
  // The instruction set the kernels dispatched to, e.g. "avx512+bf16+vnni".
  std::string isa() const;
  std::int64_t parameter_count() const;
  // The dtype of each weights file's tensors, e.g. {"F32"} or {"F16"}.
  std::vector<std::string> weight_dtypes() const;
  // The stored packed weights this engine maps, or empty when it packed them at load.
  const std::filesystem::path& packed_weights_file() const;
  // Stores this engine's packed encoder weights (its dtype) in `path` (empty:
  // packed_weights_path(files(), dtype())), for later loads to map; returns the path written.
  // Throws refusal::Error if the file cannot be written.
  std::filesystem::path save_packed_weights(const std::filesystem::path& path = {}) const;

  // Classifies a batch of token-id sequences (each with its <s> ... </s> or [CLS] ... [SEP], no
  // padding; BERT token types are all 0). The
  // sequences may have different lengths; a sequence's result does not depend on the others.
  // Throws refusal::Error for an empty sequence, an id outside the vocabulary or a sequence
  // longer than config().max_tokens(), naming the sequence and position.
  std::vector<Classification> classify(std::span<const std::vector<std::int32_t>> batch) const;

  // The probabilities this model gives for `logits` (softmax, or sigmoid when multi-label).
  std::vector<float> probabilities(std::span<const float> logits) const;

 private:
  struct Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace refusal
