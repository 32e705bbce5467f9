// Dispatch and threading for the element-wise activations.
#include "activation/activation.h"

#include "common/cpu_features.h"
#include "common/threading.h"

namespace pcn::activation {

const Kernels& kernels() {
  [[maybe_unused]] const Isa isa = current_isa();
#ifdef PCN_HAVE_AVX512
  if (isa == Isa::avx512) return kernels_avx512();
#endif
#ifdef PCN_HAVE_AVX2
  if (isa >= Isa::avx2) return kernels_avx2();
#endif
  return kernels_ref();
}

namespace {

// fn(offset, count) over chunks of kGrain elements.
template <class F>
void chunks(int64_t n, F&& fn) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) { fn(b, e - b); });
}

}  // namespace

void relu_forward(const float* x, float* y, int64_t n) {
  auto k = kernels().relu_forward;
  chunks(n, [&](int64_t o, int64_t c) { k(x + o, y + o, c); });
}

void relu_backward(const float* gy, const float* y, float* gx, int64_t n) {
  auto k = kernels().relu_backward;
  chunks(n, [&](int64_t o, int64_t c) { k(gy + o, y + o, gx + o, c); });
}

void leaky_relu_forward(const float* x, float* y, int64_t n, float slope) {
  auto k = kernels().leaky_relu_forward;
  chunks(n, [&](int64_t o, int64_t c) { k(x + o, y + o, c, slope); });
}

void leaky_relu_backward(const float* gy, const float* x, float* gx, int64_t n, float slope) {
  auto k = kernels().leaky_relu_backward;
  chunks(n, [&](int64_t o, int64_t c) { k(gy + o, x + o, gx + o, c, slope); });
}

void sigmoid_forward(const float* x, float* y, int64_t n) {
  auto k = kernels().sigmoid_forward;
  chunks(n, [&](int64_t o, int64_t c) { k(x + o, y + o, c); });
}

void sigmoid_backward(const float* gy, const float* y, float* gx, int64_t n) {
  auto k = kernels().sigmoid_backward;
  chunks(n, [&](int64_t o, int64_t c) { k(gy + o, y + o, gx + o, c); });
}

void tanh_forward(const float* x, float* y, int64_t n) {
  auto k = kernels().tanh_forward;
  chunks(n, [&](int64_t o, int64_t c) { k(x + o, y + o, c); });
}

void tanh_backward(const float* gy, const float* y, float* gx, int64_t n) {
  auto k = kernels().tanh_backward;
  chunks(n, [&](int64_t o, int64_t c) { k(gy + o, y + o, gx + o, c); });
}

void elu_forward(const float* x, float* y, int64_t n, float alpha) {
  auto k = kernels().elu_forward;
  chunks(n, [&](int64_t o, int64_t c) { k(x + o, y + o, c, alpha); });
}

void elu_backward(const float* gy, const float* x, float* gx, int64_t n, float alpha) {
  auto k = kernels().elu_backward;
  chunks(n, [&](int64_t o, int64_t c) { k(gy + o, x + o, gx + o, c, alpha); });
}

}  // namespace pcn::activation
