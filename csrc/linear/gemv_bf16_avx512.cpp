// AVX512-BF16 GEMV over the bfloat16 panels of PackedLinear (gemv.h; this file alone gets
// -mavx512bf16): a panel row is 16 outputs x 2 inputs, one 64-byte load, and VDPBF16PS adds
// both products of each output to its float32 sum (per the ISA: the odd input's product
// first, then the even one's, each rounded to nearest even; bf16 subnormals read as zero and
// float32 subnormal results flushed to zero). Half the bytes of the float32 panels per
// multiply-add, which is what bounds a batch of one.
#include <immintrin.h>

#include <cstdint>

#include "linear/gemv.h"
#include "linear/gemv_store_avx512.h"

namespace pcn::linear {
namespace {

// Each panel's line 32 rows (2 KB) ahead, as in gemv_avx512.cpp.
constexpr int64_t kPrefetchRows = 32;

template <int R, int P>
void panels(const GemvArgs& a, int64_t p) {
  const uint32_t* x = static_cast<const uint32_t*>(a.x);
  const uint16_t* w = static_cast<const uint16_t*>(a.w);
  for (int64_t pc = 0; pc < a.k; pc += a.kcb) {
    const int64_t kc = a.k - pc < a.kcb ? a.k - pc : a.kcb;
    const int64_t kc2 = (kc + 1) / 2;
    const uint16_t* wq[P];
#pragma GCC unroll 4
    for (int q = 0; q < P; ++q) wq[q] = w + pc * a.npad + (p + q) * kc2 * 2 * kPanel;
    const uint32_t* xk = x + pc / 2;
    __m512 acc[R][P];
#pragma GCC unroll 12
    for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
      for (int q = 0; q < P; ++q) acc[i][q] = _mm512_setzero_ps();
#pragma GCC unroll 2
    for (int64_t kk = 0; kk < kc2; ++kk) {
      __m512bh wv[P];
#pragma GCC unroll 4
      for (int q = 0; q < P; ++q) {
        _mm_prefetch(reinterpret_cast<const char*>(wq[q] + (kk + kPrefetchRows) * 2 * kPanel), _MM_HINT_T0);
        wv[q] = (__m512bh)_mm512_load_si512(reinterpret_cast<const void*>(wq[q] + kk * 2 * kPanel));
      }
#pragma GCC unroll 12
      for (int i = 0; i < R; ++i) {
        const __m512bh xv = (__m512bh)_mm512_set1_epi32(static_cast<int>(xk[i * a.ldx + kk]));
#pragma GCC unroll 4
        for (int q = 0; q < P; ++q) acc[i][q] = _mm512_dpbf16_ps(acc[i][q], xv, wv[q]);
      }
    }
    store_block_sums<R, P>(a, p, pc, kc, acc);
  }
}

template <int R>
void rows(const GemvArgs& a, int64_t p0, int64_t p1) {
  constexpr int P = R <= 4 ? 4 : 2;
  int64_t p = p0;
  for (; p + P <= p1; p += P) panels<R, P>(a, p);
  for (; p < p1; ++p) panels<R, 1>(a, p);
}

// Any number of rows in groups of 12 against pairs of panels: 24 accumulators, each loaded
// weight vector used by 12 rows; a pair's weights (k * 64 bytes) stay in L2 across the groups.
template <int R>
void row_group(const GemvArgs& a, int64_t p0, int64_t p1) {
  int64_t p = p0;
  for (; p + 2 <= p1; p += 2) panels<R, 2>(a, p);
  for (; p < p1; ++p) panels<R, 1>(a, p);
}

using RowGroupFn = void (*)(const GemvArgs&, int64_t, int64_t);
constexpr RowGroupFn kRowGroups[12] = {&row_group<1>, &row_group<2>,  &row_group<3>,
                                       &row_group<4>, &row_group<5>,  &row_group<6>,
                                       &row_group<7>, &row_group<8>,  &row_group<9>,
                                       &row_group<10>, &row_group<11>, &row_group<12>};

}  // namespace

void gemm_bf16_avx512(const GemvArgs& a, int64_t p0, int64_t p1) {
  const uint32_t* x = static_cast<const uint32_t*>(a.x);
  // Panel pairs outside, row groups inside: the pair's weights are reused from L2.
  for (int64_t pb = p0; pb < p1; pb += 2) {
    const int64_t pe = pb + 2 < p1 ? pb + 2 : p1;
    for (int64_t i = 0; i < a.m; i += 12) {
      GemvArgs g = a;
      g.m = a.m - i < 12 ? a.m - i : 12;
      g.x = x + i * a.ldx;
      g.y = a.y + i * a.ldy;
      kRowGroups[g.m - 1](g, pb, pe);
    }
  }
}

void gemv_bf16_avx512(const GemvArgs& a, int64_t p0, int64_t p1) {
  switch (a.m) {
    case 1: rows<1>(a, p0, p1); break;
    case 2: rows<2>(a, p0, p1); break;
    case 3: rows<3>(a, p0, p1); break;
    case 4: rows<4>(a, p0, p1); break;
    case 5: rows<5>(a, p0, p1); break;
    case 6: rows<6>(a, p0, p1); break;
    case 7: rows<7>(a, p0, p1); break;
    default: rows<8>(a, p0, p1); break;
  }
}

}  // namespace pcn::linear
