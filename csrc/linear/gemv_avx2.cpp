// AVX2/FMA GEMV over the float32 panels of PackedLinear (gemv.h): a panel row is two ymm;
// up to 4 rows share each loaded weight vector (R * P * 2 <= 12 accumulators of the 16 ymm),
// more rows run in passes of 4. Per element the sum of the 6 x 16 AVX2 micro-kernel
// (ukernel_6x16_avx2.cpp): FMA over k in order within a block, blocks added in order, then
// bias and max(0, v).
#include <immintrin.h>

#include <cstring>

#include "linear/gemv.h"

namespace pcn::linear {
namespace {

// Each panel's line 32 rows (2 KB) ahead, as in gemv_avx512.cpp.
constexpr int64_t kPrefetchRows = 32;

template <int R, int P>
void panels(const GemvArgs& a, const float* x, float* y, int64_t p) {
  const float* w = static_cast<const float*>(a.w);
  __m256 tot[R][P][2] = {};  // set by the first block (k > 0); zeroed for the compiler
  for (int64_t pc = 0; pc < a.k; pc += a.kcb) {
    const int64_t kc = a.k - pc < a.kcb ? a.k - pc : a.kcb;
    const float* wq[P];
#pragma GCC unroll 4
    for (int q = 0; q < P; ++q) wq[q] = w + pc * a.npad + (p + q) * kc * kPanel;
    const float* xk = x + pc;
    __m256 acc[R][P][2];
#pragma GCC unroll 4
    for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
      for (int q = 0; q < P; ++q) acc[i][q][0] = acc[i][q][1] = _mm256_setzero_ps();
#pragma GCC unroll 2
    for (int64_t kk = 0; kk < kc; ++kk) {
      __m256 wv[P][2];
#pragma GCC unroll 4
      for (int q = 0; q < P; ++q) {
        _mm_prefetch(reinterpret_cast<const char*>(wq[q] + (kk + kPrefetchRows) * kPanel), _MM_HINT_T0);
        wv[q][0] = _mm256_load_ps(wq[q] + kk * kPanel);
        wv[q][1] = _mm256_load_ps(wq[q] + kk * kPanel + 8);
      }
#pragma GCC unroll 4
      for (int i = 0; i < R; ++i) {
        const __m256 xv = _mm256_broadcast_ss(xk + i * a.ldx + kk);
#pragma GCC unroll 4
        for (int q = 0; q < P; ++q) {
          acc[i][q][0] = _mm256_fmadd_ps(xv, wv[q][0], acc[i][q][0]);
          acc[i][q][1] = _mm256_fmadd_ps(xv, wv[q][1], acc[i][q][1]);
        }
      }
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
      for (int q = 0; q < P; ++q)
        for (int h = 0; h < 2; ++h)
          tot[i][q][h] = pc == 0 ? acc[i][q][h] : _mm256_add_ps(tot[i][q][h], acc[i][q][h]);
  }
#pragma GCC unroll 4
  for (int q = 0; q < P; ++q) {
    const int64_t col = (p + q) * kPanel;
    const int64_t cols = a.n - col < kPanel ? a.n - col : kPanel;
    alignas(32) float bias[kPanel] = {};
    if (a.bias) std::memcpy(bias, a.bias + col, cols * sizeof(float));
#pragma GCC unroll 4
    for (int i = 0; i < R; ++i) {
      alignas(32) float out[kPanel];
      for (int h = 0; h < 2; ++h) {
        __m256 v = tot[i][q][h];
        if (a.bias) v = _mm256_add_ps(v, _mm256_load_ps(bias + 8 * h));
        if (a.relu) v = _mm256_max_ps(_mm256_setzero_ps(), v);  // 0 first: NaN survives
        _mm256_store_ps(out + 8 * h, v);
      }
      std::memcpy(y + i * a.ldy + col, out, cols * sizeof(float));
    }
  }
}

template <int R>
void rows(const GemvArgs& a, const float* x, float* y, int64_t p0, int64_t p1) {
  constexpr int P = R == 1 ? 4 : R <= 3 ? 2 : 1;
  int64_t p = p0;
  for (; p + P <= p1; p += P) panels<R, P>(a, x, y, p);
  for (; p < p1; ++p) panels<R, 1>(a, x, y, p);
}

}  // namespace

void gemv_avx2(const GemvArgs& a, int64_t p0, int64_t p1) {
  const float* x = static_cast<const float*>(a.x);
  for (int64_t i = 0; i < a.m; i += 4) {
    const float* xi = x + i * a.ldx;
    float* yi = a.y + i * a.ldy;
    switch (a.m - i < 4 ? a.m - i : 4) {
      case 1: rows<1>(a, xi, yi, p0, p1); break;
      case 2: rows<2>(a, xi, yi, p0, p1); break;
      case 3: rows<3>(a, xi, yi, p0, p1); break;
      default: rows<4>(a, xi, yi, p0, p1); break;
    }
  }
}

}  // namespace pcn::linear
