// The convolution a serving step runs: the algorithm the plan picks for the shape
// (conv::choose_algorithm, pass serve_fp32 or serve_bf16; the serving rules and their
// measurements are in conv/conv_plan.cpp), run for float32 by drivers made for serving:
// - 1x1 layers without padding whose algorithm is a GEMM: PointwiseConv
//   (conv/pointwise_prepared.h; strided ones gather the image first, which for 1x1 is the
//   im2col), which can accumulate a residual into its output;
// - the direct algorithm on undilated shapes with padding narrower than the kernel: the
//   direct kernels, split by output-channel panels (conv/direct_panels.h, which can take a
//   residual into the output) for 1x1 layers and on maps of up to 14x14 outputs with large
//   weights, and by output rows otherwise; 1x1 layers on larger maps keep a PointwiseConv
//   for batches above 1;
// - everything else, and bf16: PreparedConv2d (conv/conv2d_prepared.h).
// Where the plan picks another algorithm for small batches than for larger ones
// (conv::choose_serving: Winograd F(2x2, 3x3) at batches 1-2 for 3x3 layers on small maps),
// both are kept and each batch runs its own.
#pragma once
#include <memory>
#include <optional>
#include <string>

#include "common/aligned_buffer.h"
#include "common/shapes.h"
#include "conv/conv2d_prepared.h"
#include "conv/conv_plan.h"
#include "conv/direct_panels.h"
#include "conv/direct_ukernel.h"
#include "conv/pointwise_prepared.h"

namespace pcn::infer {

class ServingConv {
 public:
  // With `algo`, float32 layers run that algorithm at every batch instead of the plan's
  // choice (benchmarks and tests); it must cover the shape (std::invalid_argument otherwise):
  // winograd and winograd_f2 3x3 stride-1 undilated layers with one group, direct layers with
  // 4+ input and 16+ output channels, one group, no dilation and padding narrower than the
  // kernel, and the other algorithms as PreparedConv2d runs them.
  ServingConv(const Conv2dShape& s, const float* w, const float* bias, bool bf16,
              std::optional<conv::Algo> algo = std::nullopt);
  // y = (accumulate ? y : 0) + conv(x) + bias, then ReLU; accumulate only where
  // can_accumulate().
  void forward(int64_t n, const float* x, float* y, bool relu, bool accumulate = false) const;
  bool can_accumulate() const;
  // Whether x must be rounded to bfloat16 by the caller (bf16 serving on float32 kernels).
  bool needs_rounded_input() const { return bf16_ && !(prepared_ && prepared_->rounds_input()); }
  std::string algorithm() const;
  int64_t bytes() const;

 private:
  // Sets up the path of `algo` (float32); PreparedConv2d runs it when `named`, else asks the
  // plan itself.
  void build(conv::Algo algo, bool named, const float* w, const float* bias);
  void make_direct(const float* w, const float* bias);

  Conv2dShape s_;
  bool bf16_;
  // Batches up to small_batch_ run small_, when set (the plan's choice for small batches).
  std::unique_ptr<conv::PreparedConv2d> small_;
  int64_t small_batch_ = 0;
  std::unique_ptr<conv::PointwiseConv> pointwise_;
  std::unique_ptr<conv::PreparedConv2d> prepared_;
  const conv::DirectUkernels* direct_ = nullptr;  // the direct path's kernels and its taps
  AlignedBuffer taps_;
  int64_t direct_batch_ = 0;  // with prepared_ or pointwise_ too: batches up to this run direct
  std::unique_ptr<conv::DirectPanels> panels_;  // the direct path split by output-channel panels
  std::vector<float> bias_;
};

}  // namespace pcn::infer
