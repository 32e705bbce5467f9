// The argument checks of convolution and pooling geometry, written once for every entry point
// (the _C conv and pool functions and the serving network). Each throws std::invalid_argument
// (ValueError in Python) naming the offending argument.
#pragma once
#include "common/shapes.h"

namespace pcn {

// s holds the input (n, c, h, w), weight (oc, kh, kw), stride, padding, dilation and groups;
// checks them and sets oh, ow. The output and the im2col matrix must be allocatable.
void finish_conv_shape(Conv2dShape& s);

// s holds the input (n, c, h, w), output channels, kernel, stride, padding, output_padding,
// dilation and groups of a transposed convolution; checks them (PyTorch's rules, including
// output_padding < max(stride, dilation)) and sets oh, ow.
void finish_conv_transpose_shape(ConvTranspose2dShape& s);

// Pooling of (n, c, h, w) with window k, stride st and symmetric padding pad (PyTorch's rules:
// pad at most half the window, the window inside the padded input, a non-empty output).
// `what` names the input in messages ("x", "input_shape").
Pool2dShape make_pool_shape(int64_t n, int64_t c, int64_t h, int64_t w, int64_t kh, int64_t kw,
                            int64_t sh, int64_t sw, int64_t ph, int64_t pw, bool ceil_mode,
                            const char* what);

// The exponent of LP pooling: a finite number > 0.
void check_norm_type(double p);

}  // namespace pcn
