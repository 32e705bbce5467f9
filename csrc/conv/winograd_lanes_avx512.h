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

}  // namespace
}  // namespace pcn::conv
