// AVX-512 Adam/AdamW: the portable kernel's float32 operations (optim.h), 16 lanes at a time.
// Separate multiplies and adds, never FMA (this directory is built with -ffp-contract=off, so
// GCC does not fuse _mm512_mul_ps + _mm512_add_ps either); sqrt and div are correctly rounded,
// so every element gets the same bits as on the portable and AVX2 kernels.
//
// One 16-lane block per iteration: the step is bound by its vsqrtps and two vdivps, not by
// latency chains between elements, so unrolling buys nothing. The tail (n % 16) is the same
// block under a lane mask (inactive lanes load 0, compute a harmless value and are not stored).
// GCC 12's AVX-512 intrinsics build their "undefined" pass-through vectors as `__m512 __Y = __Y`,
// which -Wmaybe-uninitialized reports at every inlined use (GCC bug 105593, fixed in GCC 13).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstdint>

#include "optim/optim.h"

namespace pcn::optim {
namespace {

template <bool kDecay, bool kL2>
void adam_loop(float* p, const float* g, float* m, float* v, int64_t n, const AdamHyper& h) {
  const __m512 b1c = _mm512_set1_ps(h.one_minus_beta1);
  const __m512 b2 = _mm512_set1_ps(h.beta2);
  const __m512 b2c = _mm512_set1_ps(h.one_minus_beta2);
  const __m512 bc2 = _mm512_set1_ps(h.bc2_sqrt);
  const __m512 eps = _mm512_set1_ps(h.eps);
  const __m512 nstep = _mm512_set1_ps(h.neg_step_size);
  const __m512 l2 = _mm512_set1_ps(h.l2);
  const __m512 decay = _mm512_set1_ps(h.decay);
  // One block of lanes `k` at element i.
  auto block = [&](int64_t i, __mmask16 k) {
    __m512 pi = _mm512_maskz_loadu_ps(k, p + i);
    if (kDecay) pi = _mm512_mul_ps(pi, decay);
    __m512 gi = _mm512_maskz_loadu_ps(k, g + i);
    if (kL2) gi = _mm512_add_ps(gi, _mm512_mul_ps(pi, l2));
    __m512 mi = _mm512_maskz_loadu_ps(k, m + i);
    mi = _mm512_add_ps(mi, _mm512_mul_ps(_mm512_sub_ps(gi, mi), b1c));
    __m512 vi = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, v + i), b2);
    vi = _mm512_add_ps(vi, _mm512_mul_ps(_mm512_mul_ps(gi, b2c), gi));
    const __m512 denom = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(vi), bc2), eps);
    pi = _mm512_add_ps(pi, _mm512_mul_ps(_mm512_div_ps(mi, denom), nstep));
    _mm512_mask_storeu_ps(p + i, k, pi);
    _mm512_mask_storeu_ps(m + i, k, mi);
    _mm512_mask_storeu_ps(v + i, k, vi);
  };
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) block(i, static_cast<__mmask16>(0xFFFF));
  if (i < n) block(i, static_cast<__mmask16>((1u << (n - i)) - 1u));
}

void adam_avx512(float* p, const float* g, float* m, float* v, int64_t n, const AdamHyper& h) {
  if (h.use_decay) {
    if (h.use_l2)
      adam_loop<true, true>(p, g, m, v, n, h);
    else
      adam_loop<true, false>(p, g, m, v, n, h);
  } else {
    if (h.use_l2)
      adam_loop<false, true>(p, g, m, v, n, h);
    else
      adam_loop<false, false>(p, g, m, v, n, h);
  }
}

}  // namespace

AdamKernel adam_kernel_avx512() { return &adam_avx512; }

}  // namespace pcn::optim
