// Portable element-wise activations (the reference path; libm for exp/expm1/tanh).
#include <cmath>

#include "activation/activation.h"

namespace pcn::activation {
namespace {

void relu_fwd(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

void relu_bwd(const float* gy, const float* y, float* gx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) gx[i] = y[i] <= 0.0f ? 0.0f : gy[i];
}

void leaky_fwd(const float* x, float* y, int64_t n, float s) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : x[i] * s;
}

void leaky_bwd(const float* gy, const float* x, float* gx, int64_t n, float s) {
  for (int64_t i = 0; i < n; ++i) gx[i] = x[i] > 0.0f ? gy[i] : gy[i] * s;
}

void sigmoid_fwd(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float v = x[i];
    float e = std::exp(-std::fabs(v));  // in [0, 1]: never overflows
    y[i] = (v < 0.0f ? e : 1.0f) / (1.0f + e);
  }
}

void sigmoid_bwd(const float* gy, const float* y, float* gx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) gx[i] = gy[i] * (1.0f - y[i]) * y[i];
}

void tanh_fwd(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
}

void tanh_bwd(const float* gy, const float* y, float* gx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) gx[i] = gy[i] * (1.0f - y[i] * y[i]);
}

void elu_fwd(const float* x, float* y, int64_t n, float a) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] <= 0.0f ? a * std::expm1(x[i]) : x[i];
}

void elu_bwd(const float* gy, const float* x, float* gx, int64_t n, float a) {
  for (int64_t i = 0; i < n; ++i) gx[i] = x[i] <= 0.0f ? gy[i] * (a * std::exp(x[i])) : gy[i];
}

void exp_fwd(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
}

}  // namespace

const Kernels& kernels_ref() {
  static const Kernels k{relu_fwd,  relu_bwd, leaky_fwd, leaky_bwd, sigmoid_fwd, sigmoid_bwd,
                         tanh_fwd,  tanh_bwd, elu_fwd,   elu_bwd,   exp_fwd};
  return k;
}

}  // namespace pcn::activation
