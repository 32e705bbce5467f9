// Weight-gradient packing from a channels-last copy of the image.
//
// dW_g = sum_b dY_b * im2col(X_b)^T has one GEMM row per output position and one column per
// weight (c, ky, kx). Gathering 16 such columns from a CHW image touches 16 scattered floats
// per position. Ordering the columns as (ky, kx, c) instead and reading a zero-padded HWC
// copy of the image makes 16 consecutive columns 16 consecutive floats (when the group has
// at least 16 channels): one vector copy per position. The GEMM then produces dW with its
// columns in (ky, kx, c) order, which `unpermute_dw` puts back into OIHW.
#pragma once
#include <cstdint>
#include <vector>

#include "common/aligned_buffer.h"
#include "common/shapes.h"
#include "gemm/pack.h"

namespace pcn::conv {

// The group's cg channels of one image, zero-padded, channels innermost.
class PaddedImageHwc {
 public:
  void assign(const Conv2dShape& s, const float* x);  // x: channel 0 of the group, CHW
  const float* data() const { return buf_.data(); }
  int64_t width() const { return wp_; }

 private:
  AlignedBuffer buf_;
  int64_t wp_ = 0;
};

// B[k][n] with k = output position (oy, ox) and n = (ky, kx, c).
class Im2colHwcTransposedBPacker final : public gemm::BPacker {
 public:
  Im2colHwcTransposedBPacker(const Conv2dShape& s, const PaddedImageHwc& img);
  void pack(int64_t k0, int64_t kc, int64_t n0, int64_t nc, float* dst) const override;

 private:
  const Conv2dShape& s_;
  const float* x_;
  int64_t wp_;
  std::vector<int64_t> noff_;  // offset of column n from the window's top-left corner
};

// dw[o][c][ky][kx] = perm[o][(ky * kw + kx) * cg + c] for the ocg rows of one group.
void unpermute_dw(const Conv2dShape& s, const float* perm, float* dw);

}  // namespace pcn::conv
