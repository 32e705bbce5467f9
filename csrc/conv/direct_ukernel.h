// Micro-kernels of the direct convolution (direct_conv.h): the GEMM micro-kernel's 6 x 16
// register tile with the roles set for a convolution without im2col.
//
//   C[i][j] = sum_k A_k[i] * B[k][j]     (+ bias_n[j], then max(0, .) with kRelu)
//
// where row i is an output position and column j an output channel: A_k[i] =
// origin[koff[k] + i * astride] is read straight from a zero-padded image (one broadcast per
// position and tap, no packing), and B is the weights packed once per call as k x 16 panels.
// The taps k run over `taps.segs` segments of `taps.len` consecutive taps, `taps.stride`
// apart (koff and b advance together), so a tile can skip kernel columns on the padding.
// C is written, never read: C[i * ldc + j], or C[j * ldc + i] with kChannelMajor (an NCHW
// output row, positions contiguous). The k loop is sequential, so every output is the same sum
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

using DirectUkernelFn = void (*)(TapSegments taps, const float* origin, const int64_t* koff,
                                 int64_t astride, const float* b, float* c, int64_t ldc,
                                 int flags, const float* bias_n);

// tile[r - 1][v - 1]: r <= 6 positions, 8 * v output channels.
struct DirectUkernels {
  DirectUkernelFn tile[gemm::MR][gemm::kVecs];
};

const DirectUkernels& direct_ukernels_ref();
#ifdef PCN_HAVE_AVX2
const DirectUkernels& direct_ukernels_avx2_fma();
#endif
const DirectUkernels& select_direct_ukernels();

}  // namespace pcn::conv
