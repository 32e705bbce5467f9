// AVX2/FMA peak probe: 12 ymm chains (Zen 1: 2 FMA pipes x 5 cycles needs 10; Intel: 2 x 4).
#include <immintrin.h>

#include "probe/fma_peak.h"

namespace pcn::probe {
namespace {

constexpr int kChains = 12;

float chains_avx2(int64_t steps) {
  __m256 acc[kChains];
  const __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
#pragma GCC unroll 12
  for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_ps(float(i + 1));
  for (int64_t s = 0; s < steps; ++s) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) acc[i] = _mm256_fmadd_ps(acc[i], m, a);
  }
  __m256 sum = acc[0];
#pragma GCC unroll 12
  for (int i = 1; i < kChains; ++i) sum = _mm256_add_ps(sum, acc[i]);
  return _mm_cvtss_f32(_mm256_castps256_ps128(sum));
}

}  // namespace

FmaProbe fma_probe_avx2() { return {&chains_avx2, int64_t(kChains) * 8 * 2}; }

}  // namespace pcn::probe
