// AVX2 Adam/AdamW: the portable kernel's float32 operations (optim.h), 8 lanes at a time.
// Separate multiplies and adds, never FMA: this file is built with -ffp-contract=off so GCC does
// not fuse _mm256_mul_ps + _mm256_add_ps either. sqrt and div are correctly rounded in both
// paths, so the bits match the portable kernel. The < 8-element tail runs the portable kernel.
#include <immintrin.h>

#include <cstdint>

#include "optim/optim.h"

namespace pcn::optim {
namespace {

template <bool kDecay, bool kL2>
void adam_loop(float* p, const float* g, float* m, float* v, int64_t n, const AdamHyper& h) {
  const __m256 b1c = _mm256_set1_ps(h.one_minus_beta1);
  const __m256 b2 = _mm256_set1_ps(h.beta2);
  const __m256 b2c = _mm256_set1_ps(h.one_minus_beta2);
  const __m256 bc2 = _mm256_set1_ps(h.bc2_sqrt);
  const __m256 eps = _mm256_set1_ps(h.eps);
  const __m256 nstep = _mm256_set1_ps(h.neg_step_size);
  const __m256 l2 = _mm256_set1_ps(h.l2);
  const __m256 decay = _mm256_set1_ps(h.decay);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 pi = _mm256_loadu_ps(p + i);
    if (kDecay) pi = _mm256_mul_ps(pi, decay);
    __m256 gi = _mm256_loadu_ps(g + i);
    if (kL2) gi = _mm256_add_ps(gi, _mm256_mul_ps(pi, l2));
    __m256 mi = _mm256_loadu_ps(m + i);
    mi = _mm256_add_ps(mi, _mm256_mul_ps(_mm256_sub_ps(gi, mi), b1c));
    __m256 vi = _mm256_mul_ps(_mm256_loadu_ps(v + i), b2);
    vi = _mm256_add_ps(vi, _mm256_mul_ps(_mm256_mul_ps(gi, b2c), gi));
    const __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vi), bc2), eps);
    pi = _mm256_add_ps(pi, _mm256_mul_ps(_mm256_div_ps(mi, denom), nstep));
    _mm256_storeu_ps(p + i, pi);
    _mm256_storeu_ps(m + i, mi);
    _mm256_storeu_ps(v + i, vi);
  }
  if (i < n) adam_kernel_ref()(p + i, g + i, m + i, v + i, n - i, h);
}

void adam_avx2(float* p, const float* g, float* m, float* v, int64_t n, const AdamHyper& h) {
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

AdamKernel adam_kernel_avx2() { return &adam_avx2; }

}  // namespace pcn::optim
