// The three gradients of a convolution, one file each; conv2d_backward.cpp dispatches.
// Every reduction runs in a fixed order (images in order, KC blocks in order), and threads
// split only independent outputs, so the gradients are the same bits for any thread count.
#pragma once
#include "conv/conv2d.h"

namespace pcn::conv {

// `algo` is the plan's choice for the pass (conv_plan.h: grad_input, grad_weight), not depthwise.
void conv2d_grad_input(const Conv2dShape& s, Algo algo, const float* w, const float* dy, float* dx);
void conv2d_grad_weight(const Conv2dShape& s, Algo algo, const float* x, const float* dy, float* dw);
void conv2d_grad_bias(const Conv2dShape& s, const float* dy, float* db);

}  // namespace pcn::conv
