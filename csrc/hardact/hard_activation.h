// Piecewise-linear activations with PyTorch's semantics (NaN in, NaN out):
//   hardtanh(x, lo, hi)   = x < lo ? lo : (x > hi ? hi : x)    (ReLU6 is hardtanh(x, 0, 6))
//   hardtanh'(g, x)       = (x <= lo || x >= hi) ? 0 : g         (torch's hardtanh_backward)
//   hardswish(x)          = x * min(max(x + 3, 0), 6) / 6
//   hardswish'(g, x)      = x < -3 ? 0 : (x <= 3 ? g * (x / 3 + 0.5) : g)
// Element-wise, so the thread split cannot change any result.
#pragma once
#include <cstdint>

namespace pcn::hardact {

void hardtanh_forward(const float* x, float* y, int64_t n, float lo, float hi);
void hardtanh_backward(const float* gy, const float* x, float* gx, int64_t n, float lo, float hi);
void hardswish_forward(const float* x, float* y, int64_t n);
void hardswish_backward(const float* gy, const float* x, float* gx, int64_t n);

}  // namespace pcn::hardact
