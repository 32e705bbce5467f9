// AVX-512 SGD: the portable kernel's float32 operations (optim.h), 16 lanes at a time, with
// separate multiplies and adds and never FMA (this directory is built with -ffp-contract=off),
// so every element gets the same bits as on the portable kernel and the NumPy reference.
//
// The momentum variants are template parameters, as in the portable loop, so the inner loop is
// branch-free. Two 16-lane blocks per iteration: the update is a few multiply-adds per 8-16
// bytes moved, so on cache-resident parameters the limit is loads/stores per cycle and the
// second block hides the load latency; on large ones it is memory bandwidth either way. The
// tail (n % 32) is up to two blocks under lane masks (inactive lanes load 0, are never stored).
// GCC 12's AVX-512 intrinsics build their "undefined" pass-through vectors as `__m512 __Y = __Y`,
// which -Wmaybe-uninitialized reports at every inlined use (GCC bug 105593, fixed in GCC 13).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstdint>

#include "optim/optim.h"

namespace pcn::optim {
namespace {

// kMom: 0 = no momentum, 1 = first step (buf = d), 2 = later steps.
template <bool kWd, int kMom, bool kDamp, bool kNesterov>
void sgd_loop(float* p, const float* g, float* buf, int64_t n, const SgdHyper& h) {
  const __m512 lr = _mm512_set1_ps(h.lr);
  const __m512 wd = _mm512_set1_ps(h.weight_decay);
  const __m512 mom = _mm512_set1_ps(h.momentum);
  const __m512 damp_c = _mm512_set1_ps(h.one_minus_dampening);
  auto block = [&](int64_t i, __mmask16 k) {
    const __m512 pi = _mm512_maskz_loadu_ps(k, p + i);
    __m512 d = _mm512_maskz_loadu_ps(k, g + i);
    if (kWd) d = _mm512_add_ps(d, _mm512_mul_ps(pi, wd));
    if (kMom != 0) {
      __m512 b;
      if (kMom == 1) {
        b = d;
      } else {
        b = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, buf + i), mom);
        b = kDamp ? _mm512_add_ps(b, _mm512_mul_ps(d, damp_c)) : _mm512_add_ps(b, d);
      }
      _mm512_mask_storeu_ps(buf + i, k, b);
      d = kNesterov ? _mm512_add_ps(d, _mm512_mul_ps(b, mom)) : b;
    }
    _mm512_mask_storeu_ps(p + i, k, _mm512_sub_ps(pi, _mm512_mul_ps(d, lr)));
  };
  const __mmask16 all = static_cast<__mmask16>(0xFFFF);
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    block(i, all);
    block(i + 16, all);
  }
  if (i + 16 <= n) {
    block(i, all);
    i += 16;
  }
  if (i < n) block(i, static_cast<__mmask16>((1u << (n - i)) - 1u));
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

void sgd_avx512(float* p, const float* g, float* buf, int64_t n, const SgdHyper& h) {
  if (h.use_wd)
    sgd_dispatch<true>(p, g, buf, n, h);
  else
    sgd_dispatch<false>(p, g, buf, n, h);
}

}  // namespace

SgdKernel sgd_kernel_avx512() { return &sgd_avx512; }

}  // namespace pcn::optim
