// fp32 matrix products through OpenBLAS, for what the hand-written kernels (gemm_*.cpp) do not
// cover: training's linear layers and their gradients, the classification head, and attention
// at head sizes without an AVX-512 tile. Each call runs on the calling thread: the model splits
// work across its own pool, so OpenBLAS's threading is switched off once.
#pragma once

#include <cstddef>

namespace refusal::kernels::blas {

enum class Op { kN, kT };  // use the matrix as stored, or transposed

// C[m, n] = alpha · op(A) · op(B) + beta · C, row-major, with row strides lda, ldb and ldc:
// op(A) is [m, k] (A stored [k, m] when transposed), op(B) is [k, n] (B stored [n, k] when
// transposed). With beta 0, C is only written.
void gemm(Op op_a, Op op_b, std::size_t m, std::size_t n, std::size_t k, float alpha,
          const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
          std::size_t ldc);

}  // namespace refusal::kernels::blas
