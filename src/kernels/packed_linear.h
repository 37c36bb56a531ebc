// Linear layers y = x·Wᵀ + b with W pre-packed once at load into column panels, in fp32, bf16 or
// int8, computed by hand-written kernels chosen at run time for the CPU (see docs/kernels.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "kernels/cpu_features.h"

namespace refusal::kernels {

enum class Precision { kFp32, kBf16, kInt8 };

const char* precision_name(Precision p);

namespace detail {
// What a kernel needs; filled by PackedLinear::compute.
struct GemmArgs {
  const unsigned char* w;      // panels: [n_pad / 32][groups][128 bytes]
  std::size_t groups;          // k steps of 4 bytes per column: k (fp32), k/2 (bf16), k/4 (int8)
  const float* bias;           // [n_pad], zero padded
  const float* wscale;         // int8: [n_pad] per-column weight scales
  const std::int32_t* colsum;  // int8: [n_pad] column sums of the int8 weights
  const unsigned char* a;      // row r's 4-byte groups start at a + r * a_stride
  std::size_t a_stride;        // bytes; int8 rows carry a float scale and an int32 zero point
                               // in the 16 bytes just before a + r * a_stride
  float* y;
  std::size_t ldy;
  std::size_t r0, r1, c0, c1;  // c0 a multiple of 32; columns >= c1 are not written
};
using GemmFn = void (*)(const GemmArgs&);
// Converts rows [r0, r1) of x (k values each, row stride ldx) into `out`, rows `stride` bytes
// apart: bf16, or u8 with the row's scale and zero point (see gemm_kernels.h).
using PrepareFn = void (*)(const float* x, std::size_t ldx, std::size_t k, std::size_t r0,
                           std::size_t r1, unsigned char* out, std::size_t stride);
}  // namespace detail

// y = x·Wᵀ + b, W given as PyTorch's [n, k] row-major fp32, packed at construction.
//   fp32: exact fp32 products, fp32 accumulation.
//   bf16: x and W rounded to bf16 (nearest-even), products accumulated in fp32.
//   int8: W symmetric int8 per output column; x quantized per row to u8 with a zero point
//         (dynamic, asymmetric); int32 accumulation, dequantized with the bias in the epilogue.
// The kernels (reference, AVX2, AVX-512) are taken at construction from the kernel table of
// active_isa() (dispatch.h).
// Thread safety: const members may run concurrently on disjoint outputs / scratch rows.
class PackedLinear {
 public:
  PackedLinear() = default;
  // bias may be null. Throws refusal::Error on empty shapes or a null weight.
  PackedLinear(const float* w, const float* bias, std::size_t n, std::size_t k, Precision p);
  // Borrows weights packed earlier (the packed_data() of a PackedLinear of the same n, k and
  // precision, e.g. memory-mapped from a file) instead of packing: nothing is copied or
  // quantized. `owner` keeps `packed` alive and readable for as long as this object (and any
  // object moved from it) lives. Throws refusal::Error if the size is not packed_size(n, k, p)
  // or the bytes are not 64-byte aligned.
  PackedLinear(std::shared_ptr<const void> owner, const unsigned char* packed, std::size_t bytes,
               std::size_t n, std::size_t k, Precision p);

  // Version of the packed layout (panels, bias, scales, column sums): changes whenever the bytes
  // packed_data() gives for the same weights change, so stored packed weights can be checked.
  static constexpr std::uint32_t layout_version() { return 1; }
  // Size of the packed bytes for an [n, k] weight in precision p.
  static std::size_t packed_size(std::size_t n, std::size_t k, Precision p);
  // The packed bytes (weights, bias, then for int8 scales and column sums): the same on every
  // CPU, whatever kernel runs them. Empty for a default-constructed object.
  const unsigned char* packed_data() const { return data_; }
  bool borrowed() const { return owner_ != nullptr; }

  std::size_t n() const { return n_; }
  std::size_t k() const { return k_; }
  Precision precision() const { return precision_; }
  Isa isa() const { return isa_; }  // the level the kernels were chosen for
  std::size_t bytes() const;        // memory held by the packed weights, scales and bias

  // Scratch for an input of m rows (0 for fp32): x converted to bf16, or quantized to u8 with
  // each row's scale and zero point. Align it to 64 bytes.
  std::size_t scratch_bytes(std::size_t m) const;
  // Converts rows [r0, r1) of x (row stride ldx >= k) into scratch; a no-op for fp32. Disjoint
  // row ranges may run on different threads.
  void prepare_rows(const float* x, std::size_t ldx, std::size_t r0, std::size_t r1,
                    void* scratch) const;
  // y[r, c] for r in [r0, r1), c in [c0, c1), after prepare_rows covered [r0, r1). c0 and c1
  // are multiples of column_block(), except c1 == n. fp32 reads x (scratch may be null); the
  // others read scratch (x may be null). Row stride of y is ldy >= c1.
  void compute(const float* x, std::size_t ldx, const void* scratch, std::size_t r0, std::size_t r1,
               std::size_t c0, std::size_t c1, float* y, std::size_t ldy) const;
  // The column granularity of compute().
  static constexpr std::size_t column_block() { return 32; }

  // Convenience, one thread: prepare_rows + compute over everything. scratch may be null (then
  // it is allocated here).
  void forward(const float* x, std::size_t ldx, std::size_t m, float* y, std::size_t ldy,
               void* scratch = nullptr) const;

 private:
  struct FreeAligned {
    void operator()(unsigned char* p) const;
  };
  void init_shape(std::size_t n, std::size_t k, Precision p);  // n_pad_, groups_, kernels, sizes
  void point_into(const unsigned char* base);                  // data_, bias_, wscale_, colsum_

  std::size_t n_ = 0;
  std::size_t k_ = 0;
  std::size_t n_pad_ = 0;
  std::size_t groups_ = 0;
  Precision precision_ = Precision::kFp32;
  Isa isa_ = Isa::kReference;
  detail::GemmFn kernel_ = nullptr;
  detail::PrepareFn prepare_ = nullptr;                   // null for fp32
  std::unique_ptr<unsigned char[], FreeAligned> packed_;  // weights, then bias, scales, sums
  std::shared_ptr<const void> owner_;                     // set instead of packed_ when borrowing
  const unsigned char* data_ = nullptr;                   // packed_.get() or the borrowed bytes
  std::size_t packed_bytes_ = 0;
  const float* bias_ = nullptr;
  const float* wscale_ = nullptr;
  const std::int32_t* colsum_ = nullptr;
};

}  // namespace refusal::kernels
