// Portable Winograd F(2x2, 3x3) transforms (winograd_kernels.h): one tile at a time, plain
// loops; the GEMM is F(4x4, 3x3)'s (winograd_ref.cpp).
#include "conv/winograd.h"
#include "conv/winograd_kernels.h"

namespace pcn::conv {
namespace {

constexpr int64_t kOut = winograd_out(WinogradVariant::f2x2);  // output tile side

// v = B^T d for one 4-point line (d, v `stride` floats apart); B and A of the points 0, 1, -1
// and infinity (winograd_weights.cpp).
inline void input_line(const float* d, int64_t ds, float* v, int64_t vs) {
  const float d0 = d[0], d1 = d[ds], d2 = d[2 * ds], d3 = d[3 * ds];
  v[0] = d0 - d2;
  v[vs] = d1 + d2;
  v[2 * vs] = d2 - d1;
  v[3 * vs] = d1 - d3;
}

// o = A^T m for one 4-point line (2 outputs).
inline void output_line(const float* m, int64_t ms, float* o, int64_t os) {
  const float s = m[ms] + m[2 * ms], d = m[ms] - m[2 * ms];
  o[0] = m[0] + s;
  o[os] = d - m[3 * ms];
}

void input_ref(const float* x, const WinogradGeometry& g, const WinogradPiece* pieces,
               int count, int64_t /*pitch*/, float* v, int64_t ldv, int64_t ldxi) {
  for (int p = 0; p < count; ++p) {
    const WinogradPiece& pc = pieces[p];
    const int64_t y0 = pc.ty * kOut - g.pt, x0 = pc.tx * kOut - g.pl;
    for (int64_t ch = 0; ch < g.c; ++ch) {
      const float* xc = x + (pc.image * g.c + ch) * g.h * g.w;
      for (int64_t t = 0; t < pc.n; ++t) {
        float d[4][4], e[4][4], f[4][4];
        for (int r = 0; r < 4; ++r)
          for (int q = 0; q < 4; ++q) {
            const int64_t y = y0 + r, xx = x0 + kOut * t + q;
            d[r][q] = (y >= 0 && y < g.h && xx >= 0 && xx < g.w) ? xc[y * g.w + xx] : 0.0f;
          }
        for (int r = 0; r < 4; ++r) input_line(d[r], 1, e[r], 1);           // along x
        for (int q = 0; q < 4; ++q) input_line(&e[0][q], 4, &f[0][q], 4);  // along y
        for (int xi = 0; xi < 16; ++xi) v[xi * ldxi + ch * ldv + t] = f[xi / 4][xi % 4];
      }
    }
    v += pc.n;
  }
}

void output_ref(const float* m, int64_t ldxi, int64_t ldm, int64_t rows,
                const WinogradGeometry& g, const WinogradPiece* pieces, int count,
                int64_t /*pitch*/, int64_t k0, const float* bias, bool relu, float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t k = k0 + r;
    const float bk = bias ? bias[k] : 0.0f;
    const float* mp = m + r * ldm;
    for (int p = 0; p < count; ++p) {
      const WinogradPiece& pc = pieces[p];
      float* yk = y + (pc.image * g.k + k) * g.oh * g.ow;
      const int64_t oy0 = pc.ty * kOut, ox0 = pc.tx * kOut;
      for (int64_t t = 0; t < pc.n; ++t) {
        float a[4][4], b[4][2], o[2][2];
        for (int xi = 0; xi < 16; ++xi) a[xi / 4][xi % 4] = mp[xi * ldxi + t];
        for (int i = 0; i < 4; ++i) output_line(a[i], 1, b[i], 1);           // along x
        for (int q = 0; q < 2; ++q) output_line(&b[0][q], 2, &o[0][q], 2);  // along y
        for (int i = 0; i < 2; ++i)
          for (int j = 0; j < 2; ++j) {
            const int64_t yy = oy0 + i, xx = ox0 + kOut * t + j;
            if (yy >= g.oh || xx >= g.ow) continue;
            float val = o[i][j] + bk;
            if (relu && val < 0.0f) val = 0.0f;  // NaN propagates, as in PyTorch
            yk[yy * g.ow + xx] = val;
          }
      }
      mp += pc.n;
    }
  }
}

}  // namespace

const WinogradKernels& winograd_f2_kernels_ref() {
  static const WinogradKernels k{&input_ref, winograd_kernels_ref().gemm, &output_ref, 16,
                                 WinogradVariant::f2x2};
  return k;
}

}  // namespace pcn::conv
