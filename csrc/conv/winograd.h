// Winograd convolution F(4x4, 3x3) for 3x3 layers with stride 1, dilation 1, one group (any
// padding), NCHW float32, for serving: the filters are transformed once (WinogradWeights) and
// every call runs
//
//   V = B^T d B      for each 6x6 input tile d (tiles 4 apart) and input channel,
//   M[xi] = U[xi] V[xi]   36 independent GEMMs (K x C) * (C x tiles), U = G g G^T,
//   y = A^T M A + bias, then ReLU      for each 4x4 output tile and output channel.
//
// B, G and A are those of the interpolation points 0, 1, -1, 1/2, -2 and infinity: against
// the usual 0, +-1, +-2 they cost a few more additions in the transforms and leave 2.5x less
// rounding error (1.2-1.7e-6 of the output scale on cifar-cnn's layers against 3-5e-6; the
// direct path: 0.5-0.7e-6), mostly because the GEMM sums M carry less cancellation.
//
// The tiles are processed in blocks (winograd.cpp) so that a block's V stays in L2 while every
// output channel reads it. The GEMMs do 36 multiply-adds per 16 outputs and input channel
// where the direct convolution does 144; the transforms cost the rest (see winograd_pays). On
// the AVX-512 host the GEMMs run at the FMA peak and the whole layer 2.2-3.0x faster than
// conv2d_forward on cifar-cnn's layers at batch 1 and 64 (2 threads; the avx2 tier 2.1-3.4x
// faster than its direct path; benchmarks/compare_winograd.py).
//
// Tiers: AVX-512 (16 tiles per vector) and AVX2 (8) kernels in winograd_avx512.cpp and
// winograd_avx2.cpp, a portable one-tile-at-a-time path in winograd_ref.cpp; the tier is read
// on every call (pcn::current_isa()).
//
// Serving: a WinogradWeights is immutable once built and can be shared by any number of
// threads; it holds 36 / 9 = 4x the floats of the weight (plus the output channels rounded
// up to 12). winograd_forward keeps its scratch per thread (about 36 x (C + 12) x 32 floats)
// and may run from several threads at once.
#pragma once
#include <cstdint>

#include "common/aligned_buffer.h"
#include "common/shapes.h"

namespace pcn::conv {

// Output channels per GEMM row block: U is packed in blocks of this many rows.
constexpr int64_t kWinogradRows = 12;
constexpr int kWinogradTile = 6;   // input tile side (alpha = 4 + 3 - 1)
constexpr int kWinogradOut = 4;    // output tile side
constexpr int kWinogradPoints = kWinogradTile * kWinogradTile;  // 36 GEMMs

// 3x3, stride 1, dilation 1, groups 1 and a non-empty output: the shapes the algorithm covers.
bool winograd_applies(const Conv2dShape& s);

// Whether it beats conv2d_forward is winograd_pays (conv_plan.h), one of the plan's rules.

// The filters U = G g G^T of a layer, packed for the GEMM step: for each of the 36 points xi
// and each block of kWinogradRows output channels, a C x kWinogradRows panel by input channel
// (rows past the last output channel are zero).
class WinogradWeights {
 public:
  // s.n, s.h, s.w and the padding are ignored; s must otherwise satisfy winograd_applies.
  // w_oihw: (s.oc, s.c, 3, 3).
  WinogradWeights(const Conv2dShape& s, const float* w_oihw);

  int64_t in_channels() const { return c_; }
  int64_t out_channels() const { return k_; }
  int64_t row_blocks() const { return kblocks_; }
  int64_t bytes() const { return static_cast<int64_t>(u_.size() * sizeof(float)); }
  // The C x kWinogradRows panel of point xi, output channels [kb * 12, kb * 12 + 12).
  const float* panel(int64_t xi, int64_t kb) const {
    return u_.data() + (xi * kblocks_ + kb) * c_ * kWinogradRows;
  }

 private:
  int64_t c_, k_, kblocks_;
  AlignedBuffer u_;
};

// y = conv(x, w) + bias (optional), then ReLU (optional), with u built from w for a shape of
// the same channels. y: (s.n, s.oc, s.oh, s.ow). Threads split blocks of tiles (and output
// channels when there are few tiles); every output is the same sum whatever the thread count.
void winograd_forward(const Conv2dShape& s, const float* x, const WinogradWeights& u,
                      const float* bias, float* y, bool relu);
// The same with the kernel table given (winograd_kernels.h), instead of the current tier's.
struct WinogradKernels;
void winograd_forward(const Conv2dShape& s, const WinogradKernels& kern, const float* x,
                      const WinogradWeights& u, const float* bias, float* y, bool relu);

}  // namespace pcn::conv
