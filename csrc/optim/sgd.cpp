// SGD: the portable kernel, the ISA dispatcher (AVX-512 in sgd_avx512.cpp, see optim.h) and
// threading. The operation order is the contract of optim.h. The momentum variants are template
// parameters so each inner loop is branch-free.
#include "common/cpu_features.h"
#include "common/threading.h"
#include "optim/optim.h"

namespace pcn::optim {
namespace {

// kMom: 0 = no momentum, 1 = first step (buf = d), 2 = later steps.
template <bool kWd, int kMom, bool kDamp, bool kNesterov>
void sgd_loop(float* __restrict p, const float* __restrict g, float* __restrict buf, int64_t n,
              const SgdHyper& h) {
  const float lr = h.lr, wd = h.weight_decay, mom = h.momentum, damp_c = h.one_minus_dampening;
  for (int64_t i = 0; i < n; ++i) {
    const float pi = p[i];
    float d = g[i];
    if (kWd) d = d + pi * wd;
    if (kMom != 0) {
      float b;
      if (kMom == 1) {
        b = d;
      } else {
        b = buf[i] * mom;
        b = kDamp ? b + d * damp_c : b + d;
      }
      buf[i] = b;
      d = kNesterov ? d + b * mom : b;
    }
    p[i] = pi - d * lr;
  }
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

void sgd_ref(float* p, const float* g, float* buf, int64_t n, const SgdHyper& h) {
  if (h.use_wd)
    sgd_dispatch<true>(p, g, buf, n, h);
  else
    sgd_dispatch<false>(p, g, buf, n, h);
}

SgdKernel kernel_for([[maybe_unused]] Isa isa) {
#ifdef PCN_HAVE_AVX512
  if (isa == Isa::avx512) return sgd_kernel_avx512();
#endif
  return &sgd_ref;
}

}  // namespace

SgdKernel sgd_kernel_ref() { return &sgd_ref; }

void sgd_step(float* p, const float* g, float* buf, int64_t n, const SgdHyper& h) {
  const SgdKernel k = kernel_for(current_isa());
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    k(p + b, g + b, buf ? buf + b : nullptr, e - b, h);
  });
}

}  // namespace pcn::optim
