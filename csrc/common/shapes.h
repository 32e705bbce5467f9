// Output-size rules shared by convolution and pooling (one place, PyTorch semantics).
#pragma once
#include <cstdint>

#include "common/check.h"

namespace pcn {

// O = floor((I + pad_begin + pad_end - D*(K-1) - 1) / S) + 1, or ceil with ceil_mode,
// where in ceil mode the last window must start inside the input or the left padding.
inline int64_t window_output_size(int64_t in, int64_t k, int64_t s, int64_t pad_begin,
                                  int64_t pad_end, int64_t d, bool ceil_mode) {
  int64_t extent = d * (k - 1) + 1;
  int64_t span = in + pad_begin + pad_end - extent;
  if (span < 0) return 0;
  int64_t out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
  if (ceil_mode && (out - 1) * s >= in + pad_begin) --out;
  return out;
}

struct Conv2dShape {
  int64_t n, c, h, w;        // input
  int64_t oc, kh, kw;        // weight (oc, c/groups, kh, kw)
  int64_t sh, sw;            // stride
  int64_t pt, pl, pb, pr;    // padding top/left/bottom/right
  int64_t dh, dw;            // dilation
  int64_t groups;
  int64_t oh, ow;            // output
  int64_t cg() const { return c / groups; }      // input channels per group
  int64_t ocg() const { return oc / groups; }    // output channels per group
  int64_t kdim() const { return cg() * kh * kw; }  // GEMM K per group
};

// A transposed convolution: input (n, c, h, w), weight (c, oc / groups, kh, kw), output
// (n, oc, oh, ow) with oh = (h - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1 (PyTorch's rule).
// It is the input gradient of the convolution with the same weight, stride, padding and
// dilation; output_padding (oph, opw) adds rows and columns at the bottom and right.
struct ConvTranspose2dShape {
  int64_t n, c, h, w;        // input
  int64_t oc, kh, kw;        // output channels, kernel
  int64_t sh, sw;            // stride
  int64_t ph, pw;            // padding (both sides)
  int64_t oph, opw;          // output_padding (bottom, right)
  int64_t dh, dw;            // dilation
  int64_t groups;
  int64_t oh, ow;            // output
};

struct Pool2dShape {
  int64_t n, c, h, w;
  int64_t kh, kw, sh, sw, ph, pw;
  bool ceil_mode;
  int64_t oh, ow;
};

}  // namespace pcn
