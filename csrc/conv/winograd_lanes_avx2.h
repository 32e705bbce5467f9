// Lane masks and index vectors shared by the AVX2 Winograd kernels of both variants
// (winograd_avx2.cpp, winograd_f2_avx2.cpp): which of the 8 lanes the pieces' tiles
// fill. Only for files compiled for AVX2; internal linkage, so no copy can leak into another
// tier's object.
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "conv/winograd_kernels.h"

namespace pcn::conv {
namespace {

constexpr int64_t kLanes = 8;

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// All-ones in lanes l with lo <= base + l < hi (the mask of maskload / maskstore).
inline __m256i lanes_within(int64_t base, int64_t lo, int64_t hi) {
  alignas(32) int32_t m[8];
  for (int l = 0; l < 8; ++l) m[l] = (base + l >= lo && base + l < hi) ? -1 : 0;
  return _mm256_load_si256(reinterpret_cast<const __m256i*>(m));
}

inline __m256i first_lanes(int64_t count) { return lanes_within(0, 0, count); }

// Lanes g * pitch + t, t < n of piece g, as bits; total = sum of n.
inline unsigned piece_bits(const WinogradPiece* pieces, int count, int64_t pitch,
                           int64_t& total) {
  unsigned bits = 0;
  total = 0;
  for (int g = 0; g < count; ++g) {
    bits |= ((1u << pieces[g].n) - 1) << (g * pitch);
    total += pieces[g].n;
  }
  return bits;
}

// Index vectors for permutevar8x32 over the set lanes of bits: compress_index moves them to
// the front in order, expand_index puts the front lanes back.
inline __m256i compress_index(unsigned bits) {
  alignas(32) int32_t c[8] = {};
  for (int l = 0, j = 0; l < 8; ++l)
    if (bits >> l & 1) c[j++] = l;
  return _mm256_load_si256(reinterpret_cast<const __m256i*>(c));
}

inline __m256i expand_index(unsigned bits) {
  alignas(32) int32_t e[8] = {};
  for (int l = 0, j = 0; l < 8; ++l)
    if (bits >> l & 1) e[l] = j++;
  return _mm256_load_si256(reinterpret_cast<const __m256i*>(e));
}

// A tile's two columns after the first two it holds in vectors d0 and d1 (F(4x4, 3x3):
// columns 4 and 5 past 0-3 loaded with the permutes; F(2x2, 3x3): 2 and 3 past 0 and 1):
// lane l takes lane l + 1 of d0 and d1, or, for the last lane of a piece, the 2 floats past
// the piece (lanes 2g and 2g + 1 of `extra`).
class NextColumns {
 public:
  explicit NextColumns(int64_t pitch) {
    alignas(32) int32_t next[8], ex0[8], ex1[8], last[8];
    for (int l = 0; l < 8; ++l) {
      next[l] = (l + 1) % 8;
      ex0[l] = 2 * static_cast<int32_t>(l / pitch);
      ex1[l] = ex0[l] + 1;
      last[l] = (l + 1) % pitch ? 0 : -1;
    }
    next_ = _mm256_load_si256(reinterpret_cast<const __m256i*>(next));
    ex0_ = _mm256_load_si256(reinterpret_cast<const __m256i*>(ex0));
    ex1_ = _mm256_load_si256(reinterpret_cast<const __m256i*>(ex1));
    is_last_ = _mm256_castsi256_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(last)));
  }
  __attribute__((always_inline)) void operator()(__m256 d0, __m256 d1, __m256 extra, __m256& c0,
                                                 __m256& c1) const {
    c0 = _mm256_blendv_ps(_mm256_permutevar8x32_ps(d0, next_), _mm256_permutevar8x32_ps(extra, ex0_),
                          is_last_);
    c1 = _mm256_blendv_ps(_mm256_permutevar8x32_ps(d1, next_), _mm256_permutevar8x32_ps(extra, ex1_),
                          is_last_);
  }

 private:
  __m256i next_, ex0_, ex1_;
  __m256 is_last_;
};

// A^T M A + bias, then ReLU, of one output channel for the tiles in the vector lanes (both
// variants: ALPHA points per side in, OUT outputs out). Point (a, q) of the tiles is the row
// mr + (a * ALPHA + q) * ldxi, loaded under `load` and, unless packed, spread back to the
// pieces' lanes (`expand`); line(in, out) is the variant's transform of one line of points.
// o[i][j]: output row i, column j of every lane's tile.
template <int ALPHA, int OUT, class Line>
__attribute__((always_inline)) inline void transform_output(const float* mr, int64_t ldxi,
                                                            __m256i load, __m256i expand,
                                                            bool packed, __m256 bv, bool relu,
                                                            Line line, __m256 (&o)[OUT][OUT]) {
  __m256 b[ALPHA][OUT];  // b[a][j]: point row a transformed along x, output column j
  for (int a = 0; a < ALPHA; ++a) {
    __m256 row[ALPHA];
    for (int q = 0; q < ALPHA; ++q) {
      const __m256 l = _mm256_maskload_ps(mr + (a * ALPHA + q) * ldxi, load);
      row[q] = packed ? l : _mm256_permutevar8x32_ps(l, expand);  // back to the pieces' lanes
    }
    line(row, b[a]);
  }
  for (int j = 0; j < OUT; ++j) {
    __m256 col[ALPHA], out[OUT];
    for (int a = 0; a < ALPHA; ++a) col[a] = b[a][j];
    line(col, out);
    for (int i = 0; i < OUT; ++i) {
      __m256 val = _mm256_add_ps(out[i], bv);
      if (relu) val = _mm256_max_ps(_mm256_setzero_ps(), val);  // keeps NaN, as in PyTorch
      o[i][j] = val;
    }
  }
}

}  // namespace
}  // namespace pcn::conv
