// Convolutions whose padding dwarfs their input. With a large dilation and padding='same'
// (8x8 with dilation 4096 pads to 8200x8200) almost every product reads padding: a tap of the
// kernel that reads only padding for every output adds nothing. The same outputs come from a
// smaller problem: the taps that reach the input, the input rows and columns they read and
// only the padding they reach, whose padded plane spans at most 2 * (O - 1) * S + I per axis
// whatever the dilation. conv2d_forward, conv2d_backward and PreparedConv2d run that problem.
#pragma once
#include <optional>
#include <vector>

#include "common/shapes.h"

namespace pcn::conv {

struct TrimmedConv {
  Conv2dShape s;             // the smaller problem: same n, c, oc, groups, stride, dilation, oh, ow
  int64_t ky0 = 0, kx0 = 0;  // its first tap in the full kernel
  int64_t y0 = 0, x0 = 0;    // its first input row and column in the full input
  bool no_taps = false;      // no tap reaches the input: every output is the bias
  bool crop = false;         // the smaller problem reads part of the input only
};

// The smaller problem when the full padded plane is at least 64K floats and four times the
// smaller one's, else nullopt: layers with ordinary padding keep their shape, algorithm and bits.
std::optional<TrimmedConv> trim_taps(const Conv2dShape& s);

// w (oc, cg, kh, kw) restricted to the kept taps (oc, cg, t.s.kh, t.s.kw).
std::vector<float> trimmed_weights(const Conv2dShape& s, const TrimmedConv& t, const float* w);

// x (n, c, h, w) restricted to the kept rows and columns (n, c, t.s.h, t.s.w).
std::vector<float> cropped_input(const Conv2dShape& s, const TrimmedConv& t, const float* x);

// The gradients of the full problem from those of the smaller one (zero for the taps and
// input cells the smaller problem leaves out): dx_t (n, c, t.s.h, t.s.w) into dx (n, c, h, w),
// dw_t (oc, cg, t.s.kh, t.s.kw) into dw (oc, cg, kh, kw). Either pair may be null.
void expand_gradients(const Conv2dShape& s, const TrimmedConv& t, const float* dx_t, float* dx,
                      const float* dw_t, float* dw);

// y = bias (or 0) in every output position, then ReLU: the result when no tap reaches the input.
void fill_bias(const Conv2dShape& s, const float* bias, float* y, bool relu);

}  // namespace pcn::conv
