// Dropout: parameters, portable kernel, dispatch and threading.
#include "dropout/dropout.h"

#include <cassert>
#include <cmath>

#include "common/cpu_features.h"
#include "common/rng.h"
#include "common/threading.h"

namespace pcn::dropout {

Params make_params(double p, uint64_t seed) {
  Params prm;
  prm.key = rng_key(seed);
  double t = std::nearbyint(p * 4294967296.0);
  if (!(t > 0.0)) t = 0.0;
  if (t > 4294967295.0) t = 4294967295.0;
  prm.threshold = static_cast<uint32_t>(t);
  prm.scale = p < 1.0 ? static_cast<float>(1.0 / (1.0 - p)) : 0.0f;
  return prm;
}

namespace {

void apply_ref(const float* x, float* y, int64_t n, uint64_t base, const Params& prm) {
  for (int64_t i = 0; i < n; ++i) {
    float m = rng_bits(prm.key, base + static_cast<uint64_t>(i)) >= prm.threshold ? prm.scale : 0.0f;
    y[i] = x[i] * m;
  }
}

// Elements per parallel chunk (a multiple of 8: the SIMD kernels assume base % 8 == 0).
constexpr int64_t kGrain = 16384;

Kernel kernel_for([[maybe_unused]] Isa isa) {
#ifdef PCN_HAVE_AVX512
  if (isa == Isa::avx512) return kernel_avx512();
#endif
#ifdef PCN_HAVE_AVX2
  if (isa >= Isa::avx2) return kernel_avx2();
#endif
  return &apply_ref;
}

}  // namespace

Kernel kernel_ref() { return &apply_ref; }

void dropout_apply(const float* x, float* y, int64_t n, double p, uint64_t seed) {
  assert(p >= 0.0 && p <= 1.0);
  const Params prm = make_params(p, seed);
  const Kernel k = kernel_for(current_isa());
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    k(x + b, y + b, e - b, static_cast<uint64_t>(b), prm);
  });
}

}  // namespace pcn::dropout
