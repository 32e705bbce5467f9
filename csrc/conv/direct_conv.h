// Direct convolution (no im2col): output tiles of up to 6 positions x 16 output channels
// (AVX2; 12 x 32 with AVX-512: the shape comes from the ISA's micro-kernel table),
// accumulated over the taps (ky, kx, c) straight from a zero-padded copy of the image
// (direct_ukernel.h), with the weights packed once per call (direct_taps.h). Taps on the
// padding are skipped: kernel rows for tiles along an output row, kernel columns for the edge
// columns, which are tiled down the column.
#pragma once
#include "common/aligned_buffer.h"
#include "common/shapes.h"
#include "conv/direct_ukernel.h"

namespace pcn::conv {

// Whether the direct path serves this shape (see direct_conv.cpp for the measurements).
// With the kernels of the current ISA (read once, at the start of the call).
void direct_conv_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                         float* y, bool relu);
// With the kernel table uk; `packed`: the weights as pack_direct_taps(s, w, uk) wrote them, or
// null to pack them in this call.
void direct_conv_forward(const Conv2dShape& s, const DirectUkernels& uk, const float* x,
                         const float* w, const float* bias, float* y, bool relu,
                         const float* packed);

// All panels of the weights in the layout direct_conv_forward reads with the table uk.
AlignedBuffer pack_direct_taps(const Conv2dShape& s, const float* w, const DirectUkernels& uk);

}  // namespace pcn::conv
