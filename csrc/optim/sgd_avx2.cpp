// AVX2 SGD: the portable kernel's float32 operations (optim.h), 8 lanes at a time, separate
// multiplies and adds (built with -ffp-contract=off). The < 8-element tail runs the portable kernel.
#include <immintrin.h>

#include <cstdint>

#include "optim/optim.h"

namespace pcn::optim {
namespace {

// kMom: 0 = no momentum, 1 = first step (buf = d), 2 = later steps.
template <bool kWd, int kMom, bool kDamp, bool kNesterov>
void sgd_loop(float* p, const float* g, float* buf, int64_t n, const SgdHyper& h) {
  const __m256 lr = _mm256_set1_ps(h.lr);
  const __m256 wd = _mm256_set1_ps(h.weight_decay);
  const __m256 mom = _mm256_set1_ps(h.momentum);
  const __m256 damp_c = _mm256_set1_ps(h.one_minus_dampening);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 pi = _mm256_loadu_ps(p + i);
    __m256 d = _mm256_loadu_ps(g + i);
    if (kWd) d = _mm256_add_ps(d, _mm256_mul_ps(pi, wd));
    if (kMom != 0) {
      __m256 b;
      if (kMom == 1) {
        b = d;
      } else {
        b = _mm256_mul_ps(_mm256_loadu_ps(buf + i), mom);
        b = kDamp ? _mm256_add_ps(b, _mm256_mul_ps(d, damp_c)) : _mm256_add_ps(b, d);
      }
      _mm256_storeu_ps(buf + i, b);
      d = kNesterov ? _mm256_add_ps(d, _mm256_mul_ps(b, mom)) : b;
    }
    _mm256_storeu_ps(p + i, _mm256_sub_ps(pi, _mm256_mul_ps(d, lr)));
  }
  if (i < n) sgd_kernel_ref()(p + i, g + i, kMom != 0 ? buf + i : buf, n - i, h);
}

template <bool kWd>
void sgd_dispatch(float* p, const float* g, float* buf, int64_t n, const SgdHyper& h) {
  if (!h.use_momentum) return sgd_loop<kWd, 0, false, false>(p, g, buf, n, h);
  if (h.first) {
    if (h.nesterov) return sgd_loop<kWd, 1, false, true>(p, g, buf, n, h);
    return sgd_loop<kWd, 1, false, false>(p, g, buf, n, h);
  }
  if (h.use_dampening) {
    if (h.nesterov) return sgd_loop<kWd, 2, true, true>(p, g, buf, n, h);
    return sgd_loop<kWd, 2, true, false>(p, g, buf, n, h);
  }
  if (h.nesterov) return sgd_loop<kWd, 2, false, true>(p, g, buf, n, h);
  return sgd_loop<kWd, 2, false, false>(p, g, buf, n, h);
}

void sgd_avx2(float* p, const float* g, float* buf, int64_t n, const SgdHyper& h) {
  if (h.use_wd)
    sgd_dispatch<true>(p, g, buf, n, h);
  else
    sgd_dispatch<false>(p, g, buf, n, h);
}

}  // namespace

SgdKernel sgd_kernel_avx2() { return &sgd_avx2; }

}  // namespace pcn::optim
