// Matrix products through OpenBLAS. Each call runs on the calling thread: the model splits work
// across its own pool, so BLAS threading is switched off once.
#include <cblas.h>

#include <cstring>
#include <mutex>

#include "kernels/kernels.h"

namespace refusal::kernels {
namespace {

void single_threaded_blas() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

int i(std::size_t v) { return static_cast<int>(v); }

}  // namespace

void linear(std::size_t m, std::size_t n, std::size_t k, const float* a, std::size_t lda,
            const float* w, std::size_t ldw, const float* bias, float* c, std::size_t ldc) {
  single_threaded_blas();
  float beta = 0.0f;
  if (bias != nullptr) {
    for (std::size_t r = 0; r < m; ++r) std::memcpy(c + r * ldc, bias, n * sizeof(float));
    beta = 1.0f;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, i(m), i(n), i(k), 1.0f, a, i(lda), w,
              i(ldw), beta, c, i(ldc));
}

void gemm_nt(std::size_t m, std::size_t n, std::size_t k, float alpha, const float* a,
             std::size_t lda, const float* b, std::size_t ldb, float* c, std::size_t ldc) {
  single_threaded_blas();
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, i(m), i(n), i(k), alpha, a, i(lda), b,
              i(ldb), 0.0f, c, i(ldc));
}

void gemm_nn(std::size_t m, std::size_t n, std::size_t k, const float* a, std::size_t lda,
             const float* b, std::size_t ldb, float* c, std::size_t ldc) {
  single_threaded_blas();
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, i(m), i(n), i(k), 1.0f, a, i(lda), b,
              i(ldb), 0.0f, c, i(ldc));
}

}  // namespace refusal::kernels
