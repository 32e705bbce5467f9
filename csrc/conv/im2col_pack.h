// im2col fused into GEMM packing: B[k][n] of a convolution, with k = (c, ky, kx) and
// n = (oy, ox), is gathered straight from the image into the micro-kernel's NR-column panels.
// No im2col matrix is ever built: extra memory is one padded image and one panel per thread.
//
// The packers read a zero-padded copy of the image (PaddedImage), so the gather has no
// bounds checks: for stride 1 every run of output columns is one contiguous copy.
#pragma once
#include <cstdint>
#include <vector>

#include "common/aligned_buffer.h"
#include "common/shapes.h"
#include "gemm/pack.h"

namespace pcn::conv {

// The group's cg input channels of one image with the convolution's padding applied.
// Without padding it aliases the input.
class PaddedImage {
 public:
  void assign(const Conv2dShape& s, const float* x);
  // Only padded rows [row0, row1) of every channel (clamped to the padded height); the
  // other rows are left unset, for a caller that reads no others.
  void assign_rows(const Conv2dShape& s, const float* x, int64_t row0, int64_t row1);
  // assign() with the copy split by channels across the threads (parallel_for): for a single
  // image, whose copy would otherwise run on one thread while the others wait.
  void assign_parallel(const Conv2dShape& s, const float* x);
  const float* data() const { return p_; }
  int64_t height() const { return hp_; }
  int64_t width() const { return wp_; }

 private:
  // assign_rows in three parts: begin (layout; whether the padding of rows [row0, row1) is
  // already zero), copy_channels (any thread, disjoint channels), finish (after a fill).
  bool begin(const Conv2dShape& s, int64_t& row0, int64_t& row1);
  void copy_channels(const Conv2dShape& s, const float* x, int64_t c0, int64_t c1, int64_t row0,
                     int64_t row1, bool zeroed);
  void finish(int64_t row0, int64_t row1);

  AlignedBuffer buf_;
  const float* p_ = nullptr;
  int64_t hp_ = 0, wp_ = 0;
  // The padding (rows and columns) of padded rows [zero0_, zero1_) holds zeros for the layout
  // `layout_` (c, h, w, pt, pb, pl, pr): an image reassigned in the same layout then only
  // has its pixels copied.
  int64_t layout_[7] = {};
  int64_t zero0_ = 0, zero1_ = 0;
};

// koff[k] = offset of (c, ky * dh, kx * dw) in a padded image hp x wp, for k = (c, ky, kx).
void im2col_offsets(const Conv2dShape& s, int64_t hp, int64_t wp, std::vector<int64_t>& koff);

class Im2colBPacker final : public gemm::BPacker {
 public:
  Im2colBPacker(const Conv2dShape& s, const PaddedImage& img);
  void pack(int64_t k0, int64_t kc, int64_t n0, int64_t nc, float* dst) const override;

 private:
  const Conv2dShape& s_;
  const float* x_;
  int64_t wp_;
  std::vector<int64_t> koff_;  // offset of (c, ky*dh, kx*dw) in the padded image, per k
};

// The transpose, for weight gradients: B[k][n] with k = (oy, ox) and n = (c, ky, kx).
class Im2colTransposedBPacker final : public gemm::BPacker {
 public:
  Im2colTransposedBPacker(const Conv2dShape& s, const PaddedImage& img);
  void pack(int64_t k0, int64_t kc, int64_t n0, int64_t nc, float* dst) const override;

 private:
  const Conv2dShape& s_;
  const float* x_;
  int64_t wp_;
  std::vector<int64_t> koff_;
};

// col2im for a block of columns of dcol = W^T * dY: `col` has kdim rows (c, ky, kx) and
// columns for output positions [p0, p1) (row stride p1 - p0). Adds channels [c0, c1) into dx
// (channel 0 of the group). Each dx element receives its terms in a fixed order.
void col2im_add(const Conv2dShape& s, const float* col, int64_t p0, int64_t p1, int64_t c0,
                int64_t c1, float* dx);

}  // namespace pcn::conv
