#include "conv/conv2d_bf16_select.h"

#include "conv/winograd.h"

namespace pcn::conv {

namespace {
// Below this many multiply-adds per output (kdim) the patch gather, the channels-last copy and
// the transposed write cost more than VDPBF16PS saves; with fewer than 64 output channels
// each gathered patch serves fewer outputs, so the bar is higher. Measured on Zen 5 (bf16
// serving, against the float32 direct path on rounded inputs, batch 1 and 64): 64 outputs:
// 32 -> 64 3x3 stride 2 (kdim 288) 1.1x, 64 -> 64 3x3 stride 2 (576) 1.2x, 32 -> 64 5x5
// (800) 1.4x; 32 outputs: 8 -> 32 5x5 (200) even, 32 -> 32 3x3 stride 2 (288) 0.9x,
// 16 -> 32 5x5 (400) 1.1x; 1 -> 32 and 3 -> 32 (25, 27) 2-3x slower.
constexpr int64_t kMinKdim = 256;
constexpr int64_t kMinKdimFewOutputs = 384;  // below 64 output channels
}  // namespace

bool bf16_conv_pays(const Conv2dShape& s) {
  if (s.groups != 1 || s.kdim() < (s.oc >= 64 ? kMinKdim : kMinKdimFewOutputs)) return false;
  // Pointwise layers: the float32 GEMM reads x in place and was ahead at 64..256 channels.
  if (s.kh * s.kw == 1) return false;
  // Winograd F(4x4, 3x3) does a quarter of the multiplies: 1.5-3.5x ahead of this kernel on
  // cifar-cnn's 3x3 layers (32 -> 32, 32 -> 64, 64 -> 64).
  return !(winograd_applies(s) && winograd_pays(s));
}

}  // namespace pcn::conv
