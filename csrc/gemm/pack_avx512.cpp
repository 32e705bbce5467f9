// AVX-512 packing of a transposed B (columns contiguous: Linear's B = W^T, element (k, j) at
// b[j * cs + k]) into the NR = 16-column panels of ukernel.h. Each step loads 16 k of each of
// the panel's 16 columns (16 zmm loads, one 64-byte line of each column when aligned), turns
// the 16 x 16 block in registers and stores 16 rows of the panel: 16 loads, 64 shuffles and
// 16 stores for 256 floats, where 4 x 4 SSE transposes take 64 loads, 128 shuffles and 64
// stores. Columns past the matrix edge are zero vectors, which the transpose turns into the
// zero padding the panel needs; a k tail under 16 uses masked loads and stores only its rows.
#include <immintrin.h>

#include "gemm/pack.h"

// GCC 12's _mm512_shuffle_f32x4 passes _mm512_undefined_ps(), which warns as
// maybe-uninitialized at every inlining (GCC PR 105593); the value is never used.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace pcn::gemm {
namespace {

// r[i] lane j -> r[j] lane i for a 16 x 16 block: unpack pairs of rows, gather 4 rows per
// 128-bit lane with 64-bit shuffles, then the 4 row groups with two rounds of lane shuffles.
__attribute__((always_inline)) inline void transpose_16x16(__m512* r) {
  __m512 t[16], u[16];
#pragma GCC unroll 8
  for (int q = 0; q < 8; ++q) {
    t[2 * q] = _mm512_unpacklo_ps(r[2 * q], r[2 * q + 1]);
    t[2 * q + 1] = _mm512_unpackhi_ps(r[2 * q], r[2 * q + 1]);
  }
#pragma GCC unroll 4
  for (int g = 0; g < 4; ++g) {
    u[4 * g + 0] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
    u[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
    u[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
    u[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
  }
#pragma GCC unroll 4
  for (int q = 0; q < 4; ++q) {
    const __m512 e01 = _mm512_shuffle_f32x4(u[q], u[4 + q], 0x88);
    const __m512 o01 = _mm512_shuffle_f32x4(u[q], u[4 + q], 0xDD);
    const __m512 e23 = _mm512_shuffle_f32x4(u[8 + q], u[12 + q], 0x88);
    const __m512 o23 = _mm512_shuffle_f32x4(u[8 + q], u[12 + q], 0xDD);
    r[q] = _mm512_shuffle_f32x4(e01, e23, 0x88);
    r[8 + q] = _mm512_shuffle_f32x4(e01, e23, 0xDD);
    r[4 + q] = _mm512_shuffle_f32x4(o01, o23, 0x88);
    r[12 + q] = _mm512_shuffle_f32x4(o01, o23, 0xDD);
  }
}

}  // namespace

void pack_b_transposed_avx512(const float* b, int64_t cs, int64_t k0, int64_t kc, int64_t n0,
                              int64_t nc, float* dst) {
  for (int64_t jr = 0; jr < nc; jr += NR) {
    float* panel = dst + jr * kc;
    const int64_t cols = nc - jr < NR ? nc - jr : NR;
    const float* src = b + (n0 + jr) * cs + k0;
    int64_t kk = 0;
    for (; kk + 16 <= kc; kk += 16) {
      __m512 r[16];
#pragma GCC unroll 16
      for (int j = 0; j < 16; ++j)
        r[j] = j < cols ? _mm512_loadu_ps(src + j * cs + kk) : _mm512_setzero_ps();
      transpose_16x16(r);
#pragma GCC unroll 16
      for (int t = 0; t < 16; ++t) _mm512_storeu_ps(panel + (kk + t) * NR, r[t]);
    }
    if (kk < kc) {
      const int64_t rest = kc - kk;
      const __mmask16 mk = static_cast<__mmask16>((1u << rest) - 1);
      __m512 r[16];
#pragma GCC unroll 16
      for (int j = 0; j < 16; ++j)
        r[j] = j < cols ? _mm512_maskz_loadu_ps(mk, src + j * cs + kk) : _mm512_setzero_ps();
      transpose_16x16(r);
      for (int64_t t = 0; t < rest; ++t) _mm512_storeu_ps(panel + (kk + t) * NR, r[t]);
    }
  }
}

}  // namespace pcn::gemm
