// The OpenBLAS wrapper (blas.h). The hand-written GEMM kernels are gemm_reference.cpp,
// gemm_avx2.cpp and gemm_avx512.cpp, behind PackedLinear.
#include <cblas.h>

#include <mutex>

#include "kernels/blas.h"

namespace refusal::kernels::blas {
namespace {

void single_threaded_blas() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

int i(std::size_t v) { return static_cast<int>(v); }
CBLAS_TRANSPOSE trans(Op op) { return op == Op::kT ? CblasTrans : CblasNoTrans; }

}  // namespace

void gemm(Op op_a, Op op_b, std::size_t m, std::size_t n, std::size_t k, float alpha,
          const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
          std::size_t ldc) {
  single_threaded_blas();
  cblas_sgemm(CblasRowMajor, trans(op_a), trans(op_b), i(m), i(n), i(k), alpha, a, i(lda), b,
              i(ldb), beta, c, i(ldc));
}

}  // namespace refusal::kernels::blas
