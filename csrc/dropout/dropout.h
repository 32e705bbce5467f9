// Inverted dropout with a counter-based mask (no mask is stored).
//
// For element i (its flat index in the whole array) with key = rng_key(seed):
//   kept(i) = rng_bits(key, i) >= threshold,  threshold = min(round(p * 2^32), 2^32 - 1)
//   y[i]    = x[i] * (kept(i) ? scale : 0),   scale = float(1 / (1 - p)) (rounded once from double)
// so P(kept) = 1 - threshold / 2^32, within 2^-33 of 1 - p. p == 1 uses scale = 0 (y = x * 0,
// zeros for finite x; NaN/inf stay NaN exactly as PyTorch's input * mask); p == 0 keeps every
// element with scale 1. Dropped elements are x * 0 (so -x gives -0 and NaN stays NaN, like
// PyTorch, which multiplies by the mask). Backward is the same map applied to grad_y.
// Every ISA path computes the same integer hash, so masks and outputs are bit-identical across
// ISAs and thread counts.
#pragma once
#include <cstdint>

namespace pcn::dropout {

struct Params {
  uint64_t key;
  uint32_t threshold;
  float scale;
};

Params make_params(double p, uint64_t seed);

// Raw kernel over elements [base, base + n) of the array (x, y point at element `base`);
// base must be a multiple of 8.
using Kernel = void (*)(const float* x, float* y, int64_t n, uint64_t base, const Params& prm);

Kernel kernel_ref();
#ifdef PCN_HAVE_AVX2
Kernel kernel_avx2();
#endif
#ifdef PCN_HAVE_AVX512
Kernel kernel_avx512();
#endif

// Threaded, dispatching: y = x * mask(seed) * scale, for p in [0, 1]. y may alias x.
void dropout_apply(const float* x, float* y, int64_t n, double p, uint64_t seed);

}  // namespace pcn::dropout
