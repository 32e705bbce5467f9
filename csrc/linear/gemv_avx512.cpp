// AVX-512 GEMV over the float32 panels of PackedLinear (gemv.h): one zmm per panel row.
// Up to 4 rows run 4 panels at once (4 loads per k step, R * 4 FMA chains); more rows run in
// groups of up to 12 against pairs of panels (2 loads per k step, each used by the FMAs of all
// the group's rows: 24 accumulators at 12 rows), the pair's weights staying in L2 across the
// groups. The sum per element is that of the 12 x 32 AVX-512 micro-kernel
// (ukernel_12x32_avx512.cpp): FMA over k in order within a block, block sums added in order,
// then bias and max(0, v).
#include <immintrin.h>

#include "linear/gemv.h"
#include "linear/gemv_store_avx512.h"

namespace pcn::linear {
namespace {

// Each panel's line 32 rows (2 KB) ahead: the streams are a k block (128 KB) apart and the
// hardware prefetcher restarts at every 4 KB page (measured +5-10% on 3136 -> 1024 and
// 4096 -> 256 from DRAM, one thread).
constexpr int64_t kPrefetchRows = 32;

template <int R, int P>
void panels(const GemvArgs& a, int64_t p) {
  const float* x = static_cast<const float*>(a.x);
  const float* w = static_cast<const float*>(a.w);
  for (int64_t pc = 0; pc < a.k; pc += a.kcb) {
    const int64_t kc = a.k - pc < a.kcb ? a.k - pc : a.kcb;
    const float* wq[P];
#pragma GCC unroll 4
    for (int q = 0; q < P; ++q) wq[q] = w + pc * a.npad + (p + q) * kc * kPanel;
    const float* xk = x + pc;
    __m512 acc[R][P];
#pragma GCC unroll 12
    for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
      for (int q = 0; q < P; ++q) acc[i][q] = _mm512_setzero_ps();
#pragma GCC unroll 2
    for (int64_t kk = 0; kk < kc; ++kk) {
      __m512 wv[P];
#pragma GCC unroll 4
      for (int q = 0; q < P; ++q) {
        _mm_prefetch(reinterpret_cast<const char*>(wq[q] + (kk + kPrefetchRows) * kPanel), _MM_HINT_T0);
        wv[q] = _mm512_load_ps(wq[q] + kk * kPanel);
      }
#pragma GCC unroll 12
      for (int i = 0; i < R; ++i) {
        const __m512 xv = _mm512_set1_ps(xk[i * a.ldx + kk]);
#pragma GCC unroll 4
        for (int q = 0; q < P; ++q) acc[i][q] = _mm512_fmadd_ps(xv, wv[q], acc[i][q]);
      }
    }
    store_block_sums<R, P>(a, p, pc, kc, acc);
  }
}

// Panels [p0, p1) for R rows, P panels at a time.
template <int R, int P>
void row_group(const GemvArgs& a, int64_t p0, int64_t p1) {
  int64_t p = p0;
  for (; p + P <= p1; p += P) panels<R, P>(a, p);
  for (; p < p1; ++p) panels<R, 1>(a, p);
}

using RowGroupFn = void (*)(const GemvArgs&, int64_t, int64_t);
constexpr RowGroupFn kPairs[12] = {&row_group<1, 2>,  &row_group<2, 2>,  &row_group<3, 2>,
                                   &row_group<4, 2>,  &row_group<5, 2>,  &row_group<6, 2>,
                                   &row_group<7, 2>,  &row_group<8, 2>,  &row_group<9, 2>,
                                   &row_group<10, 2>, &row_group<11, 2>, &row_group<12, 2>};
constexpr RowGroupFn kQuads[4] = {&row_group<1, 4>, &row_group<2, 4>, &row_group<3, 4>,
                                  &row_group<4, 4>};

}  // namespace

void gemv_avx512(const GemvArgs& a, int64_t p0, int64_t p1) {
  // Up to 4 rows, 4 panels at once: in the alternating benchmark (weights partly in L3) 15%
  // ahead of pairs at 1 and 4 rows, 3136 -> 1024; pairs stream better from DRAM alone.
  if (a.m <= 4) {
    kQuads[a.m - 1](a, p0, p1);
    return;
  }
  const float* x = static_cast<const float*>(a.x);
  for (int64_t pb = p0; pb < p1; pb += 2) {
    const int64_t pe = pb + 2 < p1 ? pb + 2 : p1;
    for (int64_t i = 0; i < a.m; i += 12) {
      GemvArgs g = a;
      g.m = a.m - i < 12 ? a.m - i : 12;
      g.x = x + i * a.ldx;
      g.y = a.y + i * a.ldy;
      kPairs[g.m - 1](g, pb, pe);
    }
  }
}

}  // namespace pcn::linear
