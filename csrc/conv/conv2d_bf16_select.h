// When the bfloat16 convolution (conv2d_bf16.h) replaces the float32 kernels of bf16 serving.
#pragma once
#include "common/shapes.h"

namespace pcn::conv {

bool bf16_conv_pays(const Conv2dShape& s);

}  // namespace pcn::conv
