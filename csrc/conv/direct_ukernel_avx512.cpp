// AVX-512 direct-convolution micro-kernels (direct_ukernel.h): tiles of up to 12 output
// positions x 32 output channels. Per tap: 2 aligned zmm loads of a 32-wide weight panel row,
// 12 broadcasts of input pixels read in place from the padded image, 24 FMAs into 24 zmm
// accumulators.
//
// Why this shape: 16 channels are one zmm, so the AVX2 tile (6 x 16) would keep only 6
// accumulators, far too few to cover the FMA latency on two 512-bit FMA pipes (about 8 FMAs
// must be in flight). Two zmm of channels per position halve the broadcasts per FMA, and 12
// positions bring the accumulators to 24 (of 32 registers, leaving room for the 2 weight rows
// and the broadcast). Narrower tiles (edge rows and columns, a last panel of <= 16 channels)
// use the same loop with fewer positions or one zmm; the taps are summed in the same order
// by every variant.
#include <immintrin.h>

#include <cstdint>

#include "conv/direct_ukernel.h"

// GCC 12's _mm512_shuffle_f32x4 passes _mm512_undefined_ps(), which is self-initialised and
// warns as maybe-uninitialized at every inlining (GCC PR 105593); the value is never used.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace pcn::conv {
namespace {

constexpr int kPositions = 12;  // positions per full tile
constexpr int kWidth = 32;      // channels per packed panel row (two zmm)

// Transposes the 16 x 16 block r (r[i] lane j -> r[j] lane i): unpacks pair rows, 64-bit
// shuffles gather 4 rows per 128-bit lane, two rounds of 128-bit lane shuffles gather the
// 4 row groups.
__attribute__((always_inline)) inline void transpose16(__m512* r) {
  __m512 t[16];
#pragma GCC unroll 8
  for (int k = 0; k < 8; ++k) {
    t[2 * k] = _mm512_unpacklo_ps(r[2 * k], r[2 * k + 1]);
    t[2 * k + 1] = _mm512_unpackhi_ps(r[2 * k], r[2 * k + 1]);
  }
  // u[4g + q]: in 128-bit lane L, column 4L + q of rows 4g .. 4g + 3
  __m512 u[16];
#pragma GCC unroll 4
  for (int g = 0; g < 4; ++g) {
    u[4 * g + 0] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
    u[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
    u[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
    u[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
  }
#pragma GCC unroll 4
  for (int q = 0; q < 4; ++q) {
    // lanes (0, 2) and (1, 3) of groups 0/1 and 2/3, then the lanes of one column together
    const __m512 e01 = _mm512_shuffle_f32x4(u[q], u[4 + q], 0x88);
    const __m512 o01 = _mm512_shuffle_f32x4(u[q], u[4 + q], 0xDD);
    const __m512 e23 = _mm512_shuffle_f32x4(u[8 + q], u[12 + q], 0x88);
    const __m512 o23 = _mm512_shuffle_f32x4(u[8 + q], u[12 + q], 0xDD);
    r[q] = _mm512_shuffle_f32x4(e01, e23, 0x88);       // column q (lane 0)
    r[8 + q] = _mm512_shuffle_f32x4(e01, e23, 0xDD);   // column 8 + q (lane 2)
    r[4 + q] = _mm512_shuffle_f32x4(o01, o23, 0x88);   // column 4 + q (lane 1)
    r[12 + q] = _mm512_shuffle_f32x4(o01, o23, 0xDD);  // column 12 + q (lane 3)
  }
}

// AS: the distance between positions when it is a compile-time constant (1: consecutive
// pixels, 2: stride 2), so the 12 broadcasts use fixed offsets; 0: astride at run time.
template <int R, int V, int AS, bool PF>
void direct_avx512(TapSegments taps, const float* origin, const int64_t* koff, int64_t astride,
                   const float* b, float* c, int64_t ldc, int flags, const float* bias_n,
                   const float* acc_in, TilePrefetch prefetch) {
  __m512 acc[R][V];
#pragma GCC unroll 12
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 2
    for (int j = 0; j < V; ++j)
      acc[i][j] = acc_in ? _mm512_loadu_ps(acc_in + i * kWidth + 16 * j) : _mm512_setzero_ps();
  const int64_t as = AS ? AS : astride;
  // PF: prefetch (a copy of the loop without it: even an L1-hit prefetch per tap cost the
  // 3-channel stem 15%)
  // an address, not a pointer: the walk may pass the end of the weights (a prefetch there
  // is harmless, pointer arithmetic there is not)
  uintptr_t pf = reinterpret_cast<uintptr_t>(prefetch.at);
  const uintptr_t pf_step = static_cast<uintptr_t>(prefetch.stride);

  for (int64_t s = 0; s < taps.segs; ++s) {
    const int64_t* ko = koff + s * taps.stride;
    const float* bk = b + s * taps.stride * kWidth;
#pragma GCC unroll 2
    for (int64_t k = 0; k < taps.len; ++k) {
      if constexpr (PF) {
        _mm_prefetch(reinterpret_cast<const char*>(pf), _MM_HINT_T1);
        pf += pf_step;
      }
      const float* ak = origin + ko[k];
      __m512 bv[V];
#pragma GCC unroll 2
      for (int j = 0; j < V; ++j) bv[j] = _mm512_load_ps(bk + 16 * j);
#pragma GCC unroll 12
      for (int i = 0; i < R; ++i) {
        const __m512 av = _mm512_set1_ps(ak[i * as]);
#pragma GCC unroll 2
        for (int j = 0; j < V; ++j) acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
      }
      bk += kWidth;
    }
  }

  // With kAccumulate the residual in c is added after the bias, then the activation: the
  // activation waits until the values are in their stored layout.
  const bool accumulate = flags & gemm::kAccumulate;
  const bool relu = flags & gemm::kRelu;
  const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 12
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 2
    for (int j = 0; j < V; ++j) {
      __m512 v = acc[i][j];
      if (bias_n) v = _mm512_add_ps(v, _mm512_loadu_ps(bias_n + 16 * j));
      // max(0, v) with 0 first keeps NaN, as in PyTorch's relu
      if (relu && !accumulate) v = _mm512_max_ps(zero, v);
      acc[i][j] = v;
    }
  if (flags & kChannelMajor) {
    // Each 16-channel column block transposed (rows past R zero), then channel ch's R
    // positions stored with one masked store.
    const __mmask16 mask = static_cast<__mmask16>((1u << R) - 1);
#pragma GCC unroll 2
    for (int j = 0; j < V; ++j) {
      __m512 col[16];
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i) col[i] = i < R ? acc[i < R ? i : 0][j] : zero;
      transpose16(col);
#pragma GCC unroll 16
      for (int ch = 0; ch < 16; ++ch) {
        float* out = c + (16 * j + ch) * ldc;
        __m512 v = col[ch];
        if (accumulate) {
          v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, out));
          if (relu) v = _mm512_max_ps(zero, v);
        }
        _mm512_mask_storeu_ps(out, mask, v);
      }
    }
    return;
  }
#pragma GCC unroll 12
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 2
    for (int j = 0; j < V; ++j) {
      __m512 v = acc[i][j];
      if (accumulate) {
        v = _mm512_add_ps(v, _mm512_loadu_ps(c + i * ldc + 16 * j));
        if (relu) v = _mm512_max_ps(zero, v);
      }
      _mm512_storeu_ps(c + i * ldc + 16 * j, v);
    }
}

template <int R, int V, bool PF>
void direct_avx512_pf(TapSegments taps, const float* origin, const int64_t* koff,
                      int64_t astride, const float* b, float* c, int64_t ldc, int flags,
                      const float* bias_n, const float* acc_in, TilePrefetch prefetch) {
  if (astride == 1)
    direct_avx512<R, V, 1, PF>(taps, origin, koff, astride, b, c, ldc, flags, bias_n, acc_in, prefetch);
  else if (astride == 2)
    direct_avx512<R, V, 2, PF>(taps, origin, koff, astride, b, c, ldc, flags, bias_n, acc_in, prefetch);
  else
    direct_avx512<R, V, 0, PF>(taps, origin, koff, astride, b, c, ldc, flags, bias_n, acc_in, prefetch);
}

template <int R, int V>
void direct_avx512_any(TapSegments taps, const float* origin, const int64_t* koff,
                       int64_t astride, const float* b, float* c, int64_t ldc, int flags,
                       const float* bias_n, const float* acc_in, TilePrefetch prefetch) {
  if (prefetch.at)
    direct_avx512_pf<R, V, true>(taps, origin, koff, astride, b, c, ldc, flags, bias_n, acc_in, prefetch);
  else
    direct_avx512_pf<R, V, false>(taps, origin, koff, astride, b, c, ldc, flags, bias_n, acc_in, prefetch);
}

// tile[r - 1][v - 1] = direct_avx512_any<r, v> for r = R .. kPositions.
template <int R = 1>
void fill_table(DirectUkernels& k) {
  k.tile[R - 1][0] = &direct_avx512_any<R, 1>;
  k.tile[R - 1][1] = &direct_avx512_any<R, 2>;
  if constexpr (R < kPositions) fill_table<R + 1>(k);
}

DirectUkernels make_table() {
  static_assert(kPositions <= kMaxTilePositions && kPositions <= 16,
                "the channel-major store transposes at most 16 positions");
  static_assert(kWidth == 16 * kMaxTileVecs);
  DirectUkernels k{kPositions, 16, kWidth, {}};
  fill_table(k);
  return k;
}

}  // namespace

const DirectUkernels& direct_ukernels_avx512() {
  static const DirectUkernels k = make_table();
  return k;
}

}  // namespace pcn::conv
