// The convolution a serving step runs, chosen once per shape at freeze time among:
// - PointwiseConv (conv/pointwise_prepared.h) for 1x1 layers without padding (float32) on
//   maps larger than 14x14 (8x8 when strided): it can accumulate a residual into its output;
// - the direct path for 1x1 layers on smaller maps (measurements in serving_conv.cpp);
// - the direct path for strided layers on 2-3 input channels (a ResNet's 7x7 stride-2
//   stem): measured 1.8x (7x7 s2 3->64 at 224, batch 1 and 8) and 1.6-2.4x (3x3 and 5x5
//   s2) over the im2col GEMM that conv2d_forward picks for them (direct_conv.cpp keeps 4+
//   channels as its rule for training, where its measurements were made at stride 1, and
//   im2col in place, its choice for stride 1, cannot run a stride along x);
// - the direct path on maps of up to 14x14 outputs where PreparedConv2d would run it too,
//   but with threads splitting output-channel panels (conv/direct_panels.h);
// - PreparedConv2d (conv/conv2d_prepared.h) for everything else; where that is Winograd with
//   large weights, the direct path too, for batches of 1-2 (serving_conv.cpp).
#pragma once
#include <memory>
#include <string>

#include "common/aligned_buffer.h"
#include "common/shapes.h"
#include "conv/conv2d_prepared.h"
#include "conv/direct_ukernel.h"
#include "conv/pointwise_prepared.h"

namespace pcn::infer {

class ServingConv {
 public:
  ServingConv(const Conv2dShape& s, const float* w, const float* bias, bool bf16);
  // y = (accumulate ? y : 0) + conv(x) + bias, then ReLU; accumulate only where
  // can_accumulate().
  void forward(int64_t n, const float* x, float* y, bool relu, bool accumulate = false) const;
  bool can_accumulate() const { return pointwise_ != nullptr; }
  // Whether x must be rounded to bfloat16 by the caller (bf16 serving on float32 kernels).
  bool needs_rounded_input() const { return bf16_ && !(prepared_ && prepared_->rounds_input()); }
  std::string algorithm() const;
  int64_t bytes() const;

 private:
  Conv2dShape s_;
  bool bf16_;
  std::unique_ptr<conv::PointwiseConv> pointwise_;
  std::unique_ptr<conv::PreparedConv2d> prepared_;
  const conv::DirectUkernels* direct_ = nullptr;  // the direct path's kernels and its taps
  AlignedBuffer taps_;
  int64_t direct_batch_ = 0;  // with prepared_ too: batches up to this run direct
  std::vector<float> bias_;
};

}  // namespace pcn::infer
