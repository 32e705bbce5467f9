// Portable GEMV over the float32 panels of PackedLinear (gemv.h): plain loops the compiler
// vectorises for the baseline ISA, up to 4 rows per pass over the weights. Per element the
// sum of the portable micro-kernel (ukernel_ref.cpp): acc += x * w over k in order within a
// block, blocks added in order, then bias and max(0, v).
#include <cstring>

#include "linear/gemv.h"

namespace pcn::linear {
namespace {

// Without loop vectorisation: GCC 12 otherwise vectorises the k loop as in-order reductions
// (element shuffles, 2-3x slower than the basic-block vectorised 16-wide row it leaves here).
template <int R>
__attribute__((optimize("no-tree-loop-vectorize"))) void panel(const GemvArgs& a, const float* x, float* y, int64_t p) {
  const float* w = static_cast<const float*>(a.w);
  float tot[R][kPanel] = {};  // set by the first block (k > 0)
  for (int64_t pc = 0; pc < a.k; pc += a.kcb) {
    const int64_t kc = a.k - pc < a.kcb ? a.k - pc : a.kcb;
    const float* wk = w + pc * a.npad + p * kc * kPanel;
    const float* xr[R];
    for (int i = 0; i < R; ++i) xr[i] = x + i * a.ldx + pc;
    float acc[R][kPanel] = {};
    for (int64_t kk = 0; kk < kc; ++kk, wk += kPanel) {
      for (int i = 0; i < R; ++i) {
        const float xi = xr[i][kk];
        for (int j = 0; j < kPanel; ++j) acc[i][j] += xi * wk[j];
      }
    }
    for (int i = 0; i < R; ++i)
      for (int j = 0; j < kPanel; ++j) tot[i][j] = pc == 0 ? acc[i][j] : tot[i][j] + acc[i][j];
  }
  const int64_t col = p * kPanel;
  const int64_t cols = a.n - col < kPanel ? a.n - col : kPanel;
  for (int i = 0; i < R; ++i) {
    float* yi = y + i * a.ldy + col;
    for (int64_t j = 0; j < cols; ++j) {
      float v = tot[i][j];
      if (a.bias) v += a.bias[col + j];
      if (a.relu && v < 0.0f) v = 0.0f;  // NaN survives, as in the micro-kernel
      yi[j] = v;
    }
  }
}

}  // namespace

void gemv_ref(const GemvArgs& a, int64_t p0, int64_t p1) {
  const float* x = static_cast<const float*>(a.x);
  for (int64_t i = 0; i < a.m; i += 4) {
    const float* xi = x + i * a.ldx;
    float* yi = a.y + i * a.ldy;
    const int64_t r = a.m - i < 4 ? a.m - i : 4;
    for (int64_t p = p0; p < p1; ++p) {
      switch (r) {
        case 1: panel<1>(a, xi, yi, p); break;
        case 2: panel<2>(a, xi, yi, p); break;
        case 3: panel<3>(a, xi, yi, p); break;
        default: panel<4>(a, xi, yi, p); break;
      }
    }
  }
}

}  // namespace pcn::linear
