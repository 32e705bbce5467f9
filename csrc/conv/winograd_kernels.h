// The three steps of winograd_forward for one ISA tier and variant, on a block of tiles
// (winograd.cpp). Tiles are m apart (the output tile side, 4 or 2); "points" are the variant's
// (m + 2)^2.
//
// The block's tiles are numbered in order (image, tile row, tile column) and cut into
// "pieces": up to `pitch` consecutive tiles of one tile row. The kernels take groups of up to
// lanes / pitch consecutive pieces, whose tiles sit at consecutive lanes [lane0, lane0 + sum of
// n) of the block's rows. The transformed input V and the GEMM output M are stored by point xi:
//   V: v[xi * ldxi + c * ldv + lane]      (rows of the block's tiles, one per input channel)
//   M: m[xi * ldxi + i * ldm + lane]      (one row per output channel of a row block)
// Vector kernels run across tiles: piece g of a group takes vector lanes [g * pitch,
// g * pitch + n), so the NCHW rows of whole tile rows of up to 4 or 8 tiles are read and
// written whole, and tile columns m apart are gathered and scattered with in-register permutes.
#pragma once
#include <cstdint>

#include "conv/winograd.h"

namespace pcn::conv {

struct WinogradPiece {
  int64_t image, ty, tx, n;  // n consecutive tiles from tile (ty, tx) of image `image`
};

struct WinogradGeometry {
  int64_t c, h, w;     // input channels and plane
  int64_t pt, pl;      // top and left padding
  int64_t k, oh, ow;   // output channels and plane
};

struct WinogradKernels {
  // V of the `count` pieces (n <= pitch each; pitch 4, 8 or 16, at most lanes) for all
  // input channels of x (N x c x h x w); v points at lane0 of point 0, channel 0. Reads
  // outside the image are zeros.
  void (*input)(const float* x, const WinogradGeometry& g, const WinogradPiece* pieces,
                int count, int64_t pitch, float* v, int64_t ldv, int64_t ldxi);
  // m[i * ldm + t] = sum over c < kc of u[c * kWinogradRows + i] * v[c * ldv + t], for
  // i < rows, t < cols: one point's GEMM for a row block; c runs in order. With `next` (the
  // panel a later call reads, or null), the first pass over u also prefetches that panel's
  // kc x kWinogradRows floats into L2 (the portable kernel does not).
  void (*gemm)(int64_t rows, int64_t cols, int64_t kc, const float* u, const float* v,
               int64_t ldv, float* m, int64_t ldm, const float* next);
  // The m x m outputs of output channels k0 .. k0 + rows - 1 for the pieces: m points at lane0
  // of point 0 of the first channel's row (points ldxi apart, rows ldm apart); adds bias[k]
  // (when given), then max(0, .) with relu, and writes the positions inside the planes of y
  // (N x k x oh x ow).
  void (*output)(const float* m, int64_t ldxi, int64_t ldm, int64_t rows,
                 const WinogradGeometry& g, const WinogradPiece* pieces, int count,
                 int64_t pitch, int64_t k0, const float* bias, bool relu, float* y);
  // Tiles per vector: a group holds lanes / pitch pieces, pitch <= lanes.
  int64_t lanes;
  // The variant the transforms compute (the GEMM is the same for both).
  WinogradVariant variant;
};

// F(4x4, 3x3)
const WinogradKernels& winograd_kernels_ref();
#ifdef PCN_HAVE_AVX2
const WinogradKernels& winograd_kernels_avx2();
#endif
#ifdef PCN_HAVE_AVX512
const WinogradKernels& winograd_kernels_avx512();
#endif
// F(2x2, 3x3)
const WinogradKernels& winograd_f2_kernels_ref();
#ifdef PCN_HAVE_AVX2
const WinogradKernels& winograd_f2_kernels_avx2();
#endif
#ifdef PCN_HAVE_AVX512
const WinogradKernels& winograd_f2_kernels_avx512();
#endif
// The current tier's kernels of a variant.
const WinogradKernels& select_winograd_kernels(WinogradVariant v = WinogradVariant::f4x4);

}  // namespace pcn::conv
