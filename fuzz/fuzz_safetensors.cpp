// libFuzzer target: any bytes as model.safetensors (src/model/safetensors.cpp: header length,
// header JSON, dtypes, shapes, byte ranges), then, with mode bit 1, as the weights of a micro
// RoBERTa (src/model/weights.cpp binds them by name and shape, Engine::load packs them) that
// classifies one sequence.
//
// Input: byte 0 = mode, the rest = the file. The micro model is the one fuzz/make_seeds.py
// writes the seeds for: vocab 16, hidden 8, 1 layer, 2 heads, intermediate 16, 12 positions.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "fuzz_support.h"
#include "model/safetensors.h"
#include "refusal/engine.h"
#include "refusal/error.h"

namespace {

using refusal::model::DType;

constexpr const char* kMicroConfig = R"({
  "architectures": ["RobertaForSequenceClassification"], "model_type": "roberta",
  "vocab_size": 16, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
  "intermediate_size": 16, "max_position_embeddings": 12, "type_vocab_size": 1,
  "pad_token_id": 1, "layer_norm_eps": 1e-05, "id2label": {"0": "NORMAL", "1": "REJECTION"}
})";

struct Folder {
  std::filesystem::path dir = refusal::fuzz::scratch() / "micro";
  std::filesystem::path weights = dir / "model.safetensors";
  Folder() {
    std::filesystem::create_directories(dir);
    refusal::fuzz::write_file(dir / "config.json", kMicroConfig);
  }
};

bool is_weight_dtype(DType d) { return d == DType::F32 || d == DType::F16 || d == DType::BF16; }

void check_file(const refusal::model::SafetensorsFile& file) {
  const auto bytes = file.bytes();
  std::vector<std::pair<const std::byte*, const std::byte*>> ranges;
  for (const auto& [name, t] : file.tensors()) {
    // Shapes are checked in 64 bits without overflow: the bytes match the shape exactly.
    std::uint64_t numel = 1;
    for (const auto d : t.shape) {
      FUZZ_CHECK(d >= 0 && static_cast<std::uint64_t>(d) <= (std::uint64_t{1} << 40));
      numel *= static_cast<std::uint64_t>(d);
      FUZZ_CHECK(numel <= (std::uint64_t{1} << 40));
    }
    FUZZ_CHECK(static_cast<std::uint64_t>(t.numel()) == numel);
    FUZZ_CHECK(t.data.size() == numel * refusal::model::dtype_size(t.dtype));
    // Inside the file, after the header.
    FUZZ_CHECK(t.data.data() >= bytes.data() + 8);
    FUZZ_CHECK(t.data.data() + t.data.size() <= bytes.data() + bytes.size());
    if (!t.data.empty()) ranges.emplace_back(t.data.data(), t.data.data() + t.data.size());
    if (is_weight_dtype(t.dtype)) {
      std::vector<float> owned;
      const auto values = refusal::model::as_float(t, owned);
      FUZZ_CHECK(values.size() == numel);
      float sum = 0;
      for (const float v : values) sum += v;  // reads every value: ASan sees any overrun
      (void)sum;
    }
  }
  // No two tensors share a byte.
  std::sort(ranges.begin(), ranges.end());
  for (std::size_t i = 1; i < ranges.size(); ++i) {
    FUZZ_CHECK(ranges[i - 1].second <= ranges[i].first);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const Folder folder;
  if (size < 1) return 0;
  const std::uint8_t mode = data[0];
  refusal::fuzz::write_file(folder.weights, {reinterpret_cast<const char*>(data + 1), size - 1});
  try {
    const refusal::model::SafetensorsFile file(folder.weights);
    check_file(file);
  } catch (const refusal::Error& e) {
    refusal::fuzz::refused(e);
    return 0;  // refused, with a message: what a bad file should get
  }
  if (mode & 1) {
    try {
      const auto engine = refusal::Engine::load(folder.dir.string(), {.threads = 1});
      const std::vector<std::vector<std::int32_t>> batch = {{0, 5, 9, 15, 2}};
      const auto out = engine.classify(batch);
      FUZZ_CHECK(out.size() == 1 && out[0].probabilities.size() == 2);
    } catch (const refusal::Error& e) {
      refusal::fuzz::refused(e);
    }
  }
  return 0;
}
