// Element-wise activations (PyTorch semantics), forward and backward, on contiguous float32.
//
// Every function takes n contiguous elements; outputs may alias inputs. The public entry points
// below pick the ISA variant (current_isa()) and split the range across threads in chunks of
// kGrain elements (a multiple of 16, so SIMD tails occur only at the very end of the array). Each
// element's result depends only on its own inputs, so results are identical for any thread count.
//
// Definitions (NaN in, NaN out unless stated):
//   relu(x)           = x < 0 ? 0 : x                      (relu(-0) = -0 as torch)
//   relu'(gy, y)      = y <= 0 ? 0 : gy                    (derivative 0 at 0; NaN y passes gy)
//   leaky(x, s)       = x > 0 ? x : x * s
//   leaky'(gy, x, s)  = x > 0 ? gy : gy * s                (derivative s at 0)
//   sigmoid(x)        = (x < 0 ? e : 1) / (1 + e),  e = exp(-|x|)   (no overflow for any x)
//   sigmoid'(gy, y)   = gy * (1 - y) * y
//   tanh(x)           = sign(x) * (-t / (2 + t)),  t = expm1(-2|x|)  (AVX2/512; ref: std::tanh)
//   tanh'(gy, y)      = gy * (1 - y * y)
//   elu(x, a)         = x <= 0 ? a * expm1(x) : x
//   elu'(gy, x, a)    = x <= 0 ? gy * (a * exp(x)) : gy    (derivative a at 0)
#pragma once
#include <cstdint>

namespace pcn::activation {

// One table per ISA. Raw kernels: single-threaded, any n >= 0, any alignment.
struct Kernels {
  using ExpFn = void (*)(const float* x, float* y, int64_t n);
  void (*relu_forward)(const float* x, float* y, int64_t n);
  void (*relu_backward)(const float* gy, const float* y, float* gx, int64_t n);
  void (*leaky_relu_forward)(const float* x, float* y, int64_t n, float slope);
  void (*leaky_relu_backward)(const float* gy, const float* x, float* gx, int64_t n, float slope);
  void (*sigmoid_forward)(const float* x, float* y, int64_t n);
  void (*sigmoid_backward)(const float* gy, const float* y, float* gx, int64_t n);
  void (*tanh_forward)(const float* x, float* y, int64_t n);
  void (*tanh_backward)(const float* gy, const float* y, float* gx, int64_t n);
  void (*elu_forward)(const float* x, float* y, int64_t n, float alpha);
  void (*elu_backward)(const float* gy, const float* x, float* gx, int64_t n, float alpha);
  // y[i] = exp(x[i]) (used by the softmax family for its row kernels).
  void (*exp)(const float* x, float* y, int64_t n);
};

const Kernels& kernels_ref();
#ifdef PCN_HAVE_AVX2
const Kernels& kernels_avx2();
#endif
#ifdef PCN_HAVE_AVX512
const Kernels& kernels_avx512();
#endif
// The table for current_isa().
const Kernels& kernels();

// Elements per parallel chunk (multiple of 16).
constexpr int64_t kGrain = 16384;

// Threaded, dispatching entry points.
void relu_forward(const float* x, float* y, int64_t n);
void relu_backward(const float* gy, const float* y, float* gx, int64_t n);
void leaky_relu_forward(const float* x, float* y, int64_t n, float slope);
void leaky_relu_backward(const float* gy, const float* x, float* gx, int64_t n, float slope);
void sigmoid_forward(const float* x, float* y, int64_t n);
void sigmoid_backward(const float* gy, const float* y, float* gx, int64_t n);
void tanh_forward(const float* x, float* y, int64_t n);
void tanh_backward(const float* gy, const float* y, float* gx, int64_t n);
void elu_forward(const float* x, float* y, int64_t n, float alpha);
void elu_backward(const float* gy, const float* x, float* gx, int64_t n, float alpha);

}  // namespace pcn::activation
