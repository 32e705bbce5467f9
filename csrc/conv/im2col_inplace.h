// im2col read in place (the avx512 tier): the GEMM of a convolution with stride 1 along x,
// Y = W * B with B[k][p] = padded image at koff[k] + offset(p), without packing B.
// Along one output row, 16 consecutive output positions read 16 consecutive floats of the
// padded image for every k, so a micro-kernel loads each B vector straight from the image
// (which sits in L1) instead of from a panel the packer has just copied it into. This pays
// where packing dominates: few output channels (m = 6 uses each packed B float for only 6
// FMAs) and small k (27, 25, 75), where the im2col packer costs about as much as the GEMM.
//
// Every output element is acc = 0, acc = fma(W[i][k], B[k][p], acc) for k = 0, 1, ... in
// order, then + bias, then max(0, .): the GEMM micro-kernels' sum for a single k block, so
// the result is the same bits as the GEMM path of the avx2 tier.
#pragma once
#include <cstdint>

namespace pcn::conv {

struct InplaceGemm {
  const float* a;        // weights packed as gemm::PackedA panels of one k block (kdim <= KC_NARROW)
  int64_t m, kdim;       // output channels, GEMM k
  const float* x;        // padded image (conv/im2col_pack.h: NR floats of slack at the end)
  const int64_t* koff;   // offset of (c, ky*dh, kx*dw) in the padded image, per k
  int64_t wp, ow, sh;    // padded width, output width, vertical stride
  const float* bias;     // m values or null
  bool relu;
  float* y;              // output channel 0, position 0
  int64_t ldy;           // channel stride of y
};

// Computes every channel of output positions [p0, p1) (p = oy * ow + ox).
using InplaceGemmFn = void (*)(const InplaceGemm& g, int64_t p0, int64_t p1);

#ifdef PCN_HAVE_AVX512
void im2col_inplace_avx512(const InplaceGemm& g, int64_t p0, int64_t p1);
#endif

// The current tier's kernel, or null where the tier has none (the GEMM path serves it).
InplaceGemmFn select_im2col_inplace();

}  // namespace pcn::conv
