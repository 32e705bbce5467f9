// The taps of the direct convolution (direct_conv.h): the weights packed as panels, each
// tap's offset in the zero-padded image, and which taps each output column may skip.
//
// Taps are ordered k = (ky, kx, c). Kernel rows on the top/bottom padding are then a
// contiguous range to leave out, and kernel columns on the left/right padding leave, in each
// kernel row, one contiguous run of c * (kx1 - kx0) taps: a tile takes them as segments
// (TapSegments) without a per-column copy of the weights. For 5x5 pad 2 on 14x14 maps the
// skipped columns are 9% of all taps.
#pragma once
#include <cstdint>
#include <vector>

#include "common/shapes.h"
#include "conv/direct_ukernel.h"

namespace pcn::conv {

// [k0, k1): taps along one axis whose input coordinate o * stride - pad + k * dilation lies
// in [0, extent). Empty (k0 == k1) when the whole window is on the padding.
void valid_taps(int64_t o, int64_t stride, int64_t pad, int64_t dilation, int64_t extent,
                int64_t taps, int64_t& k0, int64_t& k1);

class DirectTaps {
 public:
  // Panels of `width` output channels (the micro-kernel table's DirectUkernels::width).
  DirectTaps(const Conv2dShape& s, int64_t width);

  int64_t panels() const { return panels_; }              // of `width` output channels
  int64_t panel_size() const { return kdim_ * width_; }   // floats
  // Packs panels [p0, p1) of the OIHW weights w to dst (panel p0 first): kdim x width floats
  // each, tap-major, zero past oc.
  void pack(const float* w, int64_t p0, int64_t p1, float* dst) const;
  const int64_t* koff() const { return koff_.data(); }
  // Output columns [interior_begin, interior_end) see every kernel column; the others are
  // edge columns.
  int64_t interior_begin() const { return interior_begin_; }
  int64_t interior_end() const { return interior_end_; }
  // The taps of kernel rows [ky0, ky1) and kernel columns [kx0, kx1); `first` is the first.
  TapSegments segments(int64_t ky0, int64_t ky1, int64_t kx0, int64_t kx1, int64_t& first) const;

 private:
  Conv2dShape s_;  // a copy: a serving layer keeps its taps beside its own shape
  int64_t width_, kdim_, panels_;
  std::vector<int64_t> koff_;
  int64_t interior_begin_ = 0, interior_end_ = 0;
};

}  // namespace pcn::conv
