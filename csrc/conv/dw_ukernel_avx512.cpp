// AVX-512 weight-gradient micro-kernels (dw_ukernel.h, DwWideUkernels): up to 12 rows of dW
// (two MR-row panels of packed dY) x 32 columns (two 16-channel panels read in place from the
// channels-last image), 24 zmm accumulators. Per output position: 2 loads of 16 channels,
// 12 broadcasts of dY and 24 FMAs. One zmm per row over a single 16-channel panel would be 12
// FMAs per 13 loads, bound by the loads (and by the scattered B rows) rather than by the two
// FMA pipes; pairing two panels halves the load cost per FMA, as in the 12 x 32 GEMM tile.
// Per element: the same FMA chain over k and C + acc as the AVX2 kernels.
#include <immintrin.h>

#include "conv/dw_ukernel.h"

namespace pcn::conv {
namespace {

template <int R, int V>
void dw_avx512(int64_t kc, const float* a, const float* bbase0, const float* bbase1,
               const int64_t* boff, float* c, int64_t ldc, int flags) {
  constexpr int64_t MR = gemm::MR;
  const float* a1 = a + MR * kc;  // rows MR.. (the next dY panel)
  __m512 acc[R][V];
#pragma GCC unroll 12
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 2
    for (int j = 0; j < V; ++j) acc[i][j] = _mm512_setzero_ps();
#pragma GCC unroll 2
  for (int64_t k = 0; k < kc; ++k) {
    __m512 bv[V];
    bv[0] = _mm512_loadu_ps(bbase0 + boff[k]);
    if (V > 1) bv[V - 1] = _mm512_loadu_ps(bbase1 + boff[k]);
#pragma GCC unroll 12
    for (int i = 0; i < R; ++i) {
      const __m512 av = _mm512_set1_ps(i < MR ? a[i] : a1[i - MR]);
#pragma GCC unroll 2
      for (int j = 0; j < V; ++j) acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
    }
    a += MR;
    a1 += MR;
  }
#pragma GCC unroll 12
  for (int i = 0; i < R; ++i) {
    float* ci = c + i * ldc;
#pragma GCC unroll 2
    for (int j = 0; j < V; ++j) {
      __m512 v = acc[i][j];
      if (flags & gemm::kAccumulate) v = _mm512_add_ps(_mm512_loadu_ps(ci + 16 * j), v);
      _mm512_storeu_ps(ci + 16 * j, v);
    }
  }
}

template <int R>
constexpr DwWideUkernelFn pair(int v) { return v == 1 ? &dw_avx512<R, 1> : &dw_avx512<R, 2>; }

}  // namespace

const DwWideUkernels& dw_wide_ukernels_avx512() {
  static const DwWideUkernels k = {{{pair<1>(1), pair<1>(2)},   {pair<2>(1), pair<2>(2)},
                                    {pair<3>(1), pair<3>(2)},   {pair<4>(1), pair<4>(2)},
                                    {pair<5>(1), pair<5>(2)},   {pair<6>(1), pair<6>(2)},
                                    {pair<7>(1), pair<7>(2)},   {pair<8>(1), pair<8>(2)},
                                    {pair<9>(1), pair<9>(2)},   {pair<10>(1), pair<10>(2)},
                                    {pair<11>(1), pair<11>(2)}, {pair<12>(1), pair<12>(2)}}};
  return k;
}

}  // namespace pcn::conv
