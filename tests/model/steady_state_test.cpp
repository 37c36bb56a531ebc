// Issue 5: "no allocation in the steady state". A forward pass over a batch the engine has seen
// before must allocate nothing but the logits it returns: every allocation of every thread is
// counted through a replaced global operator new while the second pass runs. And the way the
// pool splits the work must not change the result.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <new>
#include <span>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/packed_linear.h"
#include "model/encoder.h"
#include "model/weights.h"
#include "refusal/model.h"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return operator new(size); }
// GCC pairs these frees with the replaced operator new above, which is malloc.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace refusal {
namespace {

struct Case {
  const char* folder;
  kernels::Precision precision;
};

class SteadyState : public ::testing::TestWithParam<Case> {};

TEST_P(SteadyState, SecondForwardAllocatesOnlyItsResult) {
  const std::filesystem::path dir = GetParam().folder;
  const ModelConfig config = load_model_config(dir / "config.json");
  const model::WeightStore store(config, {dir / "model.safetensors"});
  const model::EncoderRuntime runtime(config, store.weights(), GetParam().precision, nullptr);
  base::ThreadPool pool(2);
  // Three texts of different lengths (one past a 96-row block), ids inside every vocabulary.
  std::vector<std::vector<std::int32_t>> batch;
  for (std::size_t len : {5u, 40u, 130u}) {
    std::vector<std::int32_t> ids(len);
    for (std::size_t i = 0; i < len; ++i) ids[i] = static_cast<std::int32_t>(3 + (i * 7) % 90);
    batch.push_back(ids);
  }
  const std::vector<float> first = runtime.forward(batch, pool);
  g_allocations = 0;
  g_counting = true;
  const std::vector<float> second = runtime.forward(batch, pool);
  g_counting = false;
  EXPECT_EQ(g_allocations.load(), 1) << "allocations besides the returned logits";
  EXPECT_EQ(first, second);
}

// How the pool splits rows and columns must not change a bit of the result (the GEMM's k
// blocking keeps each sum's order; rows are independent).
TEST_P(SteadyState, EveryThreadCountGivesTheSameBits) {
  const std::filesystem::path dir = GetParam().folder;
  const ModelConfig config = load_model_config(dir / "config.json");
  const model::WeightStore store(config, {dir / "model.safetensors"});
  const model::EncoderRuntime runtime(config, store.weights(), GetParam().precision, nullptr);
  std::vector<std::vector<std::int32_t>> batch;
  for (std::size_t len : {1u, 17u, 130u, 200u}) {
    std::vector<std::int32_t> ids(len);
    for (std::size_t i = 0; i < len; ++i) ids[i] = static_cast<std::int32_t>(3 + (i * 11) % 90);
    batch.push_back(ids);
  }
  std::vector<float> want;
  for (int threads : {1, 2, 3, 5, 8}) {
    base::ThreadPool pool(threads);
    const std::vector<float> got = runtime.forward(batch, pool);
    if (want.empty()) {
      want = got;
    } else {
      EXPECT_EQ(got, want) << threads << " threads";
    }
  }
}

// A short batch (at most 64 tokens) with several threads takes the few-rows path (one region
// per matrix, LayerNorms applied by every task to its own copy); one thread takes the other.
// Both must give the same bits, alone and in a batch.
TEST_P(SteadyState, FewRowsPathGivesTheBitsOfTheOtherPath) {
  const std::filesystem::path dir = GetParam().folder;
  const ModelConfig config = load_model_config(dir / "config.json");
  const model::WeightStore store(config, {dir / "model.safetensors"});
  const model::EncoderRuntime runtime(config, store.weights(), GetParam().precision, nullptr);
  std::vector<std::vector<std::int32_t>> batch;
  for (std::size_t len : {1u, 17u, 16u}) {  // 34 tokens
    std::vector<std::int32_t> ids(len);
    for (std::size_t i = 0; i < len; ++i) ids[i] = static_cast<std::int32_t>(3 + (i * 13) % 90);
    batch.push_back(ids);
  }
  const std::span<const std::vector<std::int32_t>> alone = std::span(batch).subspan(2, 1);
  base::ThreadPool one(1);
  const std::vector<float> want = runtime.forward(batch, one);
  const std::vector<float> want_alone = runtime.forward(alone, one);
  for (int threads : {2, 3, 5, 8}) {
    base::ThreadPool pool(threads);
    EXPECT_EQ(runtime.forward(batch, pool), want) << threads << " threads, 3 sequences";
    EXPECT_EQ(runtime.forward(alone, pool), want_alone) << threads << " threads, alone";
  }
}

// What a forward pass pays in synchronisation: the pool's regions (each a wake-up and a
// barrier). One 16-token text: four per layer (QKV with attention, the attention output, the
// FFN's two matrices), when the heads' columns are whole 32-column blocks (head_dim 32 or 64),
// and one for the head's dense layer (with the last LayerNorm); the embeddings run on the
// caller.
TEST_P(SteadyState, ShortTextTakesFourRegionsPerLayer) {
  const std::filesystem::path dir = GetParam().folder;
  const ModelConfig config = load_model_config(dir / "config.json");
  if (config.hidden_size / config.num_attention_heads % 32 != 0) {
    GTEST_SKIP() << "head_dim not a multiple of 32";
  }
  const model::WeightStore store(config, {dir / "model.safetensors"});
  const model::EncoderRuntime runtime(config, store.weights(), GetParam().precision, nullptr);
  std::vector<std::vector<std::int32_t>> batch(1, std::vector<std::int32_t>(16, 5));
  base::ThreadPool pool(2);
  const std::uint64_t before = pool.regions();
  runtime.forward(batch, pool);
  const auto layers = static_cast<std::uint64_t>(config.num_hidden_layers);
  EXPECT_EQ(pool.regions() - before, 4 * layers + 1);
  // A longer text: QKV, attention, attention output, LayerNorm, FFN in (with its activation),
  // FFN out, LayerNorm per layer; the last layer's two LayerNorms run on one row, on the caller;
  // then the head's dense layer.
  // (From 64 rows per thread on, bf16 and int8 also convert their inputs in a region.)
  batch[0].assign(100, 5);
  const std::uint64_t long_before = pool.regions();
  runtime.forward(batch, pool);
  EXPECT_EQ(pool.regions() - long_before, 7 * layers - 1);
}

INSTANTIATE_TEST_SUITE_P(
    Models, SteadyState,
    ::testing::Values(Case{"tests/data/models/tiny-roberta-f32", kernels::Precision::kFp32},
                      Case{"tests/data/models/tiny-roberta-f32", kernels::Precision::kInt8},
                      Case{"data/models/default", kernels::Precision::kFp32},
                      Case{"data/models/default", kernels::Precision::kBf16},
                      Case{"data/models/default", kernels::Precision::kInt8}),
    [](const auto& param_info) {
      const Case& c = param_info.param;
      return std::string(std::string(c.folder).find("default") != std::string::npos ? "default_"
                                                                                    : "tiny_") +
             kernels::precision_name(c.precision);
    });

}  // namespace
}  // namespace refusal
