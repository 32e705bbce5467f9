// im2col fused into GEMM packing: B[k][n] of a convolution, with k = (c, ky, kx) and
// n = (oy, ox), is gathered straight from the image into the micro-kernel's NR-column panels.
// No im2col matrix is ever built, so extra memory is one KC x NC panel block per thread.
#pragma once
#include <cstdint>
#include <vector>

#include "common/shapes.h"
#include "gemm/pack.h"

namespace pcn::conv {

class Im2colBPacker final : public gemm::BPacker {
 public:
  // `x` points at channel 0 of the group's input channels of one image.
  Im2colBPacker(const Conv2dShape& s, const float* x);
  void pack(int64_t k0, int64_t kc, int64_t n0, int64_t nc, float* dst) const override;

 private:
  const Conv2dShape& s_;
  const float* x_;
  // Per row k of B: offset of (c, ky*dh, kx*dw) in the image, and ky*dh - pt, kx*dw - pl.
  std::vector<int64_t> koff_, kdy_, kdx_;
};

// The transpose, for weight gradients: B[k][n] with k = (oy, ox) and n = (c, ky, kx).
class Im2colTransposedBPacker final : public gemm::BPacker {
 public:
  // `x` points at channel 0 of the group's input channels of one image.
  Im2colTransposedBPacker(const Conv2dShape& s, const float* x);
  void pack(int64_t k0, int64_t kc, int64_t n0, int64_t nc, float* dst) const override;

 private:
  const Conv2dShape& s_;
  const float* x_;
  std::vector<int64_t> koff_, kdy_, kdx_;
};

// col2im for a block of columns of dcol = W^T * dY: `col` has kdim rows (c, ky, kx) and
// columns for output positions [p0, p1) (row stride p1 - p0). Adds channels [c0, c1) into dx
// (channel 0 of the group). Each dx element receives its terms in a fixed order.
void col2im_add(const Conv2dShape& s, const float* col, int64_t p0, int64_t p1, int64_t c0,
                int64_t c1, float* dx);

}  // namespace pcn::conv
