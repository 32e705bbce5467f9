// AVX2/FMA weight-gradient micro-kernels (dw_ukernel.h): per output position, 2 aligned loads
// of 16 input channels in place, R broadcasts of dY and 2R FMAs.
#include <immintrin.h>

#include "conv/dw_ukernel.h"

namespace pcn::conv {
namespace {

template <int R>
void dw_avx2(int64_t kc, const float* a, const float* bbase, const int64_t* boff, float* c,
             int64_t ldc, int flags) {
  __m256 acc[R][2];
#pragma GCC unroll 6
  for (int i = 0; i < R; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    const float* bk = bbase + boff[k];
    const __m256 b0 = _mm256_load_ps(bk), b1 = _mm256_load_ps(bk + 8);
#pragma GCC unroll 6
    for (int i = 0; i < R; ++i) {
      const __m256 av = _mm256_broadcast_ss(a + i);
      acc[i][0] = _mm256_fmadd_ps(av, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(av, b1, acc[i][1]);
    }
    a += gemm::MR;
  }
#pragma GCC unroll 6
  for (int i = 0; i < R; ++i) {
    float* ci = c + i * ldc;
    if (flags & gemm::kAccumulate) {
      acc[i][0] = _mm256_add_ps(_mm256_loadu_ps(ci), acc[i][0]);
      acc[i][1] = _mm256_add_ps(_mm256_loadu_ps(ci + 8), acc[i][1]);
    }
    _mm256_storeu_ps(ci, acc[i][0]);
    _mm256_storeu_ps(ci + 8, acc[i][1]);
  }
}

}  // namespace

const DwUkernels& dw_ukernels_avx2_fma() {
  static const DwUkernels k = {{&dw_avx2<1>, &dw_avx2<2>, &dw_avx2<3>, &dw_avx2<4>, &dw_avx2<5>, &dw_avx2<6>}};
  return k;
}

}  // namespace pcn::conv
