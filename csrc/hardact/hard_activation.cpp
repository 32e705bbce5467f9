// Portable loops written so the compiler vectorises them (selects, no branches); the split is
// into fixed chunks of independent elements.
#include "hardact/hard_activation.h"

#include "common/threading.h"

namespace pcn::hardact {
namespace {

constexpr int64_t kGrain = 16384;

template <class F>
void chunks(int64_t n, F&& fn) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) fn(i);
  });
}

}  // namespace

void hardtanh_forward(const float* x, float* y, int64_t n, float lo, float hi) {
  chunks(n, [&](int64_t i) {
    const float v = x[i];
    y[i] = v < lo ? lo : (v > hi ? hi : v);
  });
}

void hardtanh_backward(const float* gy, const float* x, float* gx, int64_t n, float lo, float hi) {
  chunks(n, [&](int64_t i) {
    const float v = x[i];
    gx[i] = (v <= lo || v >= hi) ? 0.0f : gy[i];
  });
}

void hardswish_forward(const float* x, float* y, int64_t n) {
  chunks(n, [&](int64_t i) {
    const float v = x[i];
    float r = v + 3.0f;
    r = r < 0.0f ? 0.0f : (r > 6.0f ? 6.0f : r);
    y[i] = v * r / 6.0f;
  });
}

void hardswish_backward(const float* gy, const float* x, float* gx, int64_t n) {
  chunks(n, [&](int64_t i) {
    const float v = x[i];
    gx[i] = v < -3.0f ? 0.0f : (v <= 3.0f ? gy[i] * (v / 3.0f + 0.5f) : gy[i]);
  });
}

}  // namespace pcn::hardact
