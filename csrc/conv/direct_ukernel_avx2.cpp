// AVX2/FMA direct-convolution micro-kernels (direct_ukernel.h): per tap, 6 broadcasts of
// input pixels, 2 aligned loads of packed weights and 12 FMAs into 12 ymm accumulators, as in
// the GEMM micro-kernel, but the broadcasts read the padded image in place.
#include <immintrin.h>

#include <cstdint>
#include <type_traits>

#include "conv/direct_ukernel.h"

namespace pcn::conv {
namespace {

// Stores n <= 4 floats of v.
template <int N>
inline void store_first(float* p, __m128 v) {
  if constexpr (N == 4) _mm_storeu_ps(p, v);
  if constexpr (N == 3) { _mm_storel_pi(reinterpret_cast<__m64*>(p), v); _mm_store_ss(p + 2, _mm_movehl_ps(v, v)); }
  if constexpr (N == 2) _mm_storel_pi(reinterpret_cast<__m64*>(p), v);
  if constexpr (N == 1) _mm_store_ss(p, v);
}

// Positions [I0, I0 + N) (N <= 4) of 8 channels, rows r[I0..] (position-major), written
// channel-major: c[ch * ldc + i - I0 + I0]. A 4x8 -> 8x4 transpose: two rounds of shuffles
// give, per 128-bit half, one channel's 4 positions (low half channels 0-3, high 4-7).
template <int R, int I0>
inline void store_channel_major(const __m256* r, float* c, int64_t ldc) {
  constexpr int N = R - I0 < 4 ? R - I0 : 4;
  const __m256 z = _mm256_setzero_ps();
  const __m256 r0 = r[I0], r1 = N > 1 ? r[I0 + 1] : z;
  const __m256 r2 = N > 2 ? r[I0 + 2] : z, r3 = N > 3 ? r[I0 + 3] : z;
  const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  const __m256 q[4] = {_mm256_shuffle_ps(t0, t2, 0x44), _mm256_shuffle_ps(t0, t2, 0xEE),
                       _mm256_shuffle_ps(t1, t3, 0x44), _mm256_shuffle_ps(t1, t3, 0xEE)};
#pragma GCC unroll 4
  for (int ch = 0; ch < 4; ++ch) {
    store_first<N>(c + ch * ldc + I0, _mm256_castps256_ps128(q[ch]));
    store_first<N>(c + (ch + 4) * ldc + I0, _mm256_extractf128_ps(q[ch], 1));
  }
}

// UNIT: positions are consecutive pixels (stride 1), so their offsets are constants.
template <int R, int V, bool UNIT, bool PF>
void direct_avx2(TapSegments taps, const float* origin, const int64_t* koff, int64_t astride,
                 const float* b, float* c, int64_t ldc, int flags, const float* bias_n,
                 const float* acc_in, TilePrefetch prefetch) {
  __m256 acc[R][V];
#pragma GCC unroll 6
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 2
    for (int j = 0; j < V; ++j)
      acc[i][j] = acc_in ? _mm256_loadu_ps(acc_in + i * gemm::NR + 8 * j) : _mm256_setzero_ps();
  const int64_t as = UNIT ? 1 : astride;

  // PF: prefetch, as in the AVX-512 kernel (a loop without it otherwise)
  // an address, not a pointer: the walk may pass the end of the weights (a prefetch there
  // is harmless, pointer arithmetic there is not)
  uintptr_t pf = reinterpret_cast<uintptr_t>(prefetch.at);
  const uintptr_t pf_step = static_cast<uintptr_t>(prefetch.stride);
  for (int64_t s = 0; s < taps.segs; ++s) {
    const int64_t* ko = koff + s * taps.stride;
    const float* bk = b + s * taps.stride * gemm::NR;
#pragma GCC unroll 4
    for (int64_t k = 0; k < taps.len; ++k) {
      if constexpr (PF) {
        _mm_prefetch(reinterpret_cast<const char*>(pf), _MM_HINT_T1);
        pf += pf_step;
      }
      const float* ak = origin + ko[k];
      __m256 bv[V];
#pragma GCC unroll 2
      for (int j = 0; j < V; ++j) bv[j] = _mm256_load_ps(bk + 8 * j);
#pragma GCC unroll 6
      for (int i = 0; i < R; ++i) {
        const __m256 av = _mm256_broadcast_ss(ak + i * as);
#pragma GCC unroll 2
        for (int j = 0; j < V; ++j) acc[i][j] = _mm256_fmadd_ps(av, bv[j], acc[i][j]);
      }
      bk += gemm::NR;
    }
  }

  const bool accumulate = flags & gemm::kAccumulate;
#pragma GCC unroll 6
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 2
    for (int j = 0; j < V; ++j) {
      __m256 v = acc[i][j];
      if (bias_n) v = _mm256_add_ps(v, _mm256_loadu_ps(bias_n + 8 * j));
      if (accumulate && !(flags & kChannelMajor)) v = _mm256_add_ps(v, _mm256_loadu_ps(c + i * ldc + 8 * j));
      // max(0, v) with 0 first keeps NaN, as in PyTorch's relu
      if ((flags & gemm::kRelu) && !(accumulate && (flags & kChannelMajor)))
        v = _mm256_max_ps(_mm256_setzero_ps(), v);
      acc[i][j] = v;
    }
  if (accumulate && (flags & kChannelMajor)) {
    // The residual is added where it lies, channel-major (a rare path: served residual
    // blocks on hosts without AVX-512), then the activation.
    alignas(32) float t[R][8 * V];
#pragma GCC unroll 6
    for (int i = 0; i < R; ++i)
#pragma GCC unroll 2
      for (int j = 0; j < V; ++j) _mm256_store_ps(&t[i][8 * j], acc[i][j]);
    for (int ch = 0; ch < 8 * V; ++ch)
      for (int i = 0; i < R; ++i) {
        float v = t[i][ch] + c[ch * ldc + i];
        if ((flags & gemm::kRelu) && v < 0.0f) v = 0.0f;  // NaN propagates
        c[ch * ldc + i] = v;
      }
    return;
  }
  if (flags & kChannelMajor) {
#pragma GCC unroll 2
    for (int j = 0; j < V; ++j) {
      __m256 col[R];
#pragma GCC unroll 6
      for (int i = 0; i < R; ++i) col[i] = acc[i][j];
      store_channel_major<R, 0>(col, c + 8 * j * ldc, ldc);
      if constexpr (R > 4) store_channel_major<R, 4>(col, c + 8 * j * ldc, ldc);
    }
    return;
  }
#pragma GCC unroll 6
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 2
    for (int j = 0; j < V; ++j) _mm256_storeu_ps(c + i * ldc + 8 * j, acc[i][j]);
}

template <int R, int V>
void direct_avx2_any(TapSegments taps, const float* origin, const int64_t* koff,
                     int64_t astride, const float* b, float* c, int64_t ldc, int flags,
                     const float* bias_n, const float* acc_in, TilePrefetch prefetch) {
  auto run = [&](auto unit, auto pf) {
    direct_avx2<R, V, decltype(unit)::value, decltype(pf)::value>(taps, origin, koff, astride, b, c,
                                                                    ldc, flags, bias_n, acc_in, prefetch);
  };
  if (prefetch.at) {
    if (astride == 1) run(std::true_type{}, std::true_type{});
    else run(std::false_type{}, std::true_type{});
  } else {
    if (astride == 1) run(std::true_type{}, std::false_type{});
    else run(std::false_type{}, std::false_type{});
  }
}

}  // namespace

const DirectUkernels& direct_ukernels_avx2_fma() {
  static const DirectUkernels k = {gemm::MR, 8, gemm::NR,
                                   {{&direct_avx2_any<1, 1>, &direct_avx2_any<1, 2>},
                                    {&direct_avx2_any<2, 1>, &direct_avx2_any<2, 2>},
                                    {&direct_avx2_any<3, 1>, &direct_avx2_any<3, 2>},
                                    {&direct_avx2_any<4, 1>, &direct_avx2_any<4, 2>},
                                    {&direct_avx2_any<5, 1>, &direct_avx2_any<5, 2>},
                                    {&direct_avx2_any<6, 1>, &direct_avx2_any<6, 2>}}};
  return k;
}

}  // namespace pcn::conv
