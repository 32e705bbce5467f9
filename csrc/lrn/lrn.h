// Local response normalisation across channels (torch.nn.LocalResponseNorm), NCHW float32.
//
//   s[n, c, p] = k + (alpha / size) * sum_{c' = c - size/2}^{c + (size-1)/2} x[n, c', p]^2
//   y[n, c, p] = x[n, c, p] * s[n, c, p]^(-beta)
// Channels outside [0, C) count as zeros (torch pads the squared input with zeros), and the
// divisor is always `size`. The window sum runs over c' in increasing order, in double, so every
// tier and thread count gives the same bits.
//
// Backward (t = grad_y * y / s):
//   dx[c] = grad_y[c] * s[c]^(-beta)
//           - (2 * alpha * beta / size) * x[c] * sum_{c'' : c in window(c'')} t[c'']
// where window(c'') contains c when c'' lies in [c - (size-1)/2, c + size/2].
#pragma once
#include <cstdint>

namespace pcn::lrn {

struct LrnShape {
  int64_t n, c, hw;  // batch, channels, pixels per plane
  int64_t size;      // channels in the window (>= 1)
  float alpha, beta, k;
};

// y and s (the per-element divisor base, kept for backward; may be null when not needed).
void lrn_forward(const float* x, float* y, float* s, const LrnShape& sh);
// dx from x, y, s of the forward and grad_y.
void lrn_backward(const float* x, const float* y, const float* s, const float* grad_y, float* dx,
                  const LrnShape& sh);

}  // namespace pcn::lrn
