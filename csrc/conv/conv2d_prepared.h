// Convolution weights frozen for serving: packed once, at construction, for the algorithm
// conv2d_forward chooses for this shape (choose_forward) on the ISA current then.
#pragma once
#include <string>
#include <vector>

#include "common/aligned_buffer.h"
#include "common/cpu_features.h"
#include "common/shapes.h"
#include "conv/conv2d.h"
#include "gemm/pack.h"

namespace pcn::conv {

class PreparedConv2d {
 public:
  // s.n is ignored. w (OIHW) and bias (oc floats or null) are copied.
  PreparedConv2d(const Conv2dShape& s, const float* w, const float* bias);
  // y = conv(x) + bias (then ReLU) for n images. Should the ISA have been switched since
  // construction (pcn::set_isa), the packed layout no longer fits the kernels and the
  // weights are packed again in the call.
  void forward(int64_t n, const float* x, float* y, bool relu) const;
  std::string algorithm() const;
  int64_t bytes() const;
  const Conv2dShape& shape() const { return s_; }

 private:
  Conv2dShape s_;
  ForwardAlgo algo_;
  Isa isa_;
  std::vector<float> w_, bias_;
  AlignedBuffer taps_;                 // direct
  std::vector<gemm::PackedA> packed_;  // GEMM paths
};

}  // namespace pcn::conv
