// Engine: resolves and loads a model once, then classifies token ids from any thread.
#include "refusal/engine.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include "base/cpu_budget.h"
#include "base/thread_pool.h"
#include "kernels/cpu_features.h"
#include "model/encoder.h"
#include "model/packed_store.h"
#include "model/weights.h"
#include "refusal/error.h"

namespace refusal {

DType parse_dtype(const std::string& name) {
  if (name == "fp32" || name == "float32") return DType::kFp32;
  if (name == "bf16" || name == "bfloat16") return DType::kBf16;
  if (name == "int8") return DType::kInt8;
  throw Error("dtype: unknown '" + name + "' (expected fp32, bf16 or int8)");
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kBf16:
      return "bf16";
    case DType::kInt8:
      return "int8";
    default:
      return "fp32";
  }
}

struct Engine::Impl {
  DType dtype = DType::kFp32;
  ModelFiles files;
  ModelConfig config;
  std::unique_ptr<model::WeightStore> store;
  std::unique_ptr<model::EncoderRuntime> runtime;
  std::unique_ptr<base::ThreadPool> pool;
  std::filesystem::path packed_file;  // the stored packed weights mapped, if any
};

namespace {

kernels::Precision precision_of(DType dtype) {
  return dtype == DType::kBf16   ? kernels::Precision::kBf16
         : dtype == DType::kInt8 ? kernels::Precision::kInt8
                                 : kernels::Precision::kFp32;
}

}  // namespace

std::filesystem::path packed_weights_path(const ModelFiles& files, DType dtype) {
  return files.folder / model::packed_file_name(precision_of(dtype));
}

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::Engine(Engine&&) noexcept = default;
Engine& Engine::operator=(Engine&&) noexcept = default;
Engine::~Engine() = default;

Engine Engine::load(const std::string& model, const EngineOptions& options) {
  return load(resolve_model(model), options);
}

Engine Engine::load(const ModelFiles& files, const EngineOptions& options) {
  if (options.threads < 0) {
    throw Error("threads: " + std::to_string(options.threads) + " is negative (0 = automatic)");
  }
  auto impl = std::make_unique<Impl>();
  impl->files = files;
  impl->dtype = options.dtype;
  impl->config = load_model_config(files.config);
  const auto precision = precision_of(options.dtype);
  if (options.packed_weights) {
    std::filesystem::path stored = options.packed_weights_file;
    if (stored.empty()) {
      stored = packed_weights_path(files, options.dtype);
      std::error_code ec;
      if (!std::filesystem::exists(stored, ec)) stored.clear();
    }
    impl->packed_file = stored;
  }
  if (!impl->packed_file.empty()) {
    // The encoder's matrices come from the stored file: safetensors only for the rest.
    impl->store = std::make_unique<model::WeightStore>(impl->config, files.weights, true, false);
    auto layers = model::read_packed_encoder(impl->packed_file, impl->config,
                                             model::fingerprint_weights(files.weights), precision);
    impl->runtime = std::make_unique<model::EncoderRuntime>(impl->config, impl->store->weights(),
                                                            precision, std::move(layers));
  } else {
    impl->store = std::make_unique<model::WeightStore>(impl->config, files.weights);
    impl->runtime = std::make_unique<model::EncoderRuntime>(
        impl->config, impl->store->weights(), precision,
        [&](std::size_t layer) { impl->store->release_encoder_matrices(layer); });
  }
  const int threads = options.threads > 0 ? options.threads : base::default_threads();
  impl->pool = std::make_unique<base::ThreadPool>(threads);
  return Engine(std::move(impl));
}

const ModelConfig& Engine::config() const { return impl_->config; }
const ModelFiles& Engine::files() const { return impl_->files; }
int Engine::threads() const { return impl_->pool->threads(); }
DType Engine::dtype() const { return impl_->dtype; }
std::string Engine::isa() const { return kernels::isa_name(); }
std::int64_t Engine::parameter_count() const { return impl_->store->parameter_count(); }
std::vector<std::string> Engine::weight_dtypes() const { return impl_->store->dtypes(); }
const std::filesystem::path& Engine::packed_weights_file() const { return impl_->packed_file; }

std::filesystem::path Engine::save_packed_weights(const std::filesystem::path& path) const {
  const auto target = path.empty() ? packed_weights_path(impl_->files, impl_->dtype) : path;
  model::write_packed_encoder(target, impl_->config,
                              model::fingerprint_weights(impl_->files.weights), *impl_->runtime);
  return target;
}

std::vector<float> Engine::probabilities(std::span<const float> logits) const {
  std::vector<float> p(logits.begin(), logits.end());
  if (impl_->config.multi_label()) {
    for (auto& v : p) v = 1.0f / (1.0f + std::exp(-v));
  } else if (!p.empty()) {
    const float top = *std::max_element(p.begin(), p.end());
    float sum = 0.0f;
    for (auto& v : p) sum += (v = std::exp(v - top));
    for (auto& v : p) v /= sum;
  }
  return p;
}

std::vector<Classification> Engine::classify(
    std::span<const std::vector<std::int32_t>> batch) const {
  const auto& c = impl_->config;
  for (std::size_t s = 0; s < batch.size(); ++s) {
    const auto& ids = batch[s];
    if (ids.empty()) throw Error("sequence " + std::to_string(s) + ": no tokens");
    if (ids.size() > static_cast<std::size_t>(c.max_tokens())) {
      throw Error("sequence " + std::to_string(s) + ": " + std::to_string(ids.size()) +
                  " tokens, more than the model's " + std::to_string(c.max_tokens()) +
                  " (truncate, or use windows)");
    }
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] < 0 || ids[i] >= c.vocab_size) {
        throw Error("sequence " + std::to_string(s) + ", position " + std::to_string(i) +
                    ": token id " + std::to_string(ids[i]) + " is outside the vocabulary (0.." +
                    std::to_string(c.vocab_size - 1) + ")");
      }
    }
  }
  std::vector<Classification> out(batch.size());
  if (batch.empty()) return out;
  const auto logits = impl_->runtime->forward(batch, *impl_->pool);
  const auto labels = static_cast<std::size_t>(c.num_labels());
  for (std::size_t s = 0; s < batch.size(); ++s) {
    out[s].logits.assign(logits.begin() + static_cast<std::ptrdiff_t>(s * labels),
                         logits.begin() + static_cast<std::ptrdiff_t>((s + 1) * labels));
    out[s].probabilities = probabilities(out[s].logits);
  }
  return out;
}

}  // namespace refusal
