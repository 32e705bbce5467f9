// Global max pooling (torch adaptive_max_pool2d to 1x1): y[n, c] = max of the (n, c) plane and
// the flat index of the first maximum (NaN counts as the maximum, as torch: the first NaN).
// Backward adds grad_y[n, c] at that index and zeros elsewhere.
#pragma once
#include <cstdint>

namespace pcn::pool {

void global_max_pool2d_forward(const float* x, float* y, int64_t* index, int64_t planes, int64_t hw);
void global_max_pool2d_backward(const float* grad_y, const int64_t* index, float* dx, int64_t planes,
                                int64_t hw);

}  // namespace pcn::pool
