// Lane masks and index vectors shared by the AVX-512 Winograd kernels of both variants
// (winograd_avx512.cpp, winograd_f2_avx512.cpp): which of the 16 lanes the pieces' tiles
// fill. Only for files compiled for AVX-512; internal linkage, so no copy can leak into another
// tier's object.
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "conv/winograd_kernels.h"

namespace pcn::conv {
namespace {

constexpr int64_t kLanes = 16;

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// Lanes l < count (count clamped to [0, 16]).
inline __mmask16 first_lanes(int64_t count) {
  if (count <= 0) return 0;
  if (count >= kLanes) return 0xFFFF;
  return static_cast<__mmask16>((1u << count) - 1);
}

// Lanes l with lo <= base + l < hi.
inline __mmask16 lanes_within(int64_t base, int64_t lo, int64_t hi) {
  return static_cast<__mmask16>(first_lanes(hi - base) & ~first_lanes(lo - base));
}

// Lanes g * pitch + t, t < n of piece g: where the pieces' tiles sit in a vector.
inline __mmask16 piece_lanes(const WinogradPiece* pieces, int count, int64_t pitch,
                             int64_t& total) {
  uint32_t mask = 0;
  total = 0;
  for (int g = 0; g < count; ++g) {
    mask |= ((1u << pieces[g].n) - 1) << (g * pitch);
    total += pieces[g].n;
  }
  return static_cast<__mmask16>(mask);
}

// Lane l takes lane l + 1, or lane 2g + second of the second source for the last lane of piece
// g: a tile's next column from this vector and the floats past each piece.
inline __m512i next_index(int64_t pitch, int second) {
  alignas(64) int32_t idx[16];
  for (int l = 0; l < 16; ++l)
    idx[l] = (l + 1) % pitch ? l + 1 : 16 + 2 * static_cast<int32_t>(l / pitch) + second;
  return _mm512_load_si512(idx);
}

// A^T M A + bias, then ReLU, of one output channel for the tiles in the vector lanes (both
// variants: ALPHA points per side in, OUT outputs out). Point (a, q) of the tiles is the row
// mr + (a * ALPHA + q) * ldxi, loaded under `load` and, unless packed, spread back to the
// pieces' lanes (`valid`); line(in, out) is the variant's transform of one line of points.
// o[i][j]: output row i, column j of every lane's tile.
template <int ALPHA, int OUT, class Line>
__attribute__((always_inline)) inline void transform_output(const float* mr, int64_t ldxi,
                                                            __mmask16 load, __mmask16 valid,
                                                            bool packed, __m512 bv, bool relu,
                                                            Line line, __m512 (&o)[OUT][OUT]) {
  __m512 b[ALPHA][OUT];  // b[a][j]: point row a transformed along x, output column j
  for (int a = 0; a < ALPHA; ++a) {
    __m512 row[ALPHA];
    for (int q = 0; q < ALPHA; ++q) {
      const __m512 l = _mm512_maskz_loadu_ps(load, mr + (a * ALPHA + q) * ldxi);
      row[q] = packed ? l : _mm512_maskz_expand_ps(valid, l);  // back to the pieces' lanes
    }
    line(row, b[a]);
  }
  for (int j = 0; j < OUT; ++j) {
    __m512 col[ALPHA], out[OUT];
    for (int a = 0; a < ALPHA; ++a) col[a] = b[a][j];
    line(col, out);
    for (int i = 0; i < OUT; ++i) {
      __m512 val = _mm512_add_ps(out[i], bv);
      // max(0, v) with 0 first keeps NaN, as in PyTorch's relu
      if (relu) val = _mm512_max_ps(_mm512_setzero_ps(), val);
      o[i][j] = val;
    }
  }
}

}  // namespace
}  // namespace pcn::conv
