// Fully connected layer: y = x W^T + b, x (n, in), W (out, in) (PyTorch layout).
#pragma once
#include <cstdint>

namespace pcn::linear {

void linear_forward(int64_t n, int64_t in, int64_t out, const float* x, const float* w,
                    const float* bias, float* y, bool relu);
// Any of dx, dw, db may be null; all are overwritten.
void linear_backward(int64_t n, int64_t in, int64_t out, const float* x, const float* w,
                     const float* dy, float* dx, float* dw, float* db);

}  // namespace pcn::linear
