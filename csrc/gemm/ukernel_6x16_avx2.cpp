// AVX2/FMA micro-kernel, 6 x 16: 12 ymm accumulators + 2 for the B row + 1 broadcast = 15 of
// the 16 ymm registers. Each k step does 2 aligned loads of B, 6 broadcasts of A and 12 FMAs,
// which keeps Zen 1's single 256-bit FMA per cycle busy while the 5-cycle FMA latency is hidden
// by the 12 independent accumulator chains.
#include <immintrin.h>

#include "gemm/ukernel.h"

namespace pcn::gemm {
namespace {

inline __m256 epilogue(__m256 v, const float* c, int flags, const float* bias_m, int row,
                       const float* bias_n, int half) {
  if (flags & kAccumulate) v = _mm256_add_ps(_mm256_loadu_ps(c), v);
  if (bias_m) v = _mm256_add_ps(v, _mm256_broadcast_ss(bias_m + row));
  if (bias_n) v = _mm256_add_ps(v, _mm256_loadu_ps(bias_n + 8 * half));
  // max(0, v) with 0 first: MAXPS returns the second operand when either is NaN, so NaN
  // survives, as in PyTorch's relu.
  if (flags & kRelu) v = _mm256_max_ps(_mm256_setzero_ps(), v);
  return v;
}

}  // namespace

void sgemm_ukernel_6x16_avx2_fma(int64_t kc, const float* a, const float* b, float* c,
                                 int64_t ldc, int flags, const float* bias_m,
                                 const float* bias_n) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();

  for (int64_t i = 0; i < 6; ++i) _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);

#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_load_ps(b);
    const __m256 b1 = _mm256_load_ps(b + 8);
    __m256 av = _mm256_broadcast_ss(a + 0);
    c00 = _mm256_fmadd_ps(av, b0, c00);
    c01 = _mm256_fmadd_ps(av, b1, c01);
    av = _mm256_broadcast_ss(a + 1);
    c10 = _mm256_fmadd_ps(av, b0, c10);
    c11 = _mm256_fmadd_ps(av, b1, c11);
    av = _mm256_broadcast_ss(a + 2);
    c20 = _mm256_fmadd_ps(av, b0, c20);
    c21 = _mm256_fmadd_ps(av, b1, c21);
    av = _mm256_broadcast_ss(a + 3);
    c30 = _mm256_fmadd_ps(av, b0, c30);
    c31 = _mm256_fmadd_ps(av, b1, c31);
    av = _mm256_broadcast_ss(a + 4);
    c40 = _mm256_fmadd_ps(av, b0, c40);
    c41 = _mm256_fmadd_ps(av, b1, c41);
    av = _mm256_broadcast_ss(a + 5);
    c50 = _mm256_fmadd_ps(av, b0, c50);
    c51 = _mm256_fmadd_ps(av, b1, c51);
    a += MR;
    b += NR;
  }

  const __m256 row_acc[6][2] = {{c00, c01}, {c10, c11}, {c20, c21},
                                {c30, c31}, {c40, c41}, {c50, c51}};
  for (int i = 0; i < 6; ++i) {
    float* ci = c + i * ldc;
    _mm256_storeu_ps(ci, epilogue(row_acc[i][0], ci, flags, bias_m, i, bias_n, 0));
    _mm256_storeu_ps(ci + 8, epilogue(row_acc[i][1], ci + 8, flags, bias_m, i, bias_n, 1));
  }
}

}  // namespace pcn::gemm
