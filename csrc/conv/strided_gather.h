// A strided 1x1 convolution reads every sh-th row and sw-th column of its input: copied
// once into a dense (n, c, oh, ow) map, it runs as the stride-1 case (PointwiseConv's GEMM,
// DirectPanels' flat tiles). Copies a quarter of the image for stride 2.
#pragma once
#include <cstdint>

#include "common/shapes.h"

namespace pcn::conv {

// g (n * s.c * s.oh * s.ow floats) = x[:, :, ::sh, ::sw] for n images of shape s. With
// bands > 1 (batch 1 only) thread t copies output rows of band t (threading.h), the rows it
// then computes; otherwise the threads split the channel planes.
void gather_strided(const Conv2dShape& s, int64_t n, const float* x, float* g, int64_t bands);

}  // namespace pcn::conv
