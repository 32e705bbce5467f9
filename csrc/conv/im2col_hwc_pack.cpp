#include "conv/im2col_hwc_pack.h"

#include <algorithm>
#include <cstring>

#include "gemm/ukernel.h"

namespace pcn::conv {

using gemm::NR;

void PaddedImageHwc::assign(const Conv2dShape& s, const float* x) {
  const int64_t hp = s.h + s.pt + s.pb, cg = s.cg();
  wp_ = s.w + s.pl + s.pr;
  // NR floats of slack: the packer copies whole 16-float vectors (pack.h).
  const size_t total = static_cast<size_t>(hp * wp_ * cg);
  buf_.resize(total + NR);
  float* d = buf_.data();
  std::fill(d, d + total + NR, 0.0f);
  for (int64_t y = 0; y < s.h; ++y)
    for (int64_t xx = 0; xx < s.w; ++xx) {
      float* px = d + ((y + s.pt) * wp_ + xx + s.pl) * cg;
      const float* src = x + y * s.w + xx;
      for (int64_t c = 0; c < cg; ++c) px[c] = src[c * s.h * s.w];
    }
}

Im2colHwcTransposedBPacker::Im2colHwcTransposedBPacker(const Conv2dShape& s,
                                                       const PaddedImageHwc& img)
    : s_(s), x_(img.data()), wp_(img.width()), noff_(s.kdim()) {
  const int64_t cg = s.cg();
  for (int64_t ky = 0; ky < s.kh; ++ky)
    for (int64_t kx = 0; kx < s.kw; ++kx)
      for (int64_t c = 0; c < cg; ++c)
        noff_[(ky * s.kw + kx) * cg + c] = (ky * s.dh * wp_ + kx * s.dw) * cg + c;
}

void Im2colHwcTransposedBPacker::pack(int64_t k0, int64_t kc, int64_t n0, int64_t nc,
                                      float* dst) const {
  const Conv2dShape& s = s_;
  const int64_t cg = s.cg();
  for (int64_t jr = 0; jr < nc; jr += NR) {
    float* panel = dst + jr * kc;
    const int64_t cols = std::min(NR, nc - jr);
    // Runs of columns that are consecutive floats of the image (one per (ky, kx) in reach).
    struct Run { int64_t lane, len, off; };
    Run runs[NR];
    int nruns = 0;
    for (int64_t lane = 0; lane < cols; ++lane) {
      const int64_t off = noff_[n0 + jr + lane];
      if (nruns > 0 && runs[nruns - 1].off + runs[nruns - 1].len == off) ++runs[nruns - 1].len;
      else runs[nruns++] = {lane, 1, off};
    }
    int64_t oy = k0 / s.ow, ox = k0 % s.ow;
    for (int64_t kk = 0; kk < kc; ++kk) {
      const float* base = x_ + (oy * s.sh * wp_ + ox * s.sw) * cg;
      float* d = panel + kk * NR;
      if (nruns == 1 && cols == NR) {
        std::memcpy(d, base + runs[0].off, NR * sizeof(float));
      } else {
        for (int r = 0; r < nruns; ++r)
          std::memcpy(d + runs[r].lane, base + runs[r].off, runs[r].len * sizeof(float));
        for (int64_t t = cols; t < NR; ++t) d[t] = 0.0f;
      }
      if (++ox == s.ow) ox = 0, ++oy;
    }
  }
}

void unpermute_dw(const Conv2dShape& s, const float* perm, float* dw) {
  const int64_t cg = s.cg(), khw = s.kh * s.kw, kdim = s.kdim();
  for (int64_t o = 0; o < s.ocg(); ++o)
    for (int64_t c = 0; c < cg; ++c)
      for (int64_t k = 0; k < khw; ++k) dw[o * kdim + c * khw + k] = perm[o * kdim + k * cg + c];
}

}  // namespace pcn::conv
