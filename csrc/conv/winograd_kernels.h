// The three steps of winograd_forward for one ISA tier, on a block of tiles (winograd.cpp).
//
// Tiles of one image row of tiles are consecutive in a block, so each step works on a
// "segment": n consecutive tiles of one tile row, which sit at lanes [lane0, lane0 + n) of
// the block's rows. The transformed input V and the GEMM output M are stored by point xi:
//   V: v[xi * ldxi + c * ldv + lane]      (rows of the block's tiles, one per input channel)
//   M: m[xi * ldxi + i * ldm + lane]      (one row per output channel of a row block)
// Vector kernels run across tiles (16 tiles per AVX-512 vector), so NCHW rows are read and
// written whole; tile columns 4 apart are gathered and scattered with in-register permutes.
#pragma once
#include <cstdint>

namespace pcn::conv {

struct WinogradKernels {
  // V for the n tiles whose 6x6 inputs start at image row y0 and column x0 (may be negative:
  // padding), channels [0, c) of the image xb (c x h x w); v points at lane0 of point 0,
  // channel 0. Reads outside the image are zeros.
  void (*input)(const float* xb, int64_t c, int64_t h, int64_t w, int64_t y0, int64_t x0,
                int64_t n, float* v, int64_t ldv, int64_t ldxi);
  // m[i * ldm + t] = sum over c < kc of u[c * kWinogradRows + i] * v[c * ldv + t], for
  // i < rows, t < cols: one point's GEMM for a row block; c runs in order.
  void (*gemm)(int64_t rows, int64_t cols, int64_t kc, const float* u, const float* v,
               int64_t ldv, float* m, int64_t ldm);
  // The 4x4 outputs of one output channel for n tiles whose outputs start at (oy0, ox0): m
  // points at lane0 of point 0 (points ldxi apart); adds bias, then max(0, .) with relu, and
  // writes the positions inside the oh x ow plane yk.
  void (*output)(const float* m, int64_t ldxi, int64_t n, float bias, bool relu, float* yk,
                 int64_t oh, int64_t ow, int64_t oy0, int64_t ox0);
};

const WinogradKernels& winograd_kernels_ref();
#ifdef PCN_HAVE_AVX512
const WinogradKernels& winograd_kernels_avx512();
#endif
const WinogradKernels& select_winograd_kernels();

}  // namespace pcn::conv
