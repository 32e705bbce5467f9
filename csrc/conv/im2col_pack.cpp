#include "conv/im2col_pack.h"

#include <algorithm>
#include <cstring>

#include "common/threading.h"
#include "gemm/ukernel.h"

namespace pcn::conv {

using gemm::NR;

namespace {

std::vector<int64_t> k_offsets(const Conv2dShape& s, int64_t hp, int64_t wp) {
  std::vector<int64_t> off;
  im2col_offsets(s, hp, wp, off);
  return off;
}

}  // namespace

void im2col_offsets(const Conv2dShape& s, int64_t hp, int64_t wp, std::vector<int64_t>& koff) {
  koff.resize(s.kdim());
  for (int64_t k = 0; k < s.kdim(); ++k) {
    const int64_t c = k / (s.kh * s.kw), r = k % (s.kh * s.kw);
    koff[k] = (c * hp + r / s.kw * s.dh) * wp + r % s.kw * s.dw;
  }
}

void PaddedImage::assign(const Conv2dShape& s, const float* x) {
  assign_rows(s, x, 0, s.h + s.pt + s.pb);
}

void PaddedImage::assign_rows(const Conv2dShape& s, const float* x, int64_t row0, int64_t row1) {
  const bool zeroed = begin(s, row0, row1);
  copy_channels(s, x, 0, s.cg(), row0, row1, zeroed);
  if (!zeroed) finish(row0, row1);
}

void PaddedImage::assign_parallel(const Conv2dShape& s, const float* x) {
  int64_t row0 = 0, row1 = s.h + s.pt + s.pb;
  const bool zeroed = begin(s, row0, row1);
  // about 16 KB per chunk: a 14x14 map with 512 channels is 32 chunks
  const int64_t plane = std::max<int64_t>(1, hp_ * wp_);
  parallel_for(s.cg(), std::max<int64_t>(1, 4096 / plane), [&](int64_t c0, int64_t c1) {
    copy_channels(s, x, c0, c1, row0, row1, zeroed);
  });
  if (!zeroed) finish(row0, row1);
}

bool PaddedImage::begin(const Conv2dShape& s, int64_t& row0, int64_t& row1) {
  hp_ = s.h + s.pt + s.pb;
  wp_ = s.w + s.pl + s.pr;
  row0 = std::max<int64_t>(row0, 0);
  row1 = std::min(row1, hp_);
  const int64_t cg = s.cg();
  // Always a private copy, with NR floats of zeroed slack at the end: the packer copies
  // whole 16-float vectors and may read up to NR - 1 floats past the last element.
  const size_t size = static_cast<size_t>(cg * hp_ * wp_ + gemm::NR);
  const int64_t layout[7] = {cg, s.h, s.w, s.pt, s.pb, s.pl, s.pr};
  if (size > buf_.size() || !std::equal(layout, layout + 7, layout_)) {
    buf_.resize(size);
    std::copy(layout, layout + 7, layout_);
    zero0_ = zero1_ = 0;
  }
  p_ = buf_.data();
  // Within rows whose padding is already zero only the pixels are copied: the fills cost
  // as much as the copy on 32 x 32 maps with a padding of 1 (a 3 x 3 direct convolution).
  return row0 >= zero0_ && row1 <= zero1_;
}

void PaddedImage::copy_channels(const Conv2dShape& s, const float* x, int64_t c0, int64_t c1,
                                int64_t row0, int64_t row1, bool zeroed) {
  float* d = buf_.data();
  for (int64_t c = c0; c < c1; ++c) {
    const float* xc = x + c * s.h * s.w;
    float* dc = d + c * hp_ * wp_;
    for (int64_t r = row0; r < row1; ++r) {
      float* row = dc + r * wp_;
      const int64_t y = r - s.pt;
      if (y < 0 || y >= s.h) {
        if (!zeroed) std::fill(row, row + wp_, 0.0f);
        continue;
      }
      if (!zeroed) {
        std::fill(row, row + s.pl, 0.0f);
        std::fill(row + s.pl + s.w, row + wp_, 0.0f);
      }
      std::memcpy(row + s.pl, xc + y * s.w, s.w * sizeof(float));
    }
  }
}

void PaddedImage::finish(int64_t row0, int64_t row1) {
  float* d = buf_.data();
  const int64_t cg = layout_[0];
  std::fill(d + cg * hp_ * wp_, d + cg * hp_ * wp_ + gemm::NR, 0.0f);
  // the rows known zeroed: the union when the ranges touch, else the new one
  if (zero1_ > zero0_ && row0 <= zero1_ && row1 >= zero0_) {
    zero0_ = std::min(zero0_, row0);
    zero1_ = std::max(zero1_, row1);
  } else {
    zero0_ = row0;
    zero1_ = row1;
  }
}

Im2colBPacker::Im2colBPacker(const Conv2dShape& s, const PaddedImage& img)
    : s_(s), x_(img.data()), wp_(img.width()), koff_(k_offsets(s, img.height(), img.width())) {}

void Im2colBPacker::pack(int64_t k0, int64_t kc, int64_t n0, int64_t nc, float* dst) const {
  const Conv2dShape& s = s_;
  for (int64_t jr = 0; jr < nc; jr += NR) {
    float* panel = dst + jr * kc;
    const int64_t cols = std::min(NR, nc - jr);
    // The panel's columns split into runs that share an output row; each run reads input
    // positions src + t * sw of one padded row.
    struct Run { int64_t lane, len, src; };
    Run runs[NR];
    int nruns = 0;
    for (int64_t lane = 0; lane < cols;) {
      const int64_t n = n0 + jr + lane;
      const int64_t oy = n / s.ow, ox = n % s.ow;
      const int64_t len = std::min(cols - lane, s.ow - ox);
      runs[nruns++] = {lane, len, oy * s.sh * wp_ + ox * s.sw};
      lane += len;
    }
    if (s.sw == 1) {
      // Each run is copied as a whole 16-float vector; the next run (or the next row, or
      // the next panel) overwrites the surplus. The panel buffer has NR floats of slack.
      for (int64_t kk = 0; kk < kc; ++kk) {
        const float* xk = x_ + koff_[k0 + kk];
        float* d = panel + kk * NR;
        for (int r = 0; r < nruns; ++r)
          std::memcpy(d + runs[r].lane, xk + runs[r].src, NR * sizeof(float));
        for (int64_t t = cols; t < NR; ++t) d[t] = 0.0f;
      }
    } else {
      for (int64_t kk = 0; kk < kc; ++kk) {
        const float* xk = x_ + koff_[k0 + kk];
        float* d = panel + kk * NR;
        for (int r = 0; r < nruns; ++r) {
          const float* src = xk + runs[r].src;
          float* dr = d + runs[r].lane;
          for (int64_t t = 0; t < runs[r].len; ++t) dr[t] = src[t * s.sw];
        }
        for (int64_t t = cols; t < NR; ++t) d[t] = 0.0f;
      }
    }
  }
}

Im2colTransposedBPacker::Im2colTransposedBPacker(const Conv2dShape& s, const PaddedImage& img)
    : s_(s), x_(img.data()), wp_(img.width()), koff_(k_offsets(s, img.height(), img.width())) {}

void Im2colTransposedBPacker::pack(int64_t k0, int64_t kc, int64_t n0, int64_t nc,
                                   float* dst) const {
  // Row kk of the block is output position p = k0 + kk; column j is weight index n0 + j.
  const Conv2dShape& s = s_;
  for (int64_t jr = 0; jr < nc; jr += NR) {
    float* panel = dst + jr * kc;
    const int64_t cols = std::min(NR, nc - jr);
    const int64_t* koff = koff_.data() + n0 + jr;
    for (int64_t kk = 0; kk < kc; ++kk) {
      const int64_t p = k0 + kk;
      const float* xp = x_ + (p / s.ow) * s.sh * wp_ + (p % s.ow) * s.sw;
      float* d = panel + kk * NR;
      for (int64_t j = 0; j < cols; ++j) d[j] = xp[koff[j]];
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
