// Per-ISA versions of element-wise kernels (see kernels.h for what each computes).
#pragma once

#include <cstddef>

namespace refusal::kernels::avx512 {

void gelu_erf(float* x, std::size_t n);
void softmax_rows(float* x, std::size_t rows, std::size_t width);

}  // namespace refusal::kernels::avx512
