// Direct convolution for groups whose output channels each read one input channel
// (depthwise and channel-multiplier convolutions): a GEMM with one row per group would
// waste most of the micro-kernel.
#pragma once
#include "common/shapes.h"

namespace pcn::conv {

void depthwise_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                       float* y, bool relu);
// Any of dx, dw may be null. Both are overwritten.
void depthwise_backward(const Conv2dShape& s, const float* x, const float* w, const float* dy,
                        float* dx, float* dw);

#ifdef PCN_HAVE_AVX512
// One output plane (bias b0, weights wk of its channel, input plane xin), the same bits as the
// portable loop; false (nothing written) for kernels wider than it handles.
bool depthwise_plane_avx512(const Conv2dShape& s, const float* xin, const float* wk, float b0,
                            float* out, bool relu);
#endif

}  // namespace pcn::conv
