// AVX2/FMA micro-kernels, up to 6 x 16: 12 ymm accumulators + 2 for the B row + 1 broadcast =
// 15 of the 16 ymm registers. Each k step does 2 aligned loads of B, 6 broadcasts of A and 12
// FMAs, which keeps Zen 1's single 256-bit FMA per cycle busy while the 5-cycle FMA latency is
// hidden by the 12 independent accumulator chains. The R x 8V instances (R <= 6 rows, V <= 2
// vectors) serve edge tiles with the same per-element sum order.
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

template <int R, int V>
void ukernel_avx2(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int flags,
                  const float* bias_m, const float* bias_n) {
  __m256 acc[R][V];
#pragma GCC unroll 6
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 2
    for (int j = 0; j < V; ++j) acc[i][j] = _mm256_setzero_ps();

#pragma GCC unroll 6
  for (int i = 0; i < R; ++i) _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);

#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    __m256 bv[V];
#pragma GCC unroll 2
    for (int j = 0; j < V; ++j) bv[j] = _mm256_load_ps(b + 8 * j);
#pragma GCC unroll 6
    for (int i = 0; i < R; ++i) {
      const __m256 av = _mm256_broadcast_ss(a + i);
#pragma GCC unroll 2
      for (int j = 0; j < V; ++j) acc[i][j] = _mm256_fmadd_ps(av, bv[j], acc[i][j]);
    }
    a += MR;
    b += NR;
  }

#pragma GCC unroll 6
  for (int i = 0; i < R; ++i) {
    float* ci = c + i * ldc;
#pragma GCC unroll 2
    for (int j = 0; j < V; ++j)
      _mm256_storeu_ps(ci + 8 * j, epilogue(acc[i][j], ci + 8 * j, flags, bias_m, i, bias_n, j));
  }
}

}  // namespace

const Ukernels& ukernels_avx2_fma() {
  static const Ukernels k = {{{&ukernel_avx2<1, 1>, &ukernel_avx2<1, 2>},
                              {&ukernel_avx2<2, 1>, &ukernel_avx2<2, 2>},
                              {&ukernel_avx2<3, 1>, &ukernel_avx2<3, 2>},
                              {&ukernel_avx2<4, 1>, &ukernel_avx2<4, 2>},
                              {&ukernel_avx2<5, 1>, &ukernel_avx2<5, 2>},
                              {&ukernel_avx2<6, 1>, &ukernel_avx2<6, 2>}}};
  return k;
}

}  // namespace pcn::gemm
