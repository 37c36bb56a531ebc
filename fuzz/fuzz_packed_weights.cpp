// libFuzzer target: any bytes as a stored packed-weights file, refusal-packed-DTYPE.bin
// (read_packed_encoder, src/model/packed_store.cpp), for a micro model (hidden 8, intermediate
// 16, 1 layer). A file it accepts must hold every matrix in range, and each matrix must run.
//
// Input: byte 0 = mode: bits 0-1 the dtype asked for (fp32, bf16, int8); bit 2 leaves the file
// as it is, else the harness first writes the right source fingerprint and header checksum
// into it (a CRC the fuzzer would rarely guess), so the checks behind them are reached. The
// rest is the file.
#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_support.h"
#include "model/packed_store.h"
#include "refusal/error.h"

namespace {

using refusal::kernels::Precision;

constexpr refusal::model::SourceFingerprint kSource{.bytes = 4096, .hash = 0x1234abcd};

refusal::ModelConfig micro_config() {
  refusal::ModelConfig c;
  c.model_type = "roberta";
  c.vocab_size = 16;
  c.hidden_size = 8;
  c.num_hidden_layers = 1;
  c.num_attention_heads = 2;
  c.intermediate_size = 16;
  c.max_position_embeddings = 12;
  c.type_vocab_size = 1;
  c.labels = {"NORMAL", "REJECTION"};
  return c;
}

template <typename T>
T read_at(const std::string& s, std::size_t at) {
  T v{};
  if (at + sizeof v <= s.size()) std::memcpy(&v, s.data() + at, sizeof v);
  return v;
}

template <typename T>
void write_at(std::string& s, std::size_t at, T v) {
  if (at + sizeof v <= s.size()) std::memcpy(s.data() + at, &v, sizeof v);
}

// The format's fields (packed_store.h): source bytes at 40, source hash at 48, header bytes at
// 24, the CRC-32 of the header before it in its last 8 bytes.
void fix_up(std::string& file) {
  write_at<std::uint64_t>(file, 40, kSource.bytes);
  write_at<std::uint64_t>(file, 48, kSource.hash);
  const auto header = read_at<std::uint64_t>(file, 24);
  if (header < 8 || header > file.size()) return;
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(file.data()), static_cast<uInt>(header - 8));
  write_at<std::uint64_t>(file, header - 8, crc);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::filesystem::path path = refusal::fuzz::scratch() / "refusal-packed.bin";
  static const refusal::ModelConfig config = micro_config();
  if (size < 1) return 0;
  const std::uint8_t mode = data[0];
  const Precision precision = (mode & 3) == 1   ? Precision::kBf16
                              : (mode & 3) == 2 ? Precision::kInt8
                                                : Precision::kFp32;
  std::string file(reinterpret_cast<const char*>(data + 1), size - 1);
  if (!(mode & 4)) fix_up(file);
  refusal::fuzz::write_file(path, file);
  std::vector<refusal::model::EncoderRuntime::PackedLayer> layers;
  try {
    layers = refusal::model::read_packed_encoder(path, config, kSource, precision);
  } catch (const refusal::Error& e) {
    refusal::fuzz::refused(e);
    return 0;
  }
  FUZZ_CHECK(layers.size() == 1);
  const auto& l = layers[0];
  const std::size_t h = 8, f = 16;
  const refusal::kernels::PackedLinear* matrices[] = {&l.qkv, &l.attention_out, &l.intermediate,
                                                      &l.output};
  const std::size_t shapes[][2] = {{3 * h, h}, {h, h}, {f, h}, {h, f}};
  for (int i = 0; i < 4; ++i) {
    const auto& m = *matrices[i];
    FUZZ_CHECK(m.n() == shapes[i][0] && m.k() == shapes[i][1] && m.precision() == precision);
    // Two rows through the kernels: every packed byte is read, in the map.
    std::vector<float> x(2 * m.k(), 0.5f), y(2 * m.n());
    m.forward(x.data(), m.k(), 2, y.data(), m.n());
  }
  return 0;
}
