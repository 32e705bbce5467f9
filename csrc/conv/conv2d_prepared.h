// Convolution weights frozen for serving: packed once, at construction, for the algorithm
// the plan chooses (conv_plan.h, pass serve_fp32 or serve_bf16) or the caller names, on the ISA
// tier current then,
// with that tier's kernels (kept: a tier switched later does not change a frozen layer).
// Where the plan picks Winograd, results differ from conv2d_forward's by rounding (a few 1e-6
// of the output scale, within the serving contract's 1e-4), which is why training does not
// use it. bf16_dot (bf16 serving on CPUs with AVX512-BF16) rounds x itself; under the other
// algorithms the caller rounds x and w to bfloat16 and the float32 kernels run on them
// (exact products).
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/aligned_buffer.h"
#include "common/cpu_features.h"
#include "common/shapes.h"
#include "conv/conv2d.h"
#include "conv/conv2d_bf16.h"
#include "conv/conv2d_trim.h"
#include "conv/winograd.h"
#include "gemm/pack.h"

namespace pcn::conv {

class PreparedConv2d {
 public:
  // s.n is ignored. w (OIHW) and bias (oc floats or null) are copied. The algorithm is `algo`
  // when given (one that covers the shape, see ServingConv), else the plan's at batch 1.
  PreparedConv2d(const Conv2dShape& s, const float* w, const float* bias, bool bf16 = false,
                 std::optional<Algo> algo = std::nullopt);
  // y = conv(x) + bias (then ReLU) for n images.
  void forward(int64_t n, const float* x, float* y, bool relu) const;
  std::string algorithm() const;
  int64_t bytes() const;
  const Conv2dShape& shape() const { return s_; }
  // True when the bfloat16 kernel runs: it rounds x to bfloat16 itself.
  bool rounds_input() const { return bf16_ != nullptr; }

 private:
  Conv2dShape s_;
  std::optional<TrimmedConv> trim_;  // set when the padding dwarfs the input (conv2d_trim.h)
  Conv2dShape run_;                  // the shape the kernels run: trim_->s or s_
  ForwardPlan plan_{};
  std::unique_ptr<Bf16Conv2d> bf16_;  // set when the bfloat16 kernel runs
  std::unique_ptr<WinogradWeights> winograd_;  // set when Winograd (either variant) runs
  const WinogradKernels* winograd_kernels_ = nullptr;
  Isa isa_;
  std::vector<float> w_, bias_;  // w_: what the depthwise kernel reads
  AlignedBuffer taps_;                 // direct
  std::vector<gemm::PackedA> packed_;  // GEMM paths
};

}  // namespace pcn::conv
