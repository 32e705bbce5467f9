// AVX-512 micro-kernels, up to 12 x 32 (ukernel.h, WideUkernels): two MR-row A panels times
// two NR-column B panels of the unchanged packed layout, so every packer serves them as is.
// 24 zmm accumulators + 2 for the B rows + 1 broadcast = 27 of the 32 zmm registers. Each k
// step does 2 aligned 64-byte loads of B, 12 broadcasts of A and 24 FMAs: with two 512-bit FMA
// pipes and a 4-cycle latency, 8 independent chains keep them busy, and 24 leave slack for the
// loads. A 6 x 16 tile at this width would be 6 accumulators, too few to cover that latency;
// 6 x 64 would need 4 B panels (64 KB at kc = 256) where L1 holds 48 KB. Column edges use
// masked loads and stores of C and bias_n (a lane past `cols` is never touched); row edges are
// the R < 12 instances. Per element the k loop and the epilogue (acc, + C, + bias_m, + bias_n,
// max(0, v)) are those of the AVX2 kernels, so both tiers give the same bits.
#include <immintrin.h>

#include "gemm/ukernel.h"

namespace pcn::gemm {
namespace {

template <int R, int V>
void ukernel_avx512(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int flags,
                    const float* bias_m, const float* bias_n, int64_t cols) {
  const float* a1 = a + MR * kc;  // rows MR.. (the next A panel)
  const float* b1 = b + NR * kc;  // columns NR.. (the next B panel)
  __m512 acc[R][V];
#pragma GCC unroll 12
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 2
    for (int j = 0; j < V; ++j) acc[i][j] = _mm512_setzero_ps();

#pragma GCC unroll 12
  for (int i = 0; i < R; ++i) _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);

#pragma GCC unroll 2
  for (int64_t k = 0; k < kc; ++k) {
    __m512 bv[V];
    bv[0] = _mm512_load_ps(b);
    if (V > 1) bv[V - 1] = _mm512_load_ps(b1);
#pragma GCC unroll 12
    for (int i = 0; i < R; ++i) {
      const __m512 av = _mm512_set1_ps(i < MR ? a[i] : a1[i - MR]);
#pragma GCC unroll 2
      for (int j = 0; j < V; ++j) acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
    }
    a += MR;
    a1 += MR;
    b += NR;
    b1 += NR;
  }

  // Lanes of the last vector that are inside the matrix.
  const int64_t tail = cols - 16 * (V - 1);
  const __mmask16 last = tail >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << tail) - 1);
#pragma GCC unroll 12
  for (int i = 0; i < R; ++i) {
    float* ci = c + i * ldc;
#pragma GCC unroll 2
    for (int j = 0; j < V; ++j) {
      const __mmask16 mk = j == V - 1 ? last : __mmask16(0xFFFF);
      const bool whole = mk == 0xFFFF;
      __m512 v = acc[i][j];
      if (flags & kAccumulate)
        v = _mm512_add_ps(whole ? _mm512_loadu_ps(ci + 16 * j) : _mm512_maskz_loadu_ps(mk, ci + 16 * j), v);
      if (bias_m) v = _mm512_add_ps(v, _mm512_set1_ps(bias_m[i]));
      if (bias_n)
        v = _mm512_add_ps(v, whole ? _mm512_loadu_ps(bias_n + 16 * j)
                                   : _mm512_maskz_loadu_ps(mk, bias_n + 16 * j));
      // max(0, v) with 0 first: VMAXPS returns the second operand when either is NaN, so NaN
      // survives, as in PyTorch's relu (and the AVX2 kernels).
      // (The zero-masking form is the same instruction with every lane kept; GCC 12's plain
      // _mm512_max_ps warns about its undefined pass-through operand.)
      if (flags & kRelu) v = _mm512_maskz_max_ps(__mmask16(0xFFFF), _mm512_setzero_ps(), v);
      if (whole) _mm512_storeu_ps(ci + 16 * j, v);
      else _mm512_mask_storeu_ps(ci + 16 * j, mk, v);
    }
  }
}

template <int R>
constexpr WideUkernelFn pair(int v) {
  return v == 1 ? &ukernel_avx512<R, 1> : &ukernel_avx512<R, 2>;
}

}  // namespace

const WideUkernels& wide_ukernels_avx512() {
  static const WideUkernels k = {{{pair<1>(1), pair<1>(2)},   {pair<2>(1), pair<2>(2)},
                                  {pair<3>(1), pair<3>(2)},   {pair<4>(1), pair<4>(2)},
                                  {pair<5>(1), pair<5>(2)},   {pair<6>(1), pair<6>(2)},
                                  {pair<7>(1), pair<7>(2)},   {pair<8>(1), pair<8>(2)},
                                  {pair<9>(1), pair<9>(2)},   {pair<10>(1), pair<10>(2)},
                                  {pair<11>(1), pair<11>(2)}, {pair<12>(1), pair<12>(2)}}};
  return k;
}

}  // namespace pcn::gemm
