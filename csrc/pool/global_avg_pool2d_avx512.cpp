// AVX-512 global average pooling: the portable kernel's sums (global_avg_pool2d.cpp), bit for
// bit, several planes at a time.
//
// The portable order per plane is fixed: eight float lanes accumulate x[i + j] over each block
// of 256 elements, the lanes are added in double (lane 0 first, from 0.0), then the block's
// leftover elements, and the block sums are added in double. That is one serial chain of float
// adds per lane (hw / 8 links), so a single plane runs at one 32-byte add per add latency,
// below what the caches deliver. This kernel keeps each plane's order and runs eight planes'
// chains side by side: a zmm holds two planes' eight lanes (low half plane 2k, high half plane
// 2k + 1), four zmm accumulators cover eight planes. Fewer planes (the end of a thread's range)
// take the same code with the missing planes' pointers repeating the last one (their sums are
// computed and dropped), so a plane's bits never depend on its group.
// Measured on Zen 5, one thread, against the portable kernel: 1.5-1.6x on cache-resident input
// (4x64x16x16), ~1.15x on 7x7 planes (64x512x7x7), equal once the input streams from L3 or DRAM
// (64x64x32x32, ~68 GB/s both; benchmarks/compare_isa_misc.py --only gap).
// GCC 12's AVX-512 intrinsics build their "undefined" pass-through vectors as `__m512 __Y = __Y`,
// which -Wmaybe-uninitialized reports at every inlined use (GCC bug 105593, fixed in GCC 13).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstdint>

#include "pool/pool.h"

namespace pcn::pool {
namespace {

constexpr int kPlanes = 8;  // per group: four zmm of two planes each
constexpr int64_t kBlock = 256;

inline __m512 load_pair(const float* a, const float* b) {
  return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(a)), _mm256_loadu_ps(b), 1);
}

// Means of the planes at xs[0..kPlanes) into out[0..count).
void group_means(const float* const* xs, float* out, int count, int64_t hw) {
  double total[kPlanes] = {0, 0, 0, 0, 0, 0, 0, 0};
  alignas(64) float lanes[kPlanes * 8];
  int64_t i = 0;
  while (i < hw) {
    const int64_t end = hw - i < kBlock ? hw : i + kBlock;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
    for (; i + 8 <= end; i += 8) {
      a0 = _mm512_add_ps(a0, load_pair(xs[0] + i, xs[1] + i));
      a1 = _mm512_add_ps(a1, load_pair(xs[2] + i, xs[3] + i));
      a2 = _mm512_add_ps(a2, load_pair(xs[4] + i, xs[5] + i));
      a3 = _mm512_add_ps(a3, load_pair(xs[6] + i, xs[7] + i));
    }
    _mm512_store_ps(lanes, a0);
    _mm512_store_ps(lanes + 16, a1);
    _mm512_store_ps(lanes + 32, a2);
    _mm512_store_ps(lanes + 48, a3);
    for (int p = 0; p < kPlanes; ++p) {
      double block = 0.0;
      for (int j = 0; j < 8; ++j) block += static_cast<double>(lanes[p * 8 + j]);
      for (int64_t t = i; t < end; ++t) block += static_cast<double>(xs[p][t]);
      total[p] += block;
    }
    i = end;
  }
  for (int p = 0; p < count; ++p) out[p] = static_cast<float>(total[p] / static_cast<double>(hw));
}

}  // namespace

void global_avg_pool2d_planes_avx512(const float* x, float* y, int64_t plane_begin,
                                     int64_t plane_end, int64_t hw) {
  for (int64_t p = plane_begin; p < plane_end; p += kPlanes) {
    const int count = plane_end - p < kPlanes ? static_cast<int>(plane_end - p) : kPlanes;
    const float* xs[kPlanes];
    for (int k = 0; k < kPlanes; ++k) xs[k] = x + (p + (k < count ? k : count - 1)) * hw;
    group_means(xs, y + p, count, hw);
  }
}

}  // namespace pcn::pool
