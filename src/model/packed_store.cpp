#include "model/packed_store.h"

#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>

#include "base/mmap_file.h"
#include "refusal/error.h"

namespace refusal::model {
namespace {

using std::size_t;
using std::uint32_t;
using std::uint64_t;

constexpr char kMagic[8] = {'R', 'F', 'S', 'L', 'P', 'A', 'C', 'K'};
constexpr uint32_t kFormatVersion = 1;
constexpr size_t kFixedHeader = 72;
constexpr size_t kMatrixEntry = 32;
constexpr size_t kAlign = 64;
constexpr uint64_t kMiB = 1 << 20;

// CRC-32 (zlib's) of what is added: it detects a changed model or a damaged header; it does
// not resist tampering.
class Hasher {
 public:
  void add(const void* data, size_t n) {
    const auto* p = static_cast<const Bytef*>(data);
    while (n > 0) {  // crc32 takes a uInt length
      const auto chunk = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
      crc_ = crc32(crc_, p, chunk);
      p += chunk;
      n -= chunk;
    }
  }
  template <typename T>
  void add_value(const T& v) {
    add(&v, sizeof v);
  }
  uint64_t finish() const { return crc_; }

 private:
  uLong crc_ = crc32(0L, Z_NULL, 0);
};

uint64_t round_up(uint64_t v, uint64_t m) { return (v + m - 1) / m * m; }

uint32_t dtype_code(kernels::Precision p) {
  switch (p) {
    case kernels::Precision::kFp32:
      return 1;
    case kernels::Precision::kBf16:
      return 2;
    case kernels::Precision::kInt8:
      return 3;
  }
  return 0;
}

std::string dtype_of_code(uint32_t code) {
  switch (code) {
    case 1:
      return "fp32";
    case 2:
      return "bf16";
    case 3:
      return "int8";
  }
  return "unknown dtype code " + std::to_string(code);
}

std::string hex(uint64_t v) {
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// The expected [n, k] of matrix i (4 per layer).
std::array<uint64_t, 2> matrix_shape(const ModelConfig& c, size_t i) {
  const auto h = static_cast<uint64_t>(c.hidden_size);
  const auto f = static_cast<uint64_t>(c.intermediate_size);
  switch (i % 4) {
    case 0:
      return {3 * h, h};
    case 1:
      return {h, h};
    case 2:
      return {f, h};
    default:
      return {h, f};
  }
}

const char* matrix_name(size_t i) {
  static const char* names[] = {"qkv", "attention output", "intermediate", "output"};
  return names[i % 4];
}

std::vector<const kernels::PackedLinear*> matrices_of(const EncoderRuntime& runtime) {
  std::vector<const kernels::PackedLinear*> out;
  for (const auto& l : runtime.layers()) {
    for (const auto* m : {&l.qkv, &l.attention_out, &l.intermediate, &l.output}) {
      out.push_back(m);
    }
  }
  return out;
}

template <typename T>
void put(std::vector<unsigned char>& out, size_t at, T v) {
  std::memcpy(out.data() + at, &v, sizeof v);
}

template <typename T>
T get(const std::byte* p, size_t at) {
  T v;
  std::memcpy(&v, p + at, sizeof v);
  return v;
}

}  // namespace

SourceFingerprint fingerprint_weights(const std::vector<std::filesystem::path>& files) {
  SourceFingerprint fp;
  Hasher h;
  std::vector<char> buf;
  for (const auto& path : files) {
    std::error_code ec;
    const uint64_t size = std::filesystem::file_size(path, ec);
    if (ec) throw Error(path.string() + ": cannot read its size: " + ec.message());
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path.string() + ": cannot open");
    fp.bytes += size;
    const std::string name = path.filename().string();
    h.add(name.data(), name.size());
    h.add_value(size);
    // The safetensors header (its 8-byte length, then the JSON), then the first MiB after it.
    uint64_t header = 0;
    if (size >= 8) {
      in.read(reinterpret_cast<char*>(&header), 8);
      header = std::min<uint64_t>(header, size - 8);
    }
    const uint64_t head = std::min<uint64_t>(size, 8 + header + kMiB);
    const uint64_t tail_start = std::max<uint64_t>(head, size > kMiB ? size - kMiB : 0);
    for (const auto& [from, to] : {std::pair{uint64_t{0}, head}, std::pair{tail_start, size}}) {
      if (to <= from) continue;
      buf.resize(static_cast<size_t>(to - from));
      in.clear();
      in.seekg(static_cast<std::streamoff>(from));
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      if (!in) throw Error(path.string() + ": cannot read");
      h.add(buf.data(), buf.size());
    }
  }
  fp.hash = h.finish();
  return fp;
}

std::string packed_file_name(kernels::Precision precision) {
  return std::string("refusal-packed-") + kernels::precision_name(precision) + ".bin";
}

void write_packed_encoder(const std::filesystem::path& path, const ModelConfig& config,
                          const SourceFingerprint& source, const EncoderRuntime& runtime) {
  const auto matrices = matrices_of(runtime);
  const size_t header_bytes = kFixedHeader + kMatrixEntry * matrices.size() + 8;
  std::vector<unsigned char> header(header_bytes, 0);
  std::memcpy(header.data(), kMagic, 8);
  put<uint32_t>(header, 8, kFormatVersion);
  put<uint32_t>(header, 12, kernels::PackedLinear::layout_version());
  put<uint32_t>(header, 16, dtype_code(runtime.precision()));
  put<uint32_t>(header, 20, static_cast<uint32_t>(matrices.size()));
  put<uint64_t>(header, 24, header_bytes);
  put<uint64_t>(header, 40, source.bytes);
  put<uint64_t>(header, 48, source.hash);
  put<uint32_t>(header, 56, static_cast<uint32_t>(config.num_hidden_layers));
  put<uint32_t>(header, 60, static_cast<uint32_t>(config.hidden_size));
  put<uint32_t>(header, 64, static_cast<uint32_t>(config.intermediate_size));
  uint64_t offset = round_up(header_bytes, kAlign);
  for (size_t i = 0; i < matrices.size(); ++i) {
    const auto* m = matrices[i];
    const size_t at = kFixedHeader + kMatrixEntry * i;
    put<uint64_t>(header, at, m->n());
    put<uint64_t>(header, at + 8, m->k());
    put<uint64_t>(header, at + 16, offset);
    put<uint64_t>(header, at + 24, m->bytes());
    offset = round_up(offset + m->bytes(), kAlign);
  }
  const uint64_t file_bytes = offset;
  put<uint64_t>(header, 32, file_bytes);
  Hasher h;
  h.add(header.data(), header_bytes - 8);
  put<uint64_t>(header, header_bytes - 8, h.finish());

  // Write beside the target, then rename: a reader sees the old file or the whole new one.
  std::filesystem::path tmp = path;
  tmp += ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(tmp.string() + ": cannot create: " + std::strerror(errno));
    static const char zeros[kAlign] = {};
    out.write(reinterpret_cast<const char*>(header.data()),
              static_cast<std::streamsize>(header.size()));
    uint64_t at = header_bytes;
    for (const auto* m : matrices) {
      const uint64_t start = round_up(at, kAlign);
      out.write(zeros, static_cast<std::streamsize>(start - at));
      out.write(reinterpret_cast<const char*>(m->packed_data()),
                static_cast<std::streamsize>(m->bytes()));
      at = start + m->bytes();
    }
    out.write(zeros, static_cast<std::streamsize>(file_bytes - at));
    out.flush();
    if (!out) {
      const std::string why = std::strerror(errno);
      out.close();
      std::filesystem::remove(tmp);
      throw Error(tmp.string() + ": cannot write: " + why);
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp);
    throw Error(path.string() + ": cannot write: " + ec.message());
  }
}

std::vector<EncoderRuntime::PackedLayer> read_packed_encoder(const std::filesystem::path& path,
                                                             const ModelConfig& config,
                                                             const SourceFingerprint& source,
                                                             kernels::Precision precision) {
  const std::string where = path.string() + ": packed weights: ";
  const std::string redo = " (rerun `refusal pack` for this model and dtype, or delete the file)";
  auto file = std::make_shared<base::MappedFile>(path);
  const auto bytes = file->bytes();
  const std::byte* p = bytes.data();
  const size_t size = bytes.size();
  if (size < kFixedHeader) {
    throw Error(where + "truncated: " + std::to_string(size) + " bytes, shorter than the " +
                std::to_string(kFixedHeader) + "-byte header" + redo);
  }
  if (std::memcmp(p, kMagic, 8) != 0) {
    throw Error(where + "magic: not a refusal packed-weights file (no \"RFSLPACK\" at the start)");
  }
  const auto version = get<uint32_t>(p, 8);
  if (version != kFormatVersion) {
    throw Error(where + "format version: " + std::to_string(version) + ", this build reads " +
                std::to_string(kFormatVersion) + redo);
  }
  const auto layout = get<uint32_t>(p, 12);
  if (layout != kernels::PackedLinear::layout_version()) {
    throw Error(where + "panel layout version: " + std::to_string(layout) +
                ", this build packs version " +
                std::to_string(kernels::PackedLinear::layout_version()) + redo);
  }
  const auto count = get<uint32_t>(p, 20);
  const auto header_bytes = get<uint64_t>(p, 24);
  if (header_bytes != kFixedHeader + kMatrixEntry * uint64_t{count} + 8) {
    throw Error(where + "header bytes: " + std::to_string(header_bytes) + " for " +
                std::to_string(count) + " matrices: the header is damaged" + redo);
  }
  if (size < header_bytes) {
    throw Error(where + "truncated: " + std::to_string(size) + " bytes, shorter than its " +
                std::to_string(header_bytes) + "-byte header" + redo);
  }
  Hasher h;
  h.add(p, header_bytes - 8);
  if (h.finish() != get<uint64_t>(p, header_bytes - 8)) {
    throw Error(where + "header checksum: does not match, the header is damaged" + redo);
  }
  const auto file_bytes = get<uint64_t>(p, 32);
  if (size != file_bytes) {
    throw Error(where + (size < file_bytes ? "truncated: " : "file size: ") + std::to_string(size) +
                " bytes, the header says " + std::to_string(file_bytes) + redo);
  }
  const auto dtype = get<uint32_t>(p, 16);
  if (dtype != dtype_code(precision)) {
    throw Error(where + "dtype: the file holds " + dtype_of_code(dtype) + " weights, " +
                kernels::precision_name(precision) + " was asked for");
  }
  const auto src_bytes = get<uint64_t>(p, 40);
  const auto src_hash = get<uint64_t>(p, 48);
  if (src_bytes != source.bytes || src_hash != source.hash) {
    throw Error(where + "source fingerprint: stale, made from safetensors files of " +
                std::to_string(src_bytes) + " bytes (hash " + hex(src_hash) +
                "), the model's are now " + std::to_string(source.bytes) + " bytes (hash " +
                hex(source.hash) + ")" + redo);
  }
  const struct {
    const char* name;
    size_t at;
    int want;
  } dims[] = {{"layers", 56, config.num_hidden_layers},
              {"hidden size", 60, config.hidden_size},
              {"intermediate size", 64, config.intermediate_size}};
  for (const auto& d : dims) {
    const auto got = get<uint32_t>(p, d.at);
    if (got != static_cast<uint32_t>(d.want)) {
      throw Error(where + d.name + ": " + std::to_string(got) + ", config.json says " +
                  std::to_string(d.want) + redo);
    }
  }
  if (count != 4 * static_cast<uint64_t>(config.num_hidden_layers)) {
    throw Error(where + "matrix count: " + std::to_string(count) + ", expected 4 per layer" + redo);
  }

  // Start reading the weights in now; the first forward pass touches all of them.
  if (size > header_bytes) {
    ::madvise(const_cast<std::byte*>(p), size, MADV_WILLNEED);
  }
  std::vector<EncoderRuntime::PackedLayer> layers(static_cast<size_t>(config.num_hidden_layers));
  for (size_t i = 0; i < count; ++i) {
    const size_t at = kFixedHeader + kMatrixEntry * i;
    const auto n = get<uint64_t>(p, at);
    const auto k = get<uint64_t>(p, at + 8);
    const auto offset = get<uint64_t>(p, at + 16);
    const auto len = get<uint64_t>(p, at + 24);
    const std::string which = "matrix " + std::to_string(i) + " (layer " + std::to_string(i / 4) +
                              " " + matrix_name(i) + "): ";
    const auto want = matrix_shape(config, i);
    if (n != want[0] || k != want[1]) {
      throw Error(where + which + "shape [" + std::to_string(n) + ", " + std::to_string(k) +
                  "], config.json implies [" + std::to_string(want[0]) + ", " +
                  std::to_string(want[1]) + "]" + redo);
    }
    const auto expected = kernels::PackedLinear::packed_size(n, k, precision);
    if (len != expected || offset % kAlign != 0 || offset < header_bytes || offset > size ||
        len > size - offset) {
      throw Error(where + which + "offset " + std::to_string(offset) + ", " + std::to_string(len) +
                  " bytes: not a 64-byte aligned range of " + std::to_string(expected) +
                  " bytes inside the file" + redo);
    }
    auto& layer = layers[i / 4];
    kernels::PackedLinear* slot[] = {&layer.qkv, &layer.attention_out, &layer.intermediate,
                                     &layer.output};
    *slot[i % 4] = kernels::PackedLinear(file, reinterpret_cast<const unsigned char*>(p + offset),
                                         len, n, k, precision);
  }
  return layers;
}

}  // namespace refusal::model
