// Backward convolution (Darknet/Caffe algebra), per group g and image b:
//   dX_b = col2im(W_g^T * dY_b)        dW_g = sum_b dY_b * im2col(X_b)^T        db = sum dY
// The gradients live in conv2d_grad_{input,weight,bias}.cpp; this file picks the paths.
#include <algorithm>
#include <vector>

#include "conv/conv2d.h"
#include "conv/conv2d_grad.h"
#include "conv/conv2d_trim.h"
#include "conv/depthwise.h"

namespace pcn::conv {

namespace {

void backward_as_is(const Conv2dShape& s, const float* x, const float* w, const float* dy,
                    float* dx, float* dw, float* db) {
  const int64_t ohw = s.oh * s.ow;
  if (db) {
    if (s.n == 0 || ohw == 0) std::fill(db, db + s.oc, 0.0f);
    else conv2d_grad_bias(s, dy, db);
  }
  if (s.n == 0 || ohw == 0 || s.oc == 0) {
    if (dx) std::fill(dx, dx + s.n * s.c * s.h * s.w, 0.0f);
    if (dw) std::fill(dw, dw + s.oc * s.kdim(), 0.0f);
    return;
  }
  const Isa isa = current_isa();
  const Algo dx_algo = choose_algorithm(s, isa, Pass::grad_input);
  if (dx_algo == Algo::depthwise) {  // dx and dw in one pass (the rule of both passes)
    depthwise_backward(s, x, w, dy, dx, dw);
    return;
  }
  if (dx) conv2d_grad_input(s, dx_algo, w, dy, dx);
  if (dw) conv2d_grad_weight(s, choose_algorithm(s, isa, Pass::grad_weight), x, dy, dw);
}

}  // namespace

void conv2d_backward(const Conv2dShape& s, const float* x, const float* w, const float* dy,
                     float* dx, float* dw, float* db) {
  const auto t = trim_taps(s);
  if (!t) {
    backward_as_is(s, x, w, dy, dx, dw, db);
    return;
  }
  if (t->no_taps) {  // y = bias: only db depends on dy
    if (db) conv2d_grad_bias(s, dy, db);
    if (dx) std::fill(dx, dx + s.n * s.c * s.h * s.w, 0.0f);
    if (dw) std::fill(dw, dw + s.oc * s.kdim(), 0.0f);
    return;
  }
  const std::vector<float> wt = trimmed_weights(s, *t, w);
  std::vector<float> xt, dxt, dwt;
  if (t->crop) xt = cropped_input(s, *t, x);
  if (dx && t->crop) dxt.resize(static_cast<size_t>(s.n * s.c * t->s.h * t->s.w));
  if (dw) dwt.resize(wt.size());
  backward_as_is(t->s, t->crop ? xt.data() : x, wt.data(), dy, t->crop ? (dx ? dxt.data() : nullptr) : dx,
                 dw ? dwt.data() : nullptr, db);
  expand_gradients(s, *t, t->crop ? dxt.data() : nullptr, t->crop ? dx : nullptr,
                   dw ? dwt.data() : nullptr, dw);
}

}  // namespace pcn::conv
