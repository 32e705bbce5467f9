// 1x1 convolutions (one group, no padding, any stride) frozen for serving: ResNet's
// bottleneck and projection layers. One GEMM per image, Y = W * X, with X the image itself
// (stride 1) or its every sh-th row and sw-th column gathered first (a strided 1x1
// convolution reads a quarter of the image, so gathering costs little next to the GEMM and
// lets it run as the stride-1 case instead of through the im2col packer).
//
// Threads take blocks of (image, columns, rows of W): at batch 1 on a 7x7 or 14x14 map there
// are only 2-7 column tiles, so the output channels are split too. At batch 1 the columns
// come in one band of output rows per thread (threading.h). Each output is the same
// sum (the GEMM's k blocks in order) whichever block computes it, so results do not depend on
// the thread count.
//
// forward() can accumulate into y (y += W * X + bias, then ReLU): a residual connection
// added inside the GEMM's epilogue instead of in a pass of its own.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "common/shapes.h"
#include "gemm/pack.h"

namespace pcn::conv {

class PointwiseConv {
 public:
  static bool applies(const Conv2dShape& s);
  // s.n is ignored. w (oc x c) and bias (oc floats or null) are copied.
  PointwiseConv(const Conv2dShape& s, const float* w, const float* bias);
  // y = (accumulate ? y : 0) + conv(x) + bias, then ReLU, for n images.
  void forward(int64_t n, const float* x, float* y, bool relu, bool accumulate) const;
  std::string algorithm() const;
  int64_t bytes() const;

 private:
  Conv2dShape s_;
  gemm::PackedA a_;
  std::vector<float> bias_;
};

}  // namespace pcn::conv
