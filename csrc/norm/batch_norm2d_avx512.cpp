// AVX-512 BatchNorm2d plane kernels (the per-channel driver, threading and the statistics'
// order over n are batch_norm2d.cpp's): every operation in double, 8 doubles per zmm.
//
// The portable plane sums run 4 (backward: 2) double chains per plane, so they are bound by
// the add latency, and GCC vectorises their element-wise passes 2 doubles wide. Here a plane's
// sums run 32 chains: element i always goes to lane i % 8 of accumulator (i / 8) % 4, the 8-
// element units past the last full 32-element step go on in that pattern and the last partial
// unit is added under a lane mask; the four accumulators are then added (0 + 1) + (2 + 3) and
// their lanes reduced in a fixed tree. So a statistic is the same sum in the same order for any
// thread count (threads own whole channels), but a different order than the portable kernel's:
// train-mode statistics, y and the backward's results differ from the ref tier by rounding,
// while eval-mode y (no sums) is bit-identical to ref. Products feeding an add use the
// explicit-rounding intrinsics, which the compiler cannot fuse into an FMA, so every
// element-wise formula rounds exactly as the portable one.
// Measured on Zen 5, one thread, against the portable kernels (benchmarks/compare_isa_misc.py
// --only bn): train forward 2.1-3.5x, eval forward 1.6-2.6x, backward 1.9-4x on 64x64x32x32,
// 32x256x8x8 and 8x32x56x56; 7x7 planes: forward ~1.7x, backward ~1.1x (per-plane overhead).
// GCC 12's AVX-512 intrinsics build their "undefined" pass-through vectors as `__m512 __Y = __Y`,
// which -Wmaybe-uninitialized (and, for the masked float loads here, -Wuninitialized) reports at
// every inlined use (GCC bug 105593, fixed in GCC 13).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cstdint>

#include "norm/batch_norm2d.h"

namespace pcn::norm {
namespace {

constexpr int kRound = _MM_FROUND_CUR_DIRECTION;

inline __m512d mul(__m512d a, __m512d b) { return _mm512_mul_round_pd(a, b, kRound); }

// Lanes [0, m) for 0 < m <= 8.
inline __mmask8 first(int64_t m) { return static_cast<__mmask8>((1u << m) - 1u); }

inline __m512d load8(const float* p) { return _mm512_cvtps_pd(_mm256_loadu_ps(p)); }
inline __m512d load8(const float* p, __mmask8 k) {
  return _mm512_cvtps_pd(_mm256_maskz_loadu_ps(k, p));
}

inline double reduce(const __m512d (&a)[4]) {
  const __m512d s = _mm512_add_pd(_mm512_add_pd(a[0], a[1]), _mm512_add_pd(a[2], a[3]));
  // Fixed tree: halves, then quarters, then the last pair.
  const __m256d h = _mm256_add_pd(_mm512_castpd512_pd256(s), _mm512_extractf64x4_pd(s, 1));
  const __m128d q = _mm_add_pd(_mm256_castpd256_pd128(h), _mm256_extractf128_pd(h, 1));
  return _mm_cvtsd_f64(_mm_add_sd(q, _mm_unpackhi_pd(q, q)));
}

// Runs term(acc, i, mask) over the plane's 8-element units in the chain pattern above: unit u
// starting at i = 8u goes to accumulator u % 4; the last unit may be partial (mask).
template <class Term>
inline double chained_sum(int64_t hw, Term term) {
  __m512d acc[4] = {_mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd(),
                    _mm512_setzero_pd()};
  const __mmask8 all = 0xFF;
  int64_t i = 0;
  for (; i + 32 <= hw; i += 32) {
    acc[0] = term(acc[0], i, all);
    acc[1] = term(acc[1], i + 8, all);
    acc[2] = term(acc[2], i + 16, all);
    acc[3] = term(acc[3], i + 24, all);
  }
  for (int u = 0; i < hw; ++u, i += 8) acc[u] = term(acc[u], i, hw - i >= 8 ? all : first(hw - i));
  return reduce(acc);
}

double plane_sum(const float* p, int64_t hw) {
  return chained_sum(hw, [&](__m512d a, int64_t i, __mmask8 k) {
    return _mm512_mask_add_pd(a, k, a, load8(p + i, k));
  });
}

double plane_sq_dev(const float* p, int64_t hw, double mean) {
  const __m512d m = _mm512_set1_pd(mean);
  return chained_sum(hw, [&](__m512d a, int64_t i, __mmask8 k) {
    const __m512d d = _mm512_sub_pd(load8(p + i, k), m);
    return _mm512_mask_add_pd(a, k, a, mul(d, d));
  });
}

// Both backward sums in one pass over x and g, each in the chain pattern of chained_sum.
void plane_grad_sums(const float* x, const float* g, int64_t hw, double mean, double& gsum,
                     double& dot) {
  const __m512d m = _mm512_set1_pd(mean);
  __m512d ga[4], da[4];
  for (int u = 0; u < 4; ++u) ga[u] = da[u] = _mm512_setzero_pd();
  auto unit = [&](int u, int64_t i, __mmask8 k) {
    const __m512d gv = load8(g + i, k);
    ga[u] = _mm512_mask_add_pd(ga[u], k, ga[u], gv);
    da[u] = _mm512_mask_add_pd(da[u], k, da[u], mul(gv, _mm512_sub_pd(load8(x + i, k), m)));
  };
  const __mmask8 all = 0xFF;
  int64_t i = 0;
  for (; i + 32 <= hw; i += 32)
    for (int u = 0; u < 4; ++u) unit(u, i + 8 * u, all);
  for (int u = 0; i < hw; ++u, i += 8) unit(u, i, hw - i >= 8 ? all : first(hw - i));
  gsum = reduce(ga);
  dot = reduce(da);
}

// out[i] = f(i) for 8-element units, the last one masked.
template <class F>
inline void for_units(float* out, int64_t hw, F f) {
  int64_t i = 0;
  for (; i + 8 <= hw; i += 8) _mm256_storeu_ps(out + i, _mm512_cvtpd_ps(f(i, __mmask8(0xFF))));
  if (i < hw) {
    const __mmask8 k = first(hw - i);
    _mm256_mask_storeu_ps(out + i, k, _mm512_cvtpd_ps(f(i, k)));
  }
}

// q = float((p - mean) * scale + shift)
void plane_affine(const float* p, float* q, int64_t hw, double mean, double scale, double shift) {
  const __m512d m = _mm512_set1_pd(mean), sc = _mm512_set1_pd(scale), sh = _mm512_set1_pd(shift);
  for_units(q, hw, [&](int64_t i, __mmask8 k) {
    return _mm512_add_pd(mul(_mm512_sub_pd(load8(p + i, k), m), sc), sh);
  });
}

// dx = float(((g - gmean) - (x - mean) * k) * scale)
void plane_dx(const float* x, const float* g, float* dx, int64_t hw, double mean, double gmean,
              double kk, double scale) {
  const __m512d m = _mm512_set1_pd(mean), gm = _mm512_set1_pd(gmean), kv = _mm512_set1_pd(kk),
                sc = _mm512_set1_pd(scale);
  for_units(dx, hw, [&](int64_t i, __mmask8 k) {
    const __m512d xc = _mm512_sub_pd(load8(x + i, k), m);
    return mul(_mm512_sub_pd(_mm512_sub_pd(load8(g + i, k), gm), mul(xc, kv)), sc);
  });
}

constexpr PlaneKernels kKernels = {&plane_sum, &plane_sq_dev, &plane_affine, &plane_grad_sums,
                                   &plane_dx};

}  // namespace

const PlaneKernels& plane_kernels_avx512() { return kKernels; }

}  // namespace pcn::norm
