// PackedLinear: packing at load, the portable input preparation (bf16 rounding, int8
// quantization), and the calls into the kernels of gemm_kernels.h that the kernel table
// (dispatch.h) gives. Compiled for baseline x86-64: everything here runs everywhere, and its
// results do not depend on the ISA chosen.
#include "kernels/packed_linear.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "kernels/dispatch.h"
#include "kernels/gemm_kernels.h"
#include "refusal/error.h"

namespace refusal::kernels {
namespace {

constexpr std::size_t kPanel = 32;        // columns per panel
constexpr std::size_t kGroupBytes = 128;  // one panel row: 32 columns × 4 bytes
constexpr std::size_t kAlign = 64;
using detail::kInt8Header;

std::size_t round_up(std::size_t v, std::size_t m) { return (v + m - 1) / m * m; }

std::size_t k_per_group(Precision p) {
  switch (p) {
    case Precision::kFp32:
      return 1;
    case Precision::kBf16:
      return 2;
    case Precision::kInt8:
      return 4;
  }
  return 1;
}

// fp32 -> bf16, round to nearest even; NaN stays NaN.
std::uint16_t to_bf16(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<std::uint16_t>(u >> 16);
}

// Nearest integer, ties to even, for |v| <= 2^22: adding 1.5·2^23 leaves only integer bits.
// Unlike std::nearbyint it vectorises with baseline SSE2; the results are the same.
float round_even(float v) {
  constexpr float kMagic = 12582912.0f;
  return (v + kMagic) - kMagic;
}

std::size_t bf16_row_bytes(std::size_t groups) { return round_up(groups * 4, kAlign); }
std::size_t int8_row_bytes(std::size_t groups) {
  return round_up(kInt8Header + groups * 4, kAlign);
}

}  // namespace

void detail::int8_row_params(float lo, float hi, float top, float* scale, float* inv, float* zero) {
  float s = (hi - lo) / top;
  if (!(s > 0.0f) || !std::isfinite(s)) s = 1.0f;  // all zero (or inf / NaN)
  *scale = s;
  *inv = 1.0f / s;
  *zero = std::min(top, std::max(0.0f, std::nearbyint(-lo * *inv)));
}

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::kFp32:
      return "fp32";
    case Precision::kBf16:
      return "bf16";
    case Precision::kInt8:
      return "int8";
  }
  return "unknown";
}

void PackedLinear::FreeAligned::operator()(unsigned char* p) const {
  ::operator delete[](p, std::align_val_t(kAlign));
}

namespace {
// Byte offsets in the packed bytes: weights, then bias, then (int8) scales and column sums.
std::size_t weight_bytes_of(std::size_t n_pad, std::size_t groups) {
  return n_pad / kPanel * groups * kGroupBytes;
}
std::size_t vec_bytes_of(std::size_t n_pad) { return round_up(n_pad * 4, kAlign); }
}  // namespace

void PackedLinear::init_shape(std::size_t n, std::size_t k, Precision p) {
  if (n == 0 || k == 0) {
    throw Error("PackedLinear: empty weight (n=" + std::to_string(n) + ", k=" + std::to_string(k) +
                ")");
  }
  const std::size_t kg = k_per_group(p);
  n_pad_ = round_up(n, kPanel);
  groups_ = (k + kg - 1) / kg;
  const KernelTable& kernels = active_kernels();
  isa_ = kernels.isa;
  switch (p) {
    case Precision::kFp32:
      kernel_ = kernels.gemm_fp32;
      break;
    case Precision::kBf16:
      kernel_ = kernels.gemm_bf16;
      prepare_ = kernels.prepare_bf16;
      break;
    case Precision::kInt8:
      kernel_ = kernels.gemm_int8;
      prepare_ = kernels.prepare_int8;
      break;
  }
  packed_bytes_ = packed_size(n, k, p);
}

void PackedLinear::point_into(const unsigned char* base) {
  const std::size_t weight_bytes = weight_bytes_of(n_pad_, groups_);
  const std::size_t vec_bytes = vec_bytes_of(n_pad_);
  data_ = base;
  bias_ = reinterpret_cast<const float*>(base + weight_bytes);
  if (precision_ == Precision::kInt8) {
    wscale_ = reinterpret_cast<const float*>(base + weight_bytes + vec_bytes);
    colsum_ = reinterpret_cast<const std::int32_t*>(base + weight_bytes + 2 * vec_bytes);
  }
}

std::size_t PackedLinear::packed_size(std::size_t n, std::size_t k, Precision p) {
  const std::size_t kg = k_per_group(p);
  const std::size_t n_pad = round_up(n, kPanel);
  return weight_bytes_of(n_pad, (k + kg - 1) / kg) +
         vec_bytes_of(n_pad) * (p == Precision::kInt8 ? 3 : 1);
}

PackedLinear::PackedLinear(std::shared_ptr<const void> owner, const unsigned char* packed,
                           std::size_t bytes, std::size_t n, std::size_t k, Precision p)
    : n_(n), k_(k), precision_(p) {
  init_shape(n, k, p);
  if (packed == nullptr || bytes != packed_bytes_) {
    throw Error("PackedLinear: " + std::to_string(bytes) +
                " packed bytes for n=" + std::to_string(n) + ", k=" + std::to_string(k) + " " +
                precision_name(p) + ", expected " + std::to_string(packed_bytes_));
  }
  if (reinterpret_cast<std::uintptr_t>(packed) % kAlign != 0) {
    throw Error("PackedLinear: packed bytes not 64-byte aligned");
  }
  owner_ = std::move(owner);
  point_into(packed);
}

PackedLinear::PackedLinear(const float* w, const float* bias, std::size_t n, std::size_t k,
                           Precision p)
    : n_(n), k_(k), precision_(p) {
  if (w == nullptr) {
    throw Error("PackedLinear: empty weight (n=" + std::to_string(n) + ", k=" + std::to_string(k) +
                ")");
  }
  init_shape(n, k, p);
  const std::size_t kg = k_per_group(p);

  // One allocation: weights, bias, then (int8) scales and column sums, each n_pad long.
  const std::size_t weight_bytes = weight_bytes_of(n_pad_, groups_);
  const std::size_t vec_bytes = vec_bytes_of(n_pad_);
  packed_.reset(new (std::align_val_t(kAlign)) unsigned char[packed_bytes_]);
  unsigned char* base = packed_.get();
  std::memset(base, 0, packed_bytes_);  // zero padding: extra columns and k values add nothing
  auto* b = reinterpret_cast<float*>(base + weight_bytes);
  if (bias != nullptr) std::copy(bias, bias + n, b);

  auto dst = [&](std::size_t c, std::size_t kk) {  // byte offset of W[c, kk] in the panels
    const std::size_t elem = 4 / kg;
    return ((c / kPanel) * groups_ + kk / kg) * kGroupBytes + (c % kPanel) * 4 + (kk % kg) * elem;
  };
  if (p == Precision::kFp32) {
    for (std::size_t c = 0; c < n; ++c) {
      for (std::size_t kk = 0; kk < k; ++kk) std::memcpy(base + dst(c, kk), &w[c * k + kk], 4);
    }
  } else if (p == Precision::kBf16) {
    for (std::size_t c = 0; c < n; ++c) {
      for (std::size_t kk = 0; kk < k; ++kk) {
        const std::uint16_t h = to_bf16(w[c * k + kk]);
        std::memcpy(base + dst(c, kk), &h, 2);
      }
    }
  } else {
    // Symmetric per output column: q = round(w / s), s = max|w| / 127; the column sums of q
    // pay for the input's zero point in the epilogue.
    auto* scale = reinterpret_cast<float*>(base + weight_bytes + vec_bytes);
    auto* colsum = reinterpret_cast<std::int32_t*>(base + weight_bytes + 2 * vec_bytes);
    for (std::size_t c = 0; c < n; ++c) {
      const float* row = w + c * k;
      float amax = 0.0f;
      for (std::size_t kk = 0; kk < k; ++kk) amax = std::max(amax, std::fabs(row[kk]));
      const float s = amax > 0.0f && std::isfinite(amax) ? amax / 127.0f : 1.0f;
      std::int32_t sum = 0;
      for (std::size_t kk = 0; kk < k; ++kk) {
        float q = std::nearbyint(row[kk] / s);
        q = q > -127.0f ? q : -127.0f;  // also maps NaN to -127 rather than to UB
        q = q < 127.0f ? q : 127.0f;
        const auto qi = static_cast<std::int8_t>(q);
        base[dst(c, kk)] = static_cast<unsigned char>(qi);
        sum += qi;
      }
      scale[c] = s;
      colsum[c] = sum;
    }
  }
  point_into(base);
}

std::size_t PackedLinear::bytes() const { return packed_bytes_; }

std::size_t PackedLinear::scratch_bytes(std::size_t m) const {
  switch (precision_) {
    case Precision::kFp32:
      return 0;
    case Precision::kBf16:
      return m * bf16_row_bytes(groups_);
    case Precision::kInt8:
      return m * int8_row_bytes(groups_);
  }
  return 0;
}

void PackedLinear::prepare_rows(const float* x, std::size_t ldx, std::size_t r0, std::size_t r1,
                                void* scratch) const {
  if (precision_ == Precision::kFp32 || r0 >= r1) return;
  if (x == nullptr || scratch == nullptr || ldx < k_) {
    throw Error("PackedLinear::prepare_rows: null input or scratch, or ldx < k");
  }
  const std::size_t stride =
      precision_ == Precision::kBf16 ? bf16_row_bytes(groups_) : int8_row_bytes(groups_);
  prepare_(x, ldx, k_, r0, r1, static_cast<unsigned char*>(scratch), stride);
}

void reference::prepare_bf16(const float* x, std::size_t ldx, std::size_t k, std::size_t r0,
                             std::size_t r1, unsigned char* out, std::size_t stride) {
  for (std::size_t r = r0; r < r1; ++r) {
    const float* xr = x + r * ldx;
    auto* row = out + r * stride;
    for (std::size_t kk = 0; kk < k; ++kk) {
      const std::uint16_t h = to_bf16(xr[kk]);
      std::memcpy(row + 2 * kk, &h, 2);
    }
    std::memset(row + 2 * k, 0, stride - 2 * k);  // zero pad: 0 · 0, never NaN · 0
  }
}

namespace {
// Per row, 0..top with a zero point over [min(x, 0), max(x, 0)], so 0 is exact.
void prepare_int8_levels(const float* x, std::size_t ldx, std::size_t k, std::size_t r0,
                         std::size_t r1, unsigned char* out, std::size_t stride, float top) {
  for (std::size_t r = r0; r < r1; ++r) {
    const float* xr = x + r * ldx;
    unsigned char* row = out + r * stride;
    float lo = 0.0f;
    float hi = 0.0f;
    for (std::size_t kk = 0; kk < k; ++kk) {
      lo = xr[kk] < lo ? xr[kk] : lo;
      hi = xr[kk] > hi ? xr[kk] : hi;
    }
    float scale, inv, zero;
    detail::int8_row_params(lo, hi, top, &scale, &inv, &zero);
    unsigned char* q = row + kInt8Header;
    for (std::size_t kk = 0; kk < k; ++kk) {
      float v = xr[kk] * inv;
      v = v > -512.0f ? v : -512.0f;  // keeps round_even exact; NaN goes to -512, then 0
      v = v < 512.0f ? v : 512.0f;
      v = round_even(v) + zero;
      v = v > 0.0f ? v : 0.0f;
      v = v < top ? v : top;
      q[kk] = static_cast<unsigned char>(static_cast<int>(v));
    }
    std::memset(q + k, 0, stride - kInt8Header - k);
    const auto zero_i = static_cast<std::int32_t>(zero);
    std::memcpy(row, &scale, 4);
    std::memcpy(row + 4, &zero_i, 4);
    std::memset(row + 8, 0, 8);
  }
}
}  // namespace

void reference::prepare_int8(const float* x, std::size_t ldx, std::size_t k, std::size_t r0,
                             std::size_t r1, unsigned char* out, std::size_t stride) {
  prepare_int8_levels(x, ldx, k, r0, r1, out, stride, detail::kInt8Top);
}

void reference::prepare_int8_u7(const float* x, std::size_t ldx, std::size_t k, std::size_t r0,
                                std::size_t r1, unsigned char* out, std::size_t stride) {
  prepare_int8_levels(x, ldx, k, r0, r1, out, stride, detail::kInt8TopAvx2);
}

void PackedLinear::compute(const float* x, std::size_t ldx, const void* scratch, std::size_t r0,
                           std::size_t r1, std::size_t c0, std::size_t c1, float* y,
                           std::size_t ldy) const {
  if (kernel_ == nullptr) throw Error("PackedLinear::compute: not initialised");
  if (r0 >= r1 || c0 >= c1) return;
  if (c1 > n_ || c0 % kPanel != 0 || (c1 % kPanel != 0 && c1 != n_) || y == nullptr || ldy < c1) {
    throw Error("PackedLinear::compute: bad column range [" + std::to_string(c0) + ", " +
                std::to_string(c1) + ") for n=" + std::to_string(n_) + " (block " +
                std::to_string(kPanel) + ") or bad output");
  }
  detail::GemmArgs g{};
  g.w = data_;
  g.groups = groups_;
  g.bias = bias_;
  g.wscale = wscale_;
  g.colsum = colsum_;
  switch (precision_) {
    case Precision::kFp32:
      if (x == nullptr || ldx < k_) throw Error("PackedLinear::compute: null x or ldx < k");
      g.a = reinterpret_cast<const unsigned char*>(x);
      g.a_stride = ldx * sizeof(float);
      break;
    case Precision::kBf16:
      g.a = static_cast<const unsigned char*>(scratch);
      g.a_stride = bf16_row_bytes(groups_);
      break;
    case Precision::kInt8:
      g.a = static_cast<const unsigned char*>(scratch) + kInt8Header;
      g.a_stride = int8_row_bytes(groups_);
      break;
  }
  if (precision_ != Precision::kFp32 && scratch == nullptr) {
    throw Error("PackedLinear::compute: null scratch");
  }
  g.y = y;
  g.ldy = ldy;
  g.r0 = r0;
  g.r1 = r1;
  g.c0 = c0;
  g.c1 = c1;
  kernel_(g);
}

void PackedLinear::forward(const float* x, std::size_t ldx, std::size_t m, float* y,
                           std::size_t ldy, void* scratch) const {
  std::unique_ptr<unsigned char[], FreeAligned> own;
  const std::size_t bytes = scratch_bytes(m);
  if (scratch == nullptr && bytes > 0) {
    own.reset(new (std::align_val_t(kAlign)) unsigned char[bytes]);
    scratch = own.get();
  }
  prepare_rows(x, ldx, 0, m, scratch);
  compute(x, ldx, scratch, 0, m, 0, n_, y, ldy);
}

}  // namespace refusal::kernels
