// AVX2/FMA direct-convolution micro-kernels (direct_ukernel.h): per tap, 6 broadcasts of
// input pixels, 2 aligned loads of packed weights and 12 FMAs into 12 ymm accumulators, as in
// the GEMM micro-kernel, but the broadcasts read the padded image in place.
#include <immintrin.h>

#include "conv/direct_ukernel.h"

namespace pcn::conv {
namespace {

// UNIT: positions are consecutive pixels (stride 1), so their offsets are constants.
template <int R, int V, bool UNIT>
void direct_avx2(TapSegments taps, const float* origin, const int64_t* koff, int64_t astride,
                 const float* b, float* c, int64_t ldc, int flags, const float* bias_n) {
  __m256 acc[R][V];
#pragma GCC unroll 6
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 2
    for (int j = 0; j < V; ++j) acc[i][j] = _mm256_setzero_ps();
  const int64_t as = UNIT ? 1 : astride;

  for (int64_t s = 0; s < taps.segs; ++s) {
    const int64_t* ko = koff + s * taps.stride;
    const float* bk = b + s * taps.stride * gemm::NR;
#pragma GCC unroll 4
    for (int64_t k = 0; k < taps.len; ++k) {
      const float* ak = origin + ko[k];
      __m256 bv[V];
#pragma GCC unroll 2
      for (int j = 0; j < V; ++j) bv[j] = _mm256_load_ps(bk + 8 * j);
#pragma GCC unroll 6
      for (int i = 0; i < R; ++i) {
        const __m256 av = _mm256_broadcast_ss(ak + i * as);
#pragma GCC unroll 2
        for (int j = 0; j < V; ++j) acc[i][j] = _mm256_fmadd_ps(av, bv[j], acc[i][j]);
      }
      bk += gemm::NR;
    }
  }

#pragma GCC unroll 6
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 2
    for (int j = 0; j < V; ++j) {
      __m256 v = acc[i][j];
      if (bias_n) v = _mm256_add_ps(v, _mm256_loadu_ps(bias_n + 8 * j));
      // max(0, v) with 0 first keeps NaN, as in PyTorch's relu
      if (flags & gemm::kRelu) v = _mm256_max_ps(_mm256_setzero_ps(), v);
      _mm256_storeu_ps(c + i * ldc + 8 * j, v);
    }
}

template <int R, int V>
void direct_avx2_any(TapSegments taps, const float* origin, const int64_t* koff,
                     int64_t astride, const float* b, float* c, int64_t ldc, int flags,
                     const float* bias_n) {
  if (astride == 1) direct_avx2<R, V, true>(taps, origin, koff, astride, b, c, ldc, flags, bias_n);
  else direct_avx2<R, V, false>(taps, origin, koff, astride, b, c, ldc, flags, bias_n);
}

}  // namespace

const DirectUkernels& direct_ukernels_avx2_fma() {
  static const DirectUkernels k = {{{&direct_avx2_any<1, 1>, &direct_avx2_any<1, 2>},
                                    {&direct_avx2_any<2, 1>, &direct_avx2_any<2, 2>},
                                    {&direct_avx2_any<3, 1>, &direct_avx2_any<3, 2>},
                                    {&direct_avx2_any<4, 1>, &direct_avx2_any<4, 2>},
                                    {&direct_avx2_any<5, 1>, &direct_avx2_any<5, 2>},
                                    {&direct_avx2_any<6, 1>, &direct_avx2_any<6, 2>}}};
  return k;
}

}  // namespace pcn::conv
