// Forward and backward of 2-D nearest and bilinear upsampling, row by row.
//
// Forward: threads split the output rows of all planes. Backward is a gather, not a scatter:
// threads split the *input* rows, and each dx row adds up the output rows that read it (a
// contiguous range, as the source index never decreases), in ascending order, column by
// column. No two threads ever write one element, and every sum runs in the same order for any
// thread count.
#include <algorithm>
#include <cstring>

#include "common/threading.h"
#include "upsample/upsample.h"

namespace pcn::upsample {

namespace {

// Rows per chunk: about 2K output floats, so small maps are not split into slivers.
int64_t row_grain(int64_t width) { return std::max<int64_t>(1, 2048 / std::max<int64_t>(1, width)); }

struct Taps {
  AxisTaps h, w;
};

Taps make_taps(const Upsample2d& u) {
  if (u.mode == Mode::nearest) return {nearest_taps(u.h, u.oh, u.scale_h), nearest_taps(u.w, u.ow, u.scale_w)};
  return {linear_taps(u.h, u.oh, u.scale_h, u.align_corners),
          linear_taps(u.w, u.ow, u.scale_w, u.align_corners)};
}

// The output rows [begin, end) that read input row iy: those whose i0 is iy (nearest), or iy - 1
// or iy (linear: i1 = i0 + 1, or i0 at the last row).
void reading_rows(const AxisTaps& t, int64_t iy, bool linear, int64_t& begin, int64_t& end) {
  begin = std::lower_bound(t.i0.begin(), t.i0.end(), linear ? iy - 1 : iy) - t.i0.begin();
  end = std::upper_bound(t.i0.begin(), t.i0.end(), iy) - t.i0.begin();
}

}  // namespace

void upsample2d_forward(const Upsample2d& u, const float* x, float* y) {
  const Taps t = make_taps(u);
  const int64_t hw = u.h * u.w, ow = u.ow;
  const int64_t* ix0 = t.w.i0.data();
  if (u.mode == Mode::nearest) {
    parallel_for(u.planes * u.oh, row_grain(ow), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const float* src = x + (r / u.oh) * hw + t.h.i0[r % u.oh] * u.w;
        float* dst = y + r * ow;
        for (int64_t o = 0; o < ow; ++o) dst[o] = src[ix0[o]];
      }
    });
    return;
  }
  const int64_t* ix1 = t.w.i1.data();
  const float *lw0 = t.w.l0.data(), *lw1 = t.w.l1.data();
  parallel_for(u.planes * u.oh, row_grain(ow), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t oy = r % u.oh;
      const float* plane = x + (r / u.oh) * hw;
      const float* a = plane + t.h.i0[oy] * u.w;
      const float* b = plane + t.h.i1[oy] * u.w;
      const float lh0 = t.h.l0[oy], lh1 = t.h.l1[oy];
      float* dst = y + r * ow;
      for (int64_t o = 0; o < ow; ++o)
        dst[o] = lh0 * (lw0[o] * a[ix0[o]] + lw1[o] * a[ix1[o]]) +
                 lh1 * (lw0[o] * b[ix0[o]] + lw1[o] * b[ix1[o]]);
    }
  });
}

void upsample2d_backward(const Upsample2d& u, const float* dy, float* dx) {
  const Taps t = make_taps(u);
  const bool linear = u.mode == Mode::bilinear;
  const int64_t ohw = u.oh * u.ow, ow = u.ow;
  const int64_t* ix0 = t.w.i0.data();
  const int64_t* ix1 = linear ? t.w.i1.data() : nullptr;
  const float* lw0 = linear ? t.w.l0.data() : nullptr;
  const float* lw1 = linear ? t.w.l1.data() : nullptr;
  parallel_for(u.planes * u.h, row_grain(ow), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t iy = r % u.h;
      const float* plane = dy + (r / u.h) * ohw;
      float* dst = dx + r * u.w;
      std::memset(dst, 0, u.w * sizeof(float));
      int64_t ob, oe;
      reading_rows(t.h, iy, linear, ob, oe);
      for (int64_t oy = ob; oy < oe; ++oy) {
        const float* g = plane + oy * ow;
        if (!linear) {
          for (int64_t o = 0; o < ow; ++o) dst[ix0[o]] += g[o];
          continue;
        }
        // The row's two taps in order; both are this row at the last input row.
        for (int tap = 0; tap < 2; ++tap) {
          if ((tap == 0 ? t.h.i0[oy] : t.h.i1[oy]) != iy) continue;
          const float lh = tap == 0 ? t.h.l0[oy] : t.h.l1[oy];
          for (int64_t o = 0; o < ow; ++o) {
            const float v = lh * g[o];
            dst[ix0[o]] += lw0[o] * v;
            dst[ix1[o]] += lw1[o] * v;
          }
        }
      }
    }
  });
}

}  // namespace pcn::upsample
