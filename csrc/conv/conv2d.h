// 2-D convolution, NCHW, weights OIHW (PyTorch layout). Shapes are validated by the caller.
#pragma once
#include "common/shapes.h"

namespace pcn::conv {

// 1x1, stride 1, no padding: the image itself is the GEMM operand, no gather needed.
inline bool is_pointwise(const Conv2dShape& s) {
  return s.kh == 1 && s.kw == 1 && s.sh == 1 && s.sw == 1 && s.pt == 0 && s.pl == 0 &&
         s.pb == 0 && s.pr == 0;
}

// y = conv(x, w) + bias (optional), then relu (optional). y has shape (n, oc, oh, ow).
void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                    float* y, bool relu);

// Gradients of y = conv(x, w) + b for the upstream gradient dy. Any output pointer may be
// null (not wanted). dx and db are overwritten; dw is overwritten.
void conv2d_backward(const Conv2dShape& s, const float* x, const float* w, const float* dy,
                     float* dx, float* dw, float* db);

}  // namespace pcn::conv
