// Portable Winograd F(4x4, 3x3) kernels (winograd_kernels.h): one tile at a time, plain loops.
#include "common/cpu_features.h"
#include "conv/winograd.h"
#include "conv/winograd_kernels.h"

namespace pcn::conv {
namespace {

constexpr int64_t kOut = winograd_out(WinogradVariant::f4x4);  // output tile side

// v = B^T d for one 6-point line (d, v `stride` floats apart); B and A of the points
// 0, 1, -1, 1/2, -2 (winograd.h).
inline void input_line(const float* d, int64_t ds, float* v, int64_t vs) {
  const float d0 = d[0], d1 = d[ds], d2 = d[2 * ds], d3 = d[3 * ds], d4 = d[4 * ds],
              d5 = d[5 * ds];
  const float e = d4 - d2, f = d3 - d1;
  v[0] = (d0 + d4) - 2.0f * d2 + 1.5f * f;
  v[vs] = (d4 - d1) + 0.5f * d2 + 2.5f * d3;
  v[2 * vs] = (d4 + d1) - 2.5f * d2 + 0.5f * d3;
  v[3 * vs] = e + 2.0f * f;
  v[4 * vs] = e - 0.5f * f;
  v[5 * vs] = (d5 + d1) - 2.0f * d3 + 1.5f * e;
}

// o = A^T m for one 6-point line (4 outputs).
inline void output_line(const float* m, int64_t ms, float* o, int64_t os) {
  const float s = m[ms] + m[2 * ms], d = m[ms] - m[2 * ms];
  o[0] = m[0] + s + (m[3 * ms] + m[4 * ms]);
  o[os] = d + 0.5f * m[3 * ms] - 2.0f * m[4 * ms];
  o[2 * os] = s + 0.25f * m[3 * ms] + 4.0f * m[4 * ms];
  o[3 * os] = (d + m[5 * ms]) + 0.125f * m[3 * ms] - 8.0f * m[4 * ms];
}

void input_ref(const float* x, const WinogradGeometry& g, const WinogradPiece* pieces,
               int count, int64_t /*pitch*/, float* v, int64_t ldv, int64_t ldxi) {
  for (int p = 0; p < count; ++p) {
    const WinogradPiece& pc = pieces[p];
    const int64_t y0 = pc.ty * kOut - g.pt, x0 = pc.tx * kOut - g.pl;
    for (int64_t ch = 0; ch < g.c; ++ch) {
      const float* xc = x + (pc.image * g.c + ch) * g.h * g.w;
      for (int64_t t = 0; t < pc.n; ++t) {
        float d[6][6], e[6][6], f[6][6];
        for (int r = 0; r < 6; ++r)
          for (int q = 0; q < 6; ++q) {
            const int64_t y = y0 + r, xx = x0 + 4 * t + q;
            d[r][q] = (y >= 0 && y < g.h && xx >= 0 && xx < g.w) ? xc[y * g.w + xx] : 0.0f;
          }
        for (int r = 0; r < 6; ++r) input_line(d[r], 1, e[r], 1);  // along x
        for (int q = 0; q < 6; ++q) input_line(&e[0][q], 6, &f[0][q], 6);  // along y
        for (int xi = 0; xi < 36; ++xi) v[xi * ldxi + ch * ldv + t] = f[xi / 6][xi % 6];
      }
    }
    v += pc.n;
  }
}

void gemm_ref(int64_t rows, int64_t cols, int64_t kc, const float* u, const float* v,
              int64_t ldv, float* m, int64_t ldm, const float* /*next: no prefetch here*/) {
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t t = 0; t < cols; ++t) {
      float acc = 0.0f;
      for (int64_t ch = 0; ch < kc; ++ch) acc += u[ch * kWinogradRows + i] * v[ch * ldv + t];
      m[i * ldm + t] = acc;
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
        float a[6][6], b[6][4], o[4][4];
        for (int xi = 0; xi < 36; ++xi) a[xi / 6][xi % 6] = mp[xi * ldxi + t];
        for (int i = 0; i < 6; ++i) output_line(a[i], 1, b[i], 1);           // along x
        for (int q = 0; q < 4; ++q) output_line(&b[0][q], 4, &o[0][q], 4);  // along y
        for (int i = 0; i < 4; ++i)
          for (int j = 0; j < 4; ++j) {
            const int64_t yy = oy0 + i, xx = ox0 + 4 * t + j;
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

const WinogradKernels& winograd_kernels_ref() {
  static const WinogradKernels k{&input_ref, &gemm_ref, &output_ref, 16, WinogradVariant::f4x4};
  return k;
}

const WinogradKernels& select_winograd_kernels(WinogradVariant v) {
  const bool f4 = v == WinogradVariant::f4x4;
#ifdef PCN_HAVE_AVX512
  if (current_isa() == Isa::avx512) return f4 ? winograd_kernels_avx512() : winograd_f2_kernels_avx512();
#endif
#ifdef PCN_HAVE_AVX2
  if (current_isa() >= Isa::avx2) return f4 ? winograd_kernels_avx2() : winograd_f2_kernels_avx2();
#endif
  return f4 ? winograd_kernels_ref() : winograd_f2_kernels_ref();
}

}  // namespace pcn::conv
