// Direct convolution (no im2col): output tiles of 6 positions of one output row x 16 output
// channels, accumulated over the taps (ky, c, kx) straight from a zero-padded copy of the
// image (direct_ukernel.h), with the weights packed once per call. Kernel rows that fall
// entirely on top/bottom padding are skipped, not multiplied by zeros.
#pragma once
#include "common/shapes.h"

namespace pcn::conv {

// Whether the direct path serves this shape (see direct_conv.cpp for the measurements).
bool use_direct_conv(const Conv2dShape& s);

void direct_conv_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                         float* y, bool relu);

}  // namespace pcn::conv
