// bfloat16 convolution for bf16 serving on CPUs with AVX512-BF16 (avx512 tier): the
// convolution as Y^T (positions x oc) = P (positions x kdim) * W^T (kdim x oc), P's rows the
// patches of output positions with kdim ordered (ky, kx, c), so a patch row is gathered from a
// zero-padded channels-last bfloat16 copy of the input in runs of kw * c (or c) contiguous
// values. W^T is packed once as the bfloat16-pair panels of PackedLinear (linear/gemv.h, one k
// block) and read by its 12-row VDPBF16PS kernel. Rounding x and W to bfloat16 (nearest even,
// common/bf16.h) is part of the precision's contract; sums are float32.
//
// Each output's sum is one row of the kernel: the same k order whatever block, batch or
// thread count it comes in, so results are bit-identical across thread counts and batch splits.
#pragma once
#include <cstdint>

#include "common/aligned_buffer.h"
#include "common/shapes.h"

namespace pcn::conv {

class Bf16Conv2d {
 public:
  // Whether this machine can run it now (AVX512-BF16 CPU, avx512 tier, groups 1).
  static bool available(const Conv2dShape& s);
  // s.n ignored; w OIHW (oc, c, kh, kw), bias oc floats or null.
  Bf16Conv2d(const Conv2dShape& s, const float* w, const float* bias);
  // y (NCHW) = conv(bf16(x), bf16(w)) + bias, then ReLU if asked; x unrounded float32 NCHW.
  void forward(int64_t n, const float* x, float* y, bool relu) const;
  int64_t bytes() const;

 private:
  void forward_group(int64_t n, const float* x, float* y, bool relu) const;

  Conv2dShape s_;
  int64_t kdim_, ld2_, npad_;  // ld2_: patch row in bf16 pairs, (kdim + 1) / 2
  AlignedBuffer w_;            // bfloat16 pairs, PackedLinear's panel layout, one k block
  AlignedBuffer bias_;
  bool has_bias_ = false;
};

}  // namespace pcn::conv
