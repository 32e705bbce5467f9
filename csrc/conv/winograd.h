// Winograd convolution for 3x3 layers with stride 1, dilation 1, one group (any padding), NCHW
// float32, for serving, in two variants: F(4x4, 3x3) (output tiles of 4x4 from 6x6 input tiles,
// 36 points) and F(2x2, 3x3) (2x2 from 4x4, 16 points). The filters are transformed once
// (WinogradWeights) and every call runs
//
//   V = B^T d B      for each input tile d (tiles m apart, m the output tile side) and channel,
//   M[xi] = U[xi] V[xi]   one independent GEMM (K x C) * (C x tiles) per point xi, U = G g G^T,
//   y = A^T M A + bias, then ReLU      for each output tile and output channel.
//
// F(4x4, 3x3): B, G and A are those of the interpolation points 0, 1, -1, 1/2, -2 and infinity:
// against the usual 0, +-1, +-2 they cost a few more additions in the transforms and leave 2.5x
// less rounding error (1.2-1.7e-6 of the output scale on cifar-cnn's layers against 3-5e-6; the
// direct path: 0.5-0.7e-6), mostly because the GEMM sums M carry less cancellation.
// F(2x2, 3x3): the points 0, 1, -1 and infinity (winograd_weights.cpp says why).
//
// The tiles are processed in blocks (winograd.cpp) so that a block's V stays in L2 while every
// output channel reads it. F(4x4, 3x3)'s GEMMs do 36 multiply-adds per 16 outputs and input
// channel where the direct convolution does 144 (F(2x2, 3x3): 16 per 4, against 36); the
// transforms cost the rest (see winograd_pays). On the AVX-512 host the GEMMs run at the FMA
// peak and F(4x4, 3x3) 2.2-3.0x faster than conv2d_forward on cifar-cnn's layers at batch 1 and
// 64 (2 threads; the avx2 tier 2.1-3.4x faster than its direct path;
// benchmarks/compare_winograd.py). F(2x2, 3x3) keeps 16 / 9 = 1.78x the weight's floats where
// F(4x4, 3x3) keeps 4x: it serves the layers whose transformed weights are read from memory at
// every call (the serving rule in conv_plan.cpp).
//
// Tiers: AVX-512 (16 tiles per vector) and AVX2 (8) kernels in winograd[_f2]_avx512.cpp and
// winograd[_f2]_avx2.cpp, a portable one-tile-at-a-time path in winograd[_f2]_ref.cpp; the tier
// is read on every call (pcn::current_isa()).
//
// Serving: a WinogradWeights is immutable once built and can be shared by any number of
// threads; it holds points / 9 times the floats of the weight (plus the output channels rounded
// up to 12). winograd_forward keeps its scratch per thread (about points x (C + 12) x 32 floats)
// and may run from several threads at once.
#pragma once
#include <cstdint>

#include "common/aligned_buffer.h"
#include "common/shapes.h"

namespace pcn::conv {

// Output channels per GEMM row block: U is packed in blocks of this many rows.
constexpr int64_t kWinogradRows = 12;

enum class WinogradVariant {
  f4x4,  // F(4x4, 3x3)
  f2x2   // F(2x2, 3x3)
};
// Output tile side m, input tile side m + 2 and points (m + 2)^2 of a variant.
constexpr int64_t winograd_out(WinogradVariant v) { return v == WinogradVariant::f4x4 ? 4 : 2; }
constexpr int64_t winograd_alpha(WinogradVariant v) { return winograd_out(v) + 2; }
constexpr int64_t winograd_points(WinogradVariant v) {
  return winograd_alpha(v) * winograd_alpha(v);
}

// 3x3, stride 1, dilation 1, groups 1 and a non-empty output: the shapes the algorithm covers.
bool winograd_applies(const Conv2dShape& s);

// Whether it beats conv2d_forward is winograd_pays (conv_plan.h), one of the plan's rules.

// The filters U = G g G^T of a layer, packed for the GEMM step: for each block of
// kWinogradRows output channels and each point xi, a C x kWinogradRows panel by input channel
// (rows past the last output channel are zero).
class WinogradWeights {
 public:
  // s.n, s.h, s.w and the padding are ignored; s must otherwise satisfy winograd_applies.
  // w_oihw: (s.oc, s.c, 3, 3).
  WinogradWeights(const Conv2dShape& s, const float* w_oihw,
                  WinogradVariant variant = WinogradVariant::f4x4);

  WinogradVariant variant() const { return variant_; }
  int64_t in_channels() const { return c_; }
  int64_t out_channels() const { return k_; }
  int64_t row_blocks() const { return kblocks_; }
  int64_t bytes() const { return static_cast<int64_t>(u_.size() * sizeof(float)); }
  // The C x kWinogradRows panel of point xi, output channels [kb * 12, kb * 12 + 12).
  const float* panel(int64_t xi, int64_t kb) const { return u_.data() + panel_offset(xi, kb); }

 private:
  // By row block, then point: the panels a row block's GEMMs read one after the other
  // (winograd.cpp) are one run of memory, which the hardware prefetchers follow when U comes
  // from memory (served layers at small batches). Against point first, in chains of served
  // F(4x4, 3x3) layers (the two orders alternated, 2 threads, the GEMMs prefetching): batch 1
  // 256 -> 256 14x14 0.52 against 0.64 ms, 512 -> 512 7x7 0.97 against 1.05, 128 -> 128 28x28
  // 0.22 against 0.26; batch 8 level to 10% ahead.
  int64_t panel_offset(int64_t xi, int64_t kb) const {
    return (kb * winograd_points(variant_) + xi) * c_ * kWinogradRows;
  }

  WinogradVariant variant_;
  int64_t c_, k_, kblocks_;
  AlignedBuffer u_;
};

// y = conv(x, w) + bias (optional), then ReLU (optional), with u built from w for a shape of
// the same channels. y: (s.n, s.oc, s.oh, s.ow). Threads split blocks of tiles (and output
// channels when there are few tiles); every output is the same sum whatever the thread count.
// The variant is u's.
void winograd_forward(const Conv2dShape& s, const float* x, const WinogradWeights& u,
                      const float* bias, float* y, bool relu);
// The same with the kernel table given (winograd_kernels.h, of u's variant), instead of the
// current tier's.
struct WinogradKernels;
void winograd_forward(const Conv2dShape& s, const WinogradKernels& kern, const float* x,
                      const WinogradWeights& u, const float* bias, float* y, bool relu);

}  // namespace pcn::conv
