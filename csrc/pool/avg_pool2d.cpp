// Average pooling: the portable rows kernel, the ISA dispatcher and the backward pass.
// As PyTorch: sum the window (clipped to the input) in row-major order starting from 0,
// then divide by the window clipped to the padded input (count_include_pad) or to the input.
// Both factors of the divisor are per axis, so they are tabulated once per call.
#include <algorithm>
#include <cstring>
#include <vector>

#include "common/cpu_features.h"
#include "common/threading.h"
#include "pool/pool.h"

namespace pcn::pool {
namespace {

// Per output position along one axis: the window clipped to the input [lo, hi) and its
// divisor factor (extent clipped to the padded input, or to the input).
struct AxisWindows {
  std::vector<int64_t> lo, hi, count;
  AxisWindows(int64_t in, int64_t k, int64_t s, int64_t pad, int64_t out, bool count_include_pad)
      : lo(out), hi(out), count(out) {
    for (int64_t o = 0; o < out; ++o) {
      const int64_t start = o * s - pad, end = std::min<int64_t>(start + k, in + pad);
      lo[o] = std::max<int64_t>(start, 0);
      hi[o] = std::min<int64_t>(end, in);
      count[o] = count_include_pad ? end - start : hi[o] - lo[o];
    }
  }
};

// dx rows [y_lo, y_hi) += delta[ox] over each window's columns; interior windows of width
// KW (0 = runtime kw) take the unrolled loop.
template <int KW>
inline void scatter_rows(float* d, int64_t W, int64_t y_lo, int64_t y_hi, const float* delta,
                         const AxisWindows& wx, int64_t ow, int64_t kw) {
  for (int64_t iy = y_lo; iy < y_hi; ++iy) {
    float* row = d + iy * W;
    for (int64_t ox = 0; ox < ow; ++ox) {
      const float v = delta[ox];
      const int64_t lo = wx.lo[ox], hi = wx.hi[ox];
      if (KW > 0 && hi - lo == KW) {
        for (int kx = 0; kx < KW; ++kx) row[lo + kx] += v;
      } else {
        for (int64_t ix = lo; ix < hi; ++ix) row[ix] += v;
      }
    }
  }
  (void)kw;
}

}  // namespace

void avg_pool2d_rows_ref(const float* x, float* y, const Pool2dShape& s, bool count_include_pad,
                         int64_t row_begin, int64_t row_end) {
  const int64_t H = s.h, W = s.w, OH = s.oh, OW = s.ow;
  const AxisWindows wy(H, s.kh, s.sh, s.ph, OH, count_include_pad);
  const AxisWindows wx(W, s.kw, s.sw, s.pw, OW, count_include_pad);
  for (int64_t r = row_begin; r < row_end; ++r) {
    const int64_t plane = r / OH, oy = r - plane * OH;
    const float* xp = x + plane * H * W;
    float* yr = y + r * OW;
    const int64_t y_lo = wy.lo[oy], y_hi = wy.hi[oy];
    for (int64_t ox = 0; ox < OW; ++ox) {
      const int64_t x_lo = wx.lo[ox], x_hi = wx.hi[ox], divisor = wy.count[oy] * wx.count[ox];
      if (y_lo >= y_hi || x_lo >= x_hi || divisor <= 0) {  // not for valid arguments
        yr[ox] = 0.0f;
        continue;
      }
      float sum = 0.0f;
      for (int64_t iy = y_lo; iy < y_hi; ++iy)
        for (int64_t ix = x_lo; ix < x_hi; ++ix) sum += xp[iy * W + ix];
      yr[ox] = sum / static_cast<float>(divisor);
    }
  }
}

void avg_pool2d_forward(const float* x, float* y, const Pool2dShape& s, bool count_include_pad) {
  const int64_t rows = s.n * s.c * s.oh;
  if (rows <= 0 || s.ow <= 0) return;
  const int64_t work = std::max<int64_t>(1, s.ow * s.kh * s.kw);
  const int64_t grain = std::max<int64_t>(1, 8192 / work);
  const Isa isa = current_isa();
#if defined(PCN_HAVE_AVX512)
  // Vector blocks end to end, borders included (pool.h says which shapes stay on AVX2).
  if (isa == Isa::avx512 && (s.sw == 1 || s.sw == 2) && !avx2_rows_are_vector_blocks(s, 8)) {
    parallel_for(rows, grain, [&](int64_t b, int64_t e) {
      avg_pool2d_rows_avx512(x, y, s, count_include_pad, b, e);
    });
    return;
  }
#endif
#if defined(PCN_HAVE_AVX2)
  if (isa >= Isa::avx2 && (s.sw == 1 || s.sw == 2) && s.ow >= 8) {
    parallel_for(rows, grain, [&](int64_t b, int64_t e) {
      avg_pool2d_rows_avx2(x, y, s, count_include_pad, b, e);
    });
    return;
  }
#endif
  parallel_for(rows, grain, [&](int64_t b, int64_t e) {
    avg_pool2d_rows_ref(x, y, s, count_include_pad, b, e);
  });
}

// dx[cell] += grad_y[window] / divisor for every window holding the cell, windows in (oy, ox)
// order for every cell (the loops run oy, iy, ox: a cell's windows still come in (oy, ox)
// order), one thread per plane.
void avg_pool2d_backward(const float* grad_y, float* dx, const Pool2dShape& s,
                         bool count_include_pad) {
  const int64_t planes = s.n * s.c, in_plane = s.h * s.w, out_plane = s.oh * s.ow;
  if (planes <= 0) return;
  const AxisWindows wy(s.h, s.kh, s.sh, s.ph, s.oh, count_include_pad);
  const AxisWindows wx(s.w, s.kw, s.sw, s.pw, s.ow, count_include_pad);
  const int64_t grain =
      std::max<int64_t>(1, 16384 / std::max<int64_t>(1, in_plane + out_plane * s.kh * s.kw));
  parallel_for(planes, grain, [&](int64_t b, int64_t e) {
    std::vector<float> delta(static_cast<size_t>(s.ow));
    for (int64_t p = b; p < e; ++p) {
      float* d = dx + p * in_plane;
      const float* g = grad_y + p * out_plane;
      std::memset(d, 0, sizeof(float) * static_cast<size_t>(in_plane));
      for (int64_t oy = 0; oy < s.oh; ++oy) {
        const int64_t y_lo = wy.lo[oy], y_hi = wy.hi[oy];
        const float* gr = g + oy * s.ow;
        for (int64_t ox = 0; ox < s.ow; ++ox) {
          const int64_t divisor = wy.count[oy] * wx.count[ox];
          // empty windows (impossible for valid arguments) contribute nothing
          delta[ox] = divisor > 0 && wx.lo[ox] < wx.hi[ox] ? gr[ox] / static_cast<float>(divisor)
                                                           : 0.0f;
        }
        if (s.kw == 2) scatter_rows<2>(d, s.w, y_lo, y_hi, delta.data(), wx, s.ow, s.kw);
        else if (s.kw == 3) scatter_rows<3>(d, s.w, y_lo, y_hi, delta.data(), wx, s.ow, s.kw);
        else scatter_rows<0>(d, s.w, y_lo, y_hi, delta.data(), wx, s.ow, s.kw);
      }
    }
  });
}

}  // namespace pcn::pool
