// AVX-512 peak probe: 24 zmm chains (2 FMA pipes x 4-cycle latency needs 8; some cores
// pair two 256-bit pipes per zmm FMA, which this measures too).
#include <immintrin.h>

#include "probe/fma_peak.h"

namespace pcn::probe {
namespace {

constexpr int kChains = 24;

float chains_avx512(int64_t steps) {
  __m512 acc[kChains];
  const __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-7f);
#pragma GCC unroll 24
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(float(i + 1));
  for (int64_t s = 0; s < steps; ++s) {
#pragma GCC unroll 24
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], m, a);
  }
  __m512 sum = acc[0];
#pragma GCC unroll 24
  for (int i = 1; i < kChains; ++i) sum = _mm512_add_ps(sum, acc[i]);
  return _mm512_cvtss_f32(sum);
}

}  // namespace

FmaProbe fma_probe_avx512() { return {&chains_avx512, int64_t(kChains) * 16 * 2}; }

}  // namespace pcn::probe
