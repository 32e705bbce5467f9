// Direct convolution (no im2col): output tiles of up to 6 positions x 16 output channels
// (AVX2; 12 x 32 with AVX-512: the shape comes from the ISA's micro-kernel table),
// accumulated over the taps (ky, kx, c) straight from a zero-padded copy of the image
// (direct_ukernel.h), with the weights packed once per call (direct_taps.h). Taps on the
// padding are skipped: kernel rows for tiles along an output row, kernel columns for the edge
// columns, which are tiled down the column.
#pragma once
#include "common/aligned_buffer.h"
#include "common/shapes.h"

namespace pcn::conv {

// Whether the direct path serves this shape (see direct_conv.cpp for the measurements).
bool use_direct_conv(const Conv2dShape& s);

// `packed`: the weights as DirectTaps(s, width of the current ISA's kernels).pack wrote them
// (pack_direct_taps), or null to pack them in this call.
void direct_conv_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                         float* y, bool relu, const float* packed = nullptr);

// All panels of the weights in the layout direct_conv_forward reads, for the current ISA.
AlignedBuffer pack_direct_taps(const Conv2dShape& s, const float* w);

}  // namespace pcn::conv
