// Adam/AdamW: portable kernel, dispatch and threading. The operation order is the contract of
// optim.h; the AVX2 and AVX-512 kernels (adam_avx2.cpp, adam_avx512.cpp) mirror it lane by
// lane.
#include <cmath>

#include "common/cpu_features.h"
#include "common/threading.h"
#include "optim/optim.h"

namespace pcn::optim {
namespace {

template <bool kDecay, bool kL2>
void adam_loop(float* __restrict p, const float* __restrict g, float* __restrict m,
               float* __restrict v, int64_t n, const AdamHyper& h) {
  const float b1c = h.one_minus_beta1, b2 = h.beta2, b2c = h.one_minus_beta2;
  const float bc2 = h.bc2_sqrt, eps = h.eps, nstep = h.neg_step_size;
  const float l2 = h.l2, decay = h.decay;
  for (int64_t i = 0; i < n; ++i) {
    float pi = p[i];
    if (kDecay) pi = pi * decay;
    float gi = g[i];
    if (kL2) gi = gi + pi * l2;
    float mi = m[i];
    mi = mi + (gi - mi) * b1c;
    float vi = v[i] * b2;
    vi = vi + (gi * b2c) * gi;
    const float denom = std::sqrt(vi) / bc2 + eps;
    pi = pi + (mi / denom) * nstep;
    p[i] = pi;
    m[i] = mi;
    v[i] = vi;
  }
}

void adam_ref(float* p, const float* g, float* m, float* v, int64_t n, const AdamHyper& h) {
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

AdamKernel kernel_for([[maybe_unused]] Isa isa) {
#ifdef PCN_HAVE_AVX512
  if (isa == Isa::avx512) return adam_kernel_avx512();
#endif
#ifdef PCN_HAVE_AVX2
  if (isa >= Isa::avx2) return adam_kernel_avx2();
#endif
  return &adam_ref;
}

}  // namespace

AdamKernel adam_kernel_ref() { return &adam_ref; }

void adam_step(float* p, const float* g, float* m, float* v, int64_t n, const AdamHyper& h) {
  const AdamKernel k = kernel_for(current_isa());
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) { k(p + b, g + b, m + b, v + b, e - b, h); });
}

}  // namespace pcn::optim
