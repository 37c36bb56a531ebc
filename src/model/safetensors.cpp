#include "model/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "refusal/error.h"

namespace refusal::model {
namespace {

using nlohmann::json;

struct DTypeInfo {
  const char* name;
  DType dtype;
  std::size_t size;
};

constexpr DTypeInfo kDTypes[] = {{"F32", DType::F32, 4},   {"F16", DType::F16, 2},
                                 {"BF16", DType::BF16, 2}, {"F64", DType::F64, 8},
                                 {"I64", DType::I64, 8},   {"I32", DType::I32, 4},
                                 {"I16", DType::I16, 2},   {"I8", DType::I8, 1},
                                 {"U8", DType::U8, 1},     {"BOOL", DType::BOOL, 1}};

// Largest header the format allows (safetensors caps it at 100 MB).
constexpr std::uint64_t kMaxHeader = 100'000'000;
// Most elements one tensor may have (and largest dimension): 2^40, far beyond any model.
constexpr std::uint64_t kMaxElements = 1ull << 40;

float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = (h & 0x8000u) << 16;
  std::uint32_t exp = (h >> 10) & 0x1Fu;
  std::uint32_t mant = h & 0x3FFu;
  std::uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        --exp;
      }
      mant &= 0x3FFu;
      bits = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  return std::bit_cast<float>(bits);
}

}  // namespace

const char* dtype_name(DType d) {
  for (const auto& info : kDTypes) {
    if (info.dtype == d) return info.name;
  }
  return "?";
}

std::size_t dtype_size(DType d) {
  for (const auto& info : kDTypes) {
    if (info.dtype == d) return info.size;
  }
  return 0;
}

std::int64_t TensorView::numel() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

std::string TensorView::shape_string() const {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path)
    : file_(std::make_shared<base::MappedFile>(path)) {
  const auto bytes = file_->bytes();
  const std::string where = path.string();
  if (bytes.size() < 8) {
    throw Error(where + ": truncated safetensors file (" + std::to_string(bytes.size()) +
                " bytes, the 8-byte header length is missing)");
  }
  std::uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i)
    header_len = (header_len << 8) | std::to_integer<std::uint8_t>(bytes[i]);
  if (header_len > kMaxHeader || header_len > bytes.size() - 8) {
    throw Error(where + ": corrupt safetensors header: header length " +
                std::to_string(header_len) + " exceeds the file's " +
                std::to_string(bytes.size() - 8) + " remaining bytes");
  }
  const char* header_begin = reinterpret_cast<const char*>(bytes.data() + 8);
  json header;
  try {
    header = json::parse(header_begin, header_begin + header_len);
  } catch (const json::parse_error& e) {
    throw Error(where + ": corrupt safetensors header: invalid JSON at byte " +
                std::to_string(8 + e.byte) + ": " + e.what());
  } catch (const json::exception& e) {  // e.g. a number beyond a double: 1e400
    throw Error(where + ": corrupt safetensors header: invalid JSON: " + e.what());
  }
  if (!header.is_object()) throw Error(where + ": corrupt safetensors header: not a JSON object");

  const std::size_t data_start = 8 + header_len;
  const std::size_t data_size = bytes.size() - data_start;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
  std::vector<std::string> range_names;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    const std::string at = where + ": tensor '" + name + "': ";
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") ||
        !entry.contains("data_offsets")) {
      throw Error(at + "header entry needs dtype, shape and data_offsets");
    }
    TensorView t;
    t.name = name;
    t.file = path;
    const json& dt = entry.at("dtype");
    const DTypeInfo* info = nullptr;
    for (const auto& candidate : kDTypes) {
      if (dt.is_string() && dt.get<std::string>() == candidate.name) info = &candidate;
    }
    if (info == nullptr) throw Error(at + "unknown dtype " + dt.dump());
    t.dtype = info->dtype;
    const json& shape = entry.at("shape");
    if (!shape.is_array()) throw Error(at + "shape is not a list");
    std::uint64_t numel = 1;
    for (const auto& d : shape) {
      if (!d.is_number_unsigned() || d.get<std::uint64_t>() > kMaxElements) {
        throw Error(at + "bad dimension " + d.dump() + " in shape " + shape.dump());
      }
      const auto dim = d.get<std::uint64_t>();
      t.shape.push_back(static_cast<std::int64_t>(dim));
      // Checked before multiplying: [2^40, 2^40] must not wrap around to a small count.
      if (dim != 0 && numel > kMaxElements / dim) {
        throw Error(at + "shape " + shape.dump() + " is too large");
      }
      numel *= dim;
    }
    const json& off = entry.at("data_offsets");
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() ||
        !off[1].is_number_unsigned()) {
      throw Error(at + "data_offsets must be two non-negative integers, got " + off.dump());
    }
    const auto begin = off[0].get<std::uint64_t>();
    const auto end = off[1].get<std::uint64_t>();
    if (begin > end) throw Error(at + "data_offsets " + off.dump() + " end before they begin");
    if (end > data_size) {
      throw Error(at + "data_offsets " + off.dump() + " run past the end of the data (" +
                  std::to_string(data_size) + " bytes; is the file truncated?)");
    }
    if (end - begin != numel * info->size) {
      throw Error(at + "data_offsets " + off.dump() + " hold " + std::to_string(end - begin) +
                  " bytes, but shape " + shape.dump() + " of " + info->name + " needs " +
                  std::to_string(numel * info->size));
    }
    t.data = bytes.subspan(data_start + begin, end - begin);
    ranges.emplace_back(begin, end);
    range_names.push_back(name);
    tensors_.emplace(name, std::move(t));
  }
  // Empty tensors occupy no bytes; each non-empty one must start at or after the end of the
  // one before it in offset order (compared with that one, not with an empty tensor between).
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    if (ranges[i].first != ranges[i].second) order.push_back(i);
  }
  std::sort(order.begin(), order.end(), [&](auto a, auto b) { return ranges[a] < ranges[b]; });
  for (std::size_t i = 1; i < order.size(); ++i) {
    const auto& prev = ranges[order[i - 1]];
    const auto& cur = ranges[order[i]];
    if (cur.first < prev.second) {
      throw Error(where + ": corrupt safetensors header: tensors '" + range_names[order[i - 1]] +
                  "' and '" + range_names[order[i]] + "' overlap (bytes " +
                  std::to_string(prev.first) + "-" + std::to_string(prev.second) + " and " +
                  std::to_string(cur.first) + "-" + std::to_string(cur.second) + ")");
    }
  }
}

TensorSet::TensorSet(const std::vector<std::filesystem::path>& files) {
  for (const auto& path : files) {
    files_.emplace_back(path);
    for (const auto& [name, view] : files_.back().tensors()) {
      auto [it, inserted] = all_.emplace(name, view);
      if (!inserted) {
        throw Error(path.string() + ": tensor '" + name + "' is also in " +
                    it->second.file.string());
      }
    }
  }
}

const TensorView* TensorSet::find(const std::string& name) const {
  auto it = all_.find(name);
  return it == all_.end() ? nullptr : &it->second;
}

std::vector<std::string> TensorSet::dtypes() const {
  std::vector<std::string> names;
  for (const auto& [_, t] : all_) names.push_back(dtype_name(t.dtype));
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

std::span<const float> as_float(const TensorView& t, std::vector<float>& owned) {
  const auto n = static_cast<std::size_t>(t.numel());
  const std::byte* p = t.data.data();
  // An empty tensor may sit at any offset; copying its zero bytes would hand memcpy a null
  // destination (owned.data() of an empty vector), which is undefined behaviour.
  if (n == 0) return {};
  switch (t.dtype) {
    case DType::F32:
      if (reinterpret_cast<std::uintptr_t>(p) % alignof(float) == 0) {
        return {reinterpret_cast<const float*>(p), n};
      }
      owned.resize(n);
      std::memcpy(owned.data(), p, n * sizeof(float));
      return owned;
    case DType::F16:
    case DType::BF16: {
      owned.resize(n);
      for (std::size_t i = 0; i < n; ++i) {
        std::uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        owned[i] = t.dtype == DType::F16
                       ? half_to_float(h)
                       : std::bit_cast<float>(static_cast<std::uint32_t>(h) << 16);
      }
      return owned;
    }
    default:
      throw Error(t.file.string() + ": tensor '" + t.name + "': dtype " + dtype_name(t.dtype) +
                  " is not a weight dtype (F32, F16 or BF16 expected)");
  }
}

void write_safetensors(const std::filesystem::path& path, std::span<const TensorData> tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<const TensorData*> order;
  for (const auto& t : tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->name < b->name; });
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  for (const auto* t : order) {
    std::uint64_t numel = 1;
    for (auto d : t->shape) numel *= static_cast<std::uint64_t>(d);
    if (numel * dtype_size(t->dtype) != t->bytes.size()) {
      throw Error(path.string() + ": tensor '" + t->name + "' has " +
                  std::to_string(t->bytes.size()) + " bytes, its shape needs " +
                  std::to_string(numel * dtype_size(t->dtype)));
    }
    header[t->name] = {{"dtype", dtype_name(t->dtype)},
                       {"shape", t->shape},
                       {"data_offsets", {offset, offset + t->bytes.size()}}};
    offset += t->bytes.size();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error(path.string() + ": cannot create");
  std::uint64_t n = text.size();
  char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  out.write(len, 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (const auto* t : order) {
    out.write(reinterpret_cast<const char*>(t->bytes.data()),
              static_cast<std::streamsize>(t->bytes.size()));
  }
  if (!out.flush()) throw Error(path.string() + ": write failed (disk full?)");
}

}  // namespace refusal::model
