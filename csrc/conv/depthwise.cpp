#include "conv/depthwise.h"

#include <algorithm>
#include <cstring>

#include "common/cpu_features.h"
#include "common/threading.h"

namespace pcn::conv {

namespace {

// Output columns ox with 0 <= ox*sw + off < w.
inline void valid_columns(const Conv2dShape& s, int64_t off, int64_t& lo, int64_t& hi) {
  lo = 0;
  hi = s.ow;
  while (lo < hi && lo * s.sw + off < 0) ++lo;
  while (hi > lo && (hi - 1) * s.sw + off >= s.w) --hi;
}

}  // namespace

void depthwise_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                       float* y, bool relu) {
  const int64_t ocg = s.ocg(), ohw = s.oh * s.ow;
  [[maybe_unused]] const bool avx512 = current_isa() == Isa::avx512;
  parallel_for_each(s.n * s.oc, [&](int64_t plane) {
    const int64_t b = plane / s.oc, o = plane % s.oc;
    const float* xin = x + (b * s.c + o / ocg) * s.h * s.w;
    const float* wk = w + o * s.kh * s.kw;
    float* out = y + plane * ohw;
    const float b0 = bias ? bias[o] : 0.0f;
#ifdef PCN_HAVE_AVX512
    if (avx512 && depthwise_plane_avx512(s, xin, wk, b0, out, relu)) return;
#endif
    for (int64_t i = 0; i < ohw; ++i) out[i] = b0;
    for (int64_t oy = 0; oy < s.oh; ++oy) {
      float* orow = out + oy * s.ow;
      for (int64_t ky = 0; ky < s.kh; ++ky) {
        const int64_t iy = oy * s.sh - s.pt + ky * s.dh;
        if (iy < 0 || iy >= s.h) continue;
        const float* irow = xin + iy * s.w;
        for (int64_t kx = 0; kx < s.kw; ++kx) {
          const float wv = wk[ky * s.kw + kx];
          const int64_t off = kx * s.dw - s.pl;
          int64_t lo, hi;
          valid_columns(s, off, lo, hi);
          if (s.sw == 1) {
            for (int64_t ox = lo; ox < hi; ++ox) orow[ox] += wv * irow[ox + off];
          } else {
            for (int64_t ox = lo; ox < hi; ++ox) orow[ox] += wv * irow[ox * s.sw + off];
          }
        }
      }
    }
    if (relu)
      for (int64_t i = 0; i < ohw; ++i) out[i] = out[i] < 0.0f ? 0.0f : out[i];
  });
}

void depthwise_backward(const Conv2dShape& s, const float* x, const float* w, const float* dy,
                        float* dx, float* dw) {
  const int64_t ocg = s.ocg(), ohw = s.oh * s.ow, hw = s.h * s.w, kk = s.kh * s.kw;
  if (dx) {
    // One thread per input plane (b, g): it gathers from the group's ocg output planes.
    parallel_for_each(s.n * s.c, [&](int64_t plane) {
      const int64_t b = plane / s.c, g = plane % s.c;
      float* dxp = dx + plane * hw;
      std::memset(dxp, 0, hw * sizeof(float));
      for (int64_t j = 0; j < ocg; ++j) {
        const int64_t o = g * ocg + j;
        const float* dyp = dy + (b * s.oc + o) * ohw;
        const float* wk = w + o * kk;
        for (int64_t oy = 0; oy < s.oh; ++oy) {
          const float* drow = dyp + oy * s.ow;
          for (int64_t ky = 0; ky < s.kh; ++ky) {
            const int64_t iy = oy * s.sh - s.pt + ky * s.dh;
            if (iy < 0 || iy >= s.h) continue;
            float* xrow = dxp + iy * s.w;
            for (int64_t kx = 0; kx < s.kw; ++kx) {
              const float wv = wk[ky * s.kw + kx];
              const int64_t off = kx * s.dw - s.pl;
              int64_t lo, hi;
              valid_columns(s, off, lo, hi);
              for (int64_t ox = lo; ox < hi; ++ox) xrow[ox * s.sw + off] += wv * drow[ox];
            }
          }
        }
      }
    });
  }
  if (dw) {
    // One thread per output channel; images are summed in order.
    parallel_for_each(s.oc, [&](int64_t o) {
      const int64_t g = o / ocg;
      float* dwk = dw + o * kk;
      for (int64_t t = 0; t < kk; ++t) dwk[t] = 0.0f;
      for (int64_t b = 0; b < s.n; ++b) {
        const float* xin = x + (b * s.c + g) * hw;
        const float* dyp = dy + (b * s.oc + o) * ohw;
        for (int64_t ky = 0; ky < s.kh; ++ky) {
          for (int64_t kx = 0; kx < s.kw; ++kx) {
            const int64_t off = kx * s.dw - s.pl;
            int64_t lo, hi;
            valid_columns(s, off, lo, hi);
            float acc = 0.0f;
            for (int64_t oy = 0; oy < s.oh; ++oy) {
              const int64_t iy = oy * s.sh - s.pt + ky * s.dh;
              if (iy < 0 || iy >= s.h) continue;
              const float* irow = xin + iy * s.w;
              const float* drow = dyp + oy * s.ow;
              for (int64_t ox = lo; ox < hi; ++ox) acc += drow[ox] * irow[ox * s.sw + off];
            }
            dwk[ky * s.kw + kx] += acc;
          }
        }
      }
    });
  }
}

}  // namespace pcn::conv
