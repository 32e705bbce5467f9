// 2-D upsampling (interpolation) of NCHW planes, nearest and bilinear, with PyTorch's index and
// weight rules (torch.nn.functional.interpolate). Each output coordinate reads one (nearest) or
// two (linear) source coordinates per axis; the tables below hold them, computed in float32 as
// PyTorch does, so the chosen pixels are PyTorch's.
#pragma once
#include <cstdint>
#include <vector>

namespace pcn::upsample {

enum class Mode { nearest, bilinear };

// Source taps of each output coordinate along one axis: output o reads i0[o] with weight l0[o]
// and i1[o] with weight l1[o] (linear), or just i0[o] (nearest). i0 never decreases with o.
struct AxisTaps {
  std::vector<int64_t> i0, i1;
  std::vector<float> l0, l1;
};

// `scale_factor` > 0: the factor the output size came from (PyTorch then samples at 1 / factor,
// not at in / out); <= 0: none given (in / out). An axis whose size does not change is the
// identity, as in PyTorch.
AxisTaps nearest_taps(int64_t in, int64_t out, double scale_factor);
AxisTaps linear_taps(int64_t in, int64_t out, double scale_factor, bool align_corners);

struct Upsample2d {
  int64_t planes;  // n * c
  int64_t h, w, oh, ow;
  Mode mode;
  bool align_corners;       // bilinear only
  double scale_h, scale_w;  // scale factors, <= 0 when the size was given
};

// y (planes, oh, ow) from x (planes, h, w).
void upsample2d_forward(const Upsample2d& u, const float* x, float* y);
// dx (planes, h, w), overwritten, from dy (planes, oh, ow). Each dx row is summed by one thread
// in a fixed order (output rows, then columns, ascending), so any thread count gives the same bits.
void upsample2d_backward(const Upsample2d& u, const float* dy, float* dx);

}  // namespace pcn::upsample
