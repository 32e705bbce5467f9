#include "conv/im2col_pack.h"

#include <algorithm>
#include <cstring>

#include "gemm/ukernel.h"

namespace pcn::conv {

using gemm::NR;

namespace {

void fill_k_tables(const Conv2dShape& s, std::vector<int64_t>& off, std::vector<int64_t>& dy,
                   std::vector<int64_t>& dx) {
  const int64_t kdim = s.kdim();
  off.resize(kdim);
  dy.resize(kdim);
  dx.resize(kdim);
  for (int64_t k = 0; k < kdim; ++k) {
    const int64_t c = k / (s.kh * s.kw), r = k % (s.kh * s.kw);
    const int64_t ky = r / s.kw, kx = r % s.kw;
    dy[k] = ky * s.dh - s.pt;
    dx[k] = kx * s.dw - s.pl;
    off[k] = c * s.h * s.w;
  }
}

// Copies `len` outputs of one output row: src index ix = ox*sw + dx for ox = ox0.., zero
// outside [0, W). `row` is the input row (already checked to be inside the image).
inline void gather_row(const float* row, int64_t w, int64_t ox0, int64_t len, int64_t sw,
                       int64_t dx, float* dst) {
  int64_t ix = ox0 * sw + dx;
  if (sw == 1) {
    int64_t t = 0;
    // Leading zeros (ix < 0), contiguous middle, trailing zeros (ix >= W).
    const int64_t lead = std::min(len, std::max<int64_t>(0, -ix));
    for (; t < lead; ++t) dst[t] = 0.0f;
    const int64_t mid_end = std::min(len, std::max<int64_t>(lead, w - ix));
    if (mid_end > t) std::memcpy(dst + t, row + ix + t, (mid_end - t) * sizeof(float));
    for (t = std::max(t, mid_end); t < len; ++t) dst[t] = 0.0f;
    return;
  }
  for (int64_t t = 0; t < len; ++t, ix += sw) dst[t] = (ix >= 0 && ix < w) ? row[ix] : 0.0f;
}

}  // namespace

Im2colBPacker::Im2colBPacker(const Conv2dShape& s, const float* x) : s_(s), x_(x) {
  fill_k_tables(s, koff_, kdy_, kdx_);
}

void Im2colBPacker::pack(int64_t k0, int64_t kc, int64_t n0, int64_t nc, float* dst) const {
  const Conv2dShape& s = s_;
  const int64_t ow = s.ow;
  for (int64_t jr = 0; jr < nc; jr += NR) {
    float* panel = dst + jr * kc;
    const int64_t cols = std::min(NR, nc - jr);
    // The panel's columns split into runs that share an output row.
    struct Run { int64_t lane, len, oy, ox; };
    Run runs[NR];
    int nruns = 0;
    for (int64_t lane = 0; lane < cols;) {
      const int64_t n = n0 + jr + lane;
      const int64_t oy = n / ow, ox = n % ow;
      const int64_t len = std::min(cols - lane, ow - ox);
      runs[nruns++] = {lane, len, oy, ox};
      lane += len;
    }
    for (int64_t kk = 0; kk < kc; ++kk) {
      const int64_t k = k0 + kk;
      const float* xc = x_ + koff_[k];
      float* d = panel + kk * NR;
      for (int r = 0; r < nruns; ++r) {
        const Run& run = runs[r];
        const int64_t iy = run.oy * s.sh + kdy_[k];
        if (iy < 0 || iy >= s.h) {
          std::memset(d + run.lane, 0, run.len * sizeof(float));
          continue;
        }
        gather_row(xc + iy * s.w, s.w, run.ox, run.len, s.sw, kdx_[k], d + run.lane);
      }
      if (cols < NR) std::memset(d + cols, 0, (NR - cols) * sizeof(float));
    }
  }
}

Im2colTransposedBPacker::Im2colTransposedBPacker(const Conv2dShape& s, const float* x)
    : s_(s), x_(x) {
  fill_k_tables(s, koff_, kdy_, kdx_);
}

void Im2colTransposedBPacker::pack(int64_t k0, int64_t kc, int64_t n0, int64_t nc,
                                   float* dst) const {
  // Row kk of the block is output position p = k0 + kk; column j is weight index n0 + j.
  const Conv2dShape& s = s_;
  for (int64_t jr = 0; jr < nc; jr += NR) {
    float* panel = dst + jr * kc;
    const int64_t cols = std::min(NR, nc - jr);
    for (int64_t kk = 0; kk < kc; ++kk) {
      const int64_t p = k0 + kk;
      const int64_t oy = p / s.ow, ox = p % s.ow;
      const int64_t by = oy * s.sh, bx = ox * s.sw;
      float* d = panel + kk * NR;
      for (int64_t j = 0; j < cols; ++j) {
        const int64_t n = n0 + jr + j;
        const int64_t iy = by + kdy_[n], ix = bx + kdx_[n];
        d[j] = (iy >= 0 && iy < s.h && ix >= 0 && ix < s.w) ? x_[koff_[n] + iy * s.w + ix] : 0.0f;
      }
      for (int64_t j = cols; j < NR; ++j) d[j] = 0.0f;
    }
  }
}

void col2im_add(const Conv2dShape& s, const float* col, int64_t p0, int64_t p1, int64_t c0,
                int64_t c1, float* dx) {
  const int64_t ld = p1 - p0;
  for (int64_t c = c0; c < c1; ++c) {
    float* dxc = dx + c * s.h * s.w;
    for (int64_t ky = 0; ky < s.kh; ++ky) {
      for (int64_t kx = 0; kx < s.kw; ++kx) {
        const float* crow = col + ((c * s.kh + ky) * s.kw + kx) * ld;
        const int64_t ddy = ky * s.dh - s.pt, ddx = kx * s.dw - s.pl;
        // Output columns whose input column lies inside the image.
        int64_t ox_lo = 0, ox_hi = s.ow;
        while (ox_lo < ox_hi && ox_lo * s.sw + ddx < 0) ++ox_lo;
        while (ox_hi > ox_lo && (ox_hi - 1) * s.sw + ddx >= s.w) --ox_hi;
        // Walk the output rows that intersect [p0, p1).
        for (int64_t oy = p0 / s.ow; oy * s.ow < p1; ++oy) {
          const int64_t iy = oy * s.sh + ddy;
          if (iy < 0 || iy >= s.h) continue;
          const int64_t lo = std::max(ox_lo, p0 - oy * s.ow);
          const int64_t hi = std::min(ox_hi, p1 - oy * s.ow);
          float* drow = dxc + iy * s.w + ddx;
          const float* src = crow + oy * s.ow - p0;
          if (s.sw == 1) {
            for (int64_t ox = lo; ox < hi; ++ox) drow[ox] += src[ox];
          } else {
            for (int64_t ox = lo; ox < hi; ++ox) drow[ox * s.sw] += src[ox];
          }
        }
      }
    }
  }
}

}  // namespace pcn::conv
