// Stored packed encoder weights: the kernels::PackedLinear bytes of every encoder layer, for one
// precision, written once by `refusal pack` and memory-mapped at load instead of packing (and,
// for int8, quantizing) the weights again. The packed layout does not depend on the CPU, so a
// file works on any machine; the kernels are still chosen at load.
//
// File (little-endian), version 1:
//   offset  0  char[8]  magic "RFSLPACK"
//           8  u32      format version (1)
//          12  u32      panel layout version (kernels::PackedLinear::layout_version())
//          16  u32      dtype: 1 fp32, 2 bf16, 3 int8
//          20  u32      matrix count (4 per layer: qkv, attention output, intermediate, output)
//          24  u64      header bytes (up to and including the checksum below)
//          32  u64      file bytes (the whole file)
//          40  u64      source bytes: total size of the model's safetensors files
//          48  u64      source hash: CRC-32 over each file's name, size, safetensors header, first
//          and
//                       last MiB
//          56  u32 × 4  layers, hidden size, intermediate size, 0
//          72  per matrix: u64 n, u64 k, u64 offset, u64 bytes
//              u64      CRC-32 of every header byte before it
//   then each matrix's packed bytes at its offset, a multiple of 64.
//
// Reading checks everything in the header (magic, versions, checksum, file size, dtype, source
// fingerprint, shapes against config.json, offsets) and throws refusal::Error naming the file and
// the field that does not match; the packed bytes themselves are not checksummed (they are not
// read at load, the point of the file), just as safetensors data is not.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "kernels/packed_linear.h"
#include "model/encoder.h"
#include "refusal/model.h"

namespace refusal::model {

// Identifies the safetensors files packed weights were made from, cheaply: a changed model gives
// another fingerprint (unless only bytes in the middle of a tensor changed while keeping the
// size, the header, and the first and last MiB of each file).
struct SourceFingerprint {
  std::uint64_t bytes = 0;  // total size of the files
  std::uint64_t hash = 0;
};
SourceFingerprint fingerprint_weights(const std::vector<std::filesystem::path>& files);

// "refusal-packed-int8.bin" (fp32, bf16, int8).
std::string packed_file_name(kernels::Precision precision);

// Writes `runtime`'s packed layers to `path` (through a temporary file in the same folder,
// renamed into place, so a reader never sees half a file). Throws refusal::Error on I/O errors.
void write_packed_encoder(const std::filesystem::path& path, const ModelConfig& config,
                          const SourceFingerprint& source, const EncoderRuntime& runtime);

// Maps `path` and returns its layers borrowing the map (which they keep alive). Throws
// refusal::Error naming the file and the field when it is not a packed-weights file, is damaged
// or truncated, was made by another format or layout version, for another dtype, from other
// safetensors files (`source`), or for other shapes than `config`'s.
std::vector<EncoderRuntime::PackedLayer> read_packed_encoder(const std::filesystem::path& path,
                                                             const ModelConfig& config,
                                                             const SourceFingerprint& source,
                                                             kernels::Precision precision);

}  // namespace refusal::model
