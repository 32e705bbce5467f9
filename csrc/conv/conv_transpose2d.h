// Transposed convolution (NCHW, weight (in_channels, out_channels / groups, kh, kw), PyTorch's
// layout), on the convolution kernels: its forward is the input gradient of the convolution
// with the same weight, its input gradient is that convolution's forward, and its weight
// gradient is the convolution's weight gradient with input and output gradient swapped.
#pragma once
#include "common/shapes.h"

namespace pcn::conv {

// The convolution whose input gradient is this transposed convolution: input (n, oc, oh', ow'),
// weight (c, oc / groups, kh, kw) read as OIHW, output (n, c, h, w). output_padding rows that no
// kernel tap reaches (oph > ph) are left out of it (oh' = oh - (oph - ph)); the others are
// reached through a smaller bottom/right padding (ph - oph).
Conv2dShape transposed_as_conv(const ConvTranspose2dShape& t);

// y = conv_transpose(x, w) + bias (optional); y has shape (n, oc, oh, ow).
void conv_transpose2d_forward(const ConvTranspose2dShape& t, const float* x, const float* w,
                              const float* bias, float* y);

// Gradients for the upstream gradient dy (n, oc, oh, ow). Any output pointer may be null (not
// wanted); the others are overwritten.
void conv_transpose2d_backward(const ConvTranspose2dShape& t, const float* x, const float* w,
                               const float* dy, float* dx, float* dw, float* db);

// Whether the kernel tiles the output (kernel == stride, no padding, dilation or
// output_padding), and the weight gradient for that case (conv_transpose2d_tiled.cpp): dw is
// overwritten; t.n > 0.
bool output_tiled_by_kernel(const ConvTranspose2dShape& t);
void conv_transpose2d_grad_weight_tiled(const ConvTranspose2dShape& t, const float* x, const float* dy,
                                        float* dw);

}  // namespace pcn::conv
