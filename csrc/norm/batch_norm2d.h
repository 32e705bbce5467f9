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

// --- per-plane kernels (one (n, c) plane of hw elements, single-threaded), one table per tier.
// The ref table is the portable code; the avx512 one (batch_norm2d_avx512.cpp) sums each plane
// in its own fixed order (same bits for every thread count, not the same as ref) and gives the
// ref bits for the element-wise formulas given the same statistics.
struct PlaneKernels {
  double (*sum)(const float* p, int64_t hw);
  double (*sq_dev)(const float* p, int64_t hw, double mean);  // sum of (p - mean)^2
  // q = float((p - mean) * scale + shift)
  void (*affine)(const float* p, float* q, int64_t hw, double mean, double scale, double shift);
  // gsum = sum of g, dot = sum of g * (x - mean)
  void (*grad_sums)(const float* x, const float* g, int64_t hw, double mean, double& gsum,
                    double& dot);
  // dx = float(((g - gmean) - (x - mean) * k) * scale)
  void (*dx)(const float* x, const float* g, float* dx, int64_t hw, double mean, double gmean,
             double k, double scale);
};

const PlaneKernels& plane_kernels_ref();
#ifdef PCN_HAVE_AVX512
const PlaneKernels& plane_kernels_avx512();
#endif

}  // namespace pcn::norm
