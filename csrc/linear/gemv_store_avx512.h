// The end of a k block in the AVX-512 GEMV kernels (float32 and bf16 panels alike): the block
// sums of R rows x P panels go through y (exact: float32 stored and reloaded), as the
// micro-kernels accumulate into C; bias and ReLU after the last block. Only for files compiled
// for AVX-512; internal linkage, so no COMDAT copy can leak into another tier's object.
#pragma once
#include <immintrin.h>

#include "linear/gemv.h"

namespace pcn::linear {
namespace {

template <int R, int P>
__attribute__((always_inline)) inline void store_block_sums(const GemvArgs& a, int64_t p, int64_t pc, int64_t kc,
                             __m512 (&acc)[R][P]) {
  const bool first = pc == 0, last = pc + kc == a.k;
#pragma GCC unroll 4
  for (int q = 0; q < P; ++q) {
    const int64_t col = (p + q) * kPanel;
    const int64_t cols = a.n - col < kPanel ? a.n - col : kPanel;
    const __mmask16 mk = cols >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << cols) - 1);
    const __m512 b = last && a.bias ? _mm512_maskz_loadu_ps(mk, a.bias + col) : _mm512_setzero_ps();
#pragma GCC unroll 12
    for (int i = 0; i < R; ++i) {
      float* yi = a.y + i * a.ldy + col;
      __m512 v = first ? acc[i][q] : _mm512_add_ps(_mm512_maskz_loadu_ps(mk, yi), acc[i][q]);
      if (last && a.bias) v = _mm512_add_ps(v, b);
      // max(0, v) with 0 first keeps NaN (as the micro-kernels do).
      if (last && a.relu) v = _mm512_maskz_max_ps(__mmask16(0xFFFF), _mm512_setzero_ps(), v);
      _mm512_mask_storeu_ps(yi, mk, v);
    }
  }
}

}  // namespace
}  // namespace pcn::linear
