// BatchNorm2d kernels (NCHW float32). Statistics are per channel over (N, H, W), summed in
// double in a fixed order (n, then h*w) by the one thread that owns the channel, so every
// result is bit-identical for any thread count. Kernels trust their arguments.
#pragma once
#include <cstdint>

namespace pcn::norm {

struct BatchNormShape {
  int64_t n, c, hw;  // x is (n, c, hw); count per channel = n * hw
};

// Training: batch mean, 1/sqrt(biased var + eps) and the unbiased variance (count >= 2);
// y = (x - mean) * invstd * weight + bias. weight / bias may be null (1 / 0).
void batch_norm2d_forward_train(const float* x, const float* weight, const float* bias, float* y,
                                float* mean, float* invstd, float* var_unbiased,
                                const BatchNormShape& s, double eps);

// Inference with the running statistics.
void batch_norm2d_forward_eval(const float* x, const float* weight, const float* bias,
                               const float* running_mean, const float* running_var, float* y,
                               const BatchNormShape& s, double eps);

// Backward of the training forward (batch statistics): dx, dweight = sum(g * xhat),
// dbias = sum(g). weight may be null (1).
void batch_norm2d_backward(const float* x, const float* grad_y, const float* weight,
                           const float* mean, const float* invstd, float* dx, float* dweight,
                           float* dbias, const BatchNormShape& s);

}  // namespace pcn::norm
