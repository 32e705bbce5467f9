// Softmax family. An array is viewed as (outer, C, inner) around the reduction axis.
//
//   softmax(x)_c     = exp(x_c - m) / S,            m = max_c x_c, S = sum_c exp(x_c - m)
//   log_softmax(x)_c = (x_c - m) - log(S)           (in double, rounded once to float)
//   cross_entropy_i  = (m - x_{i, t_i}) + log(S)     per sample, logits (N, C)
//   d cross_entropy  = (softmax(x_i) - onehot(t_i)) * scale
// Subtracting the maximum keeps every exponent <= 0, so huge logits cannot overflow. S is
// accumulated in double in the fixed order c = 0..C-1. exp runs through the activation
// family's ISA table (activation::kernels().exp). A row holding NaN, or +inf, or only -inf gives
// NaN, as in PyTorch. Work is split over rows (and blocks of `inner`), never inside a sum, so
// results are identical for every thread count.
#pragma once
#include <cstdint>

namespace pcn::softmax {

struct AxisShape {
  int64_t outer, c, inner;
};

void softmax_forward(const float* x, float* y, const AxisShape& s);
void log_softmax_forward(const float* x, float* y, const AxisShape& s);

// target[i] must be in [0, c) (checked by the caller).
void cross_entropy_forward(const float* logits, const int64_t* target, float* loss, int64_t n,
                           int64_t c);
void cross_entropy_backward(const float* logits, const int64_t* target, double scale, float* grad,
                            int64_t n, int64_t c);

}  // namespace pcn::softmax
