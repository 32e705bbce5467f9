// Micro-kernels of the direct convolution (direct_conv.h): a GEMM-style register tile of
// output positions x output channels, with the roles set for a convolution without im2col.
//
//   C[i][j] = sum_k A_k[i] * B[k][j]     (+ bias_n[j], then max(0, .) with kRelu)
//
// where row i is an output position and column j an output channel: A_k[i] =
// origin[koff[k] + i * astride] is read straight from a zero-padded image (one broadcast per
// position and tap, no packing), and B is the weights packed once per call as k x W panels,
// W = DirectUkernels::width of the ISA's table (16 for ref and AVX2, 32 for AVX-512).
// The taps k run over `taps.segs` segments of `taps.len` consecutive taps, `taps.stride`
// apart (koff and b advance together), so a tile can skip kernel columns on the padding.
// C[i * ldc + j], or C[j * ldc + i] with kChannelMajor (an NCHW output row, positions
// contiguous), is written, and read first only with gemm::kAccumulate: then C holds a residual
// added after the bias and before the ReLU, (sum + bias) + C, as a separate pass would. The k loop is sequential, so every output is the same sum
// in the same order whatever tile or thread computes it.
#pragma once
#include <cstdint>

#include "gemm/ukernel.h"

namespace pcn::conv {

// Flag besides gemm::kRelu: store the tile channel-major.
constexpr int kChannelMajor = 4;

struct TapSegments {
  int64_t segs, len, stride;
};

// Memory for a later call to have in L2 (the next panel's weights): per tap the kernel
// prefetches the line at `at`, then advances it by `stride` bytes (under 64: a new line every
// few taps). `at` null: none (kNoPrefetch).
struct TilePrefetch {
  const char* at;
  int64_t stride;
};
constexpr TilePrefetch kNoPrefetch{nullptr, 0};

// acc_in: null, or partial sums to continue from (position i, channel j at acc_in[i * width +
// j], as a call without bias, ReLU or kChannelMajor stored them with ldc = width): the taps
// of a long sum taken in blocks give the same bits as in one call.
using DirectUkernelFn = void (*)(TapSegments taps, const float* origin, const int64_t* koff,
                                 int64_t astride, const float* b, float* c, int64_t ldc,
                                 int flags, const float* bias_n, const float* acc_in,
                                 TilePrefetch prefetch);

constexpr int kMaxTilePositions = 12;
constexpr int kMaxTileVecs = 2;

// One ISA's kernels and tile shape: tile[r - 1][v - 1] computes r <= positions positions and
// vec * v output channels of a panel `width` = vec * kMaxTileVecs channels wide (b advances
// `width` floats per tap). Entries past `positions` are null.
struct DirectUkernels {
  int64_t positions, vec, width;
  DirectUkernelFn tile[kMaxTilePositions][kMaxTileVecs];
};

const DirectUkernels& direct_ukernels_ref();
#ifdef PCN_HAVE_AVX2
const DirectUkernels& direct_ukernels_avx2_fma();
#endif
#ifdef PCN_HAVE_AVX512
const DirectUkernels& direct_ukernels_avx512();
#endif
const DirectUkernels& select_direct_ukernels();

}  // namespace pcn::conv
