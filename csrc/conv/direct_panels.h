// The direct convolution (direct_conv.h) on small output maps, with threads splitting the
// output channels: each task computes one panel of output channels (the micro-kernel width,
// 32 with AVX-512) over a whole image, so the panel's packed weights are read from L2 for
// every tile of the image, and each panel's weights are read by one thread only.
//
// direct_conv_forward splits output rows and walks every panel for each row: on a 7x7 map
// with 512 -> 512 channels (9.4 MB of 3x3 weights) that reads all the weights from memory
// once per output row and edge column, 9 times per call, where this order reads them once.
// At batch 1 the rows of a 7x7 or 14x14 map are also too few to share between threads.
//
// Tiles, taps and sums are those of direct_conv_forward (positions along each output row
// for the interior columns, down each edge column otherwise), so each output is the same
// sum in the same order whichever thread computes it.
#pragma once
#include "common/shapes.h"
#include "conv/direct_ukernel.h"

namespace pcn::conv {

// packed: pack_direct_taps(s, w, uk); bias: s.oc floats or null.
void direct_conv_forward_panels(const Conv2dShape& s, const DirectUkernels& uk, const float* x,
                                const float* packed, const float* bias, float* y, bool relu);

}  // namespace pcn::conv
