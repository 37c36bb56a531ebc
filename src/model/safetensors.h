// The safetensors format: an 8-byte little-endian header length, a JSON header naming each
// tensor's dtype, shape and byte range, then the data. Files are memory-mapped, never copied.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/mmap_file.h"

namespace refusal::model {

enum class DType { F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL };

const char* dtype_name(DType d);
std::size_t dtype_size(DType d);

struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  std::span<const std::byte> data;  // inside the mapped file
  std::filesystem::path file;

  std::int64_t numel() const;
  std::string shape_string() const;  // "[768, 3072]"
};

// One safetensors file, checked completely when opened: header JSON, dtypes, shapes, and byte
// ranges (inside the file, sized to the shape, not overlapping).
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path);

  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const std::filesystem::path& path() const { return file_->path(); }
  std::span<const std::byte> bytes() const { return file_->bytes(); }  // the whole mapped file

 private:
  std::shared_ptr<base::MappedFile> file_;
  std::map<std::string, TensorView> tensors_;
};

// Every tensor of a model's weights files (one file, or the shards of an index).
class TensorSet {
 public:
  explicit TensorSet(const std::vector<std::filesystem::path>& files);

  const TensorView* find(const std::string& name) const;
  const std::map<std::string, TensorView>& all() const { return all_; }
  std::vector<std::string> dtypes() const;  // distinct dtype names, sorted

 private:
  std::vector<SafetensorsFile> files_;
  std::map<std::string, TensorView> all_;
};

// A tensor to write: its bytes are in the dtype named.
struct TensorData {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  std::span<const std::byte> bytes;
};

// Writes a safetensors file that transformers and the `safetensors` package read: tensors laid
// out in name order, the header padded with spaces to 8 bytes so the data is aligned.
void write_safetensors(const std::filesystem::path& path, std::span<const TensorData> tensors,
                       const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

// Converts an F32, F16 or BF16 tensor to float. F32 data that is suitably aligned is returned
// as a view into the map, with `owned` left empty; anything else is converted into `owned`.
std::span<const float> as_float(const TensorView& t, std::vector<float>& owned);

}  // namespace refusal::model
