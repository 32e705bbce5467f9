// 2-D convolution, NCHW, weights OIHW (PyTorch layout). Shapes are validated by the caller.
#pragma once
#include <vector>

#include "common/shapes.h"
#include "conv/conv_plan.h"
#include "conv/direct_ukernel.h"
#include "conv/im2col_inplace.h"
#include "gemm/pack.h"

namespace pcn::conv {

// 1x1, stride 1, no padding: the image itself is the GEMM operand, no gather needed.
inline bool is_pointwise(const Conv2dShape& s) {
  return s.kh == 1 && s.kw == 1 && s.sh == 1 && s.sw == 1 && s.pt == 0 && s.pl == 0 &&
         s.pb == 0 && s.pr == 0;
}

// y = conv(x, w) + bias (optional), then relu (optional). y has shape (n, oc, oh, ow).
void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                    float* y, bool relu);

// The forward algorithm of a shape (choose_algorithm, conv_plan.h, on the tier current now)
// with the kernels of that tier, read once: a tier switched meanwhile (set_isa from another
// thread) cannot pair one tier's weight layout with another's kernels.
struct ForwardPlan {
  Algo algo;
  const DirectUkernels* direct = nullptr;  // algo == direct
  InplaceGemmFn inplace = nullptr;         // algo == im2col_in_place
};
ForwardPlan plan_forward(const Conv2dShape& s);
// The kernels for a forward algorithm already chosen (a serving pass that took forward's).
ForwardPlan plan_forward(Algo algo);

// The weights of each group as the GEMM paths read them (A = W_g, ocg x kdim).
std::vector<gemm::PackedA> pack_gemm_weights(const Conv2dShape& s, const float* w);

// conv2d_forward with the plan given and, optionally, weights packed beforehand for it:
// packed_taps (direct: pack_direct_taps with plan.direct) or packed_a (GEMM paths:
// pack_gemm_weights). Null means pack in this call.
void conv2d_forward_with(const Conv2dShape& s, const ForwardPlan& plan, const float* x, const float* w,
                         const float* packed_taps, const std::vector<gemm::PackedA>* packed_a,
                         const float* bias, float* y, bool relu);

// Gradients of y = conv(x, w) + b for the upstream gradient dy. Any output pointer may be
// null (not wanted). dx and db are overwritten; dw is overwritten.
void conv2d_backward(const Conv2dShape& s, const float* x, const float* w, const float* dy,
                     float* dx, float* dw, float* db);

}  // namespace pcn::conv
