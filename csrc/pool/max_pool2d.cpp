// Max pooling: the portable rows kernel, the ISA dispatcher and the backward scatter.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>

#include "common/cpu_features.h"
#include "common/threading.h"
#include "pool/pool.h"

namespace pcn::pool {

void max_pool2d_rows_ref(const float* x, float* y, int32_t* indices, const Pool2dShape& s,
                         int64_t row_begin, int64_t row_end) {
  const int64_t H = s.h, W = s.w, OH = s.oh, OW = s.ow;
  for (int64_t r = row_begin; r < row_end; ++r) {
    const int64_t plane = r / OH, oy = r - plane * OH;
    const float* xp = x + plane * H * W;
    float* yr = y + r * OW;
    int32_t* ir = indices ? indices + r * OW : nullptr;
    const int64_t iy0 = oy * s.sh - s.ph;
    const int64_t y_lo = std::max<int64_t>(iy0, 0), y_hi = std::min<int64_t>(iy0 + s.kh, H);
    for (int64_t ox = 0; ox < OW; ++ox) {
      const int64_t ix0 = ox * s.sw - s.pw;
      const int64_t x_lo = std::max<int64_t>(ix0, 0), x_hi = std::min<int64_t>(ix0 + s.kw, W);
      if (y_lo >= y_hi || x_lo >= x_hi) {  // cannot happen for validated arguments
        yr[ox] = -std::numeric_limits<float>::infinity();
        if (ir) ir[ox] = 0;
        continue;
      }
      // PyTorch's rule: the first largest element wins; a NaN always replaces the maximum.
      int64_t best_i = y_lo * W + x_lo;
      float best = xp[best_i];
      for (int64_t iy = y_lo; iy < y_hi; ++iy) {
        const float* row = xp + iy * W;
        for (int64_t ix = x_lo; ix < x_hi; ++ix) {
          const float v = row[ix];
          if (v > best || std::isnan(v)) {
            best = v;
            best_i = iy * W + ix;
          }
        }
      }
      yr[ox] = best;
      if (ir) ir[ox] = static_cast<int32_t>(best_i);
    }
  }
}

void max_pool2d_forward(const float* x, float* y, int32_t* indices, const Pool2dShape& s) {
  const int64_t rows = s.n * s.c * s.oh;
  if (rows <= 0 || s.ow <= 0) return;
  // Rows of tiny work are grouped so a small call does not wake the whole team.
  const int64_t work = std::max<int64_t>(1, s.ow * s.kh * s.kw);
  const int64_t grain = std::max<int64_t>(1, 8192 / work);
  const Isa isa = current_isa();
#if defined(PCN_HAVE_AVX512)
  // Vector blocks end to end, borders included (pool.h says which shapes stay on AVX2).
  if (isa == Isa::avx512 && (s.sw == 1 || s.sw == 2) && !avx2_rows_are_vector_blocks(s, 4)) {
    parallel_for(rows, grain, [&](int64_t b, int64_t e) {
      max_pool2d_rows_avx512(x, y, indices, s, b, e);
    });
    return;
  }
#endif
#if defined(PCN_HAVE_AVX2)
  if (isa >= Isa::avx2 && (s.sw == 1 || s.sw == 2) && s.ow >= 4) {
    parallel_for(rows, grain, [&](int64_t b, int64_t e) {
      max_pool2d_rows_avx2(x, y, indices, s, b, e);
    });
    return;
  }
#endif
  parallel_for(rows, grain, [&](int64_t b, int64_t e) {
    max_pool2d_rows_ref(x, y, indices, s, b, e);
  });
}

int64_t max_pool2d_backward(const float* grad_y, const int32_t* indices, float* dx,
                            int64_t planes, int64_t in_plane, int64_t out_plane) {
  std::atomic<int64_t> bad{0};
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, in_plane + out_plane));
  parallel_for(planes, grain, [&](int64_t b, int64_t e) {
    int64_t local_bad = 0;
    for (int64_t p = b; p < e; ++p) {
      float* d = dx + p * in_plane;
      const float* g = grad_y + p * out_plane;
      const int32_t* ip = indices + p * out_plane;
      std::memset(d, 0, sizeof(float) * static_cast<size_t>(in_plane));
      for (int64_t j = 0; j < out_plane; ++j) {
        const int64_t i = ip[j];
        if (i < 0 || i >= in_plane) {
          ++local_bad;
          continue;
        }
        d[i] += g[j];
      }
    }
    if (local_bad) bad.fetch_add(local_bad, std::memory_order_relaxed);
  });
  return bad.load();
}

}  // namespace pcn::pool
