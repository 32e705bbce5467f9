// Cross-entropy on logits (N, C) with integer class targets: per-sample losses and the gradient.
#include <cmath>
#include <limits>
#include <vector>

#include "activation/activation.h"
#include "common/threading.h"
#include "softmax/softmax.h"

namespace pcn::softmax {
namespace {

int64_t row_grain(int64_t c) {
  int64_t g = 16384 / (c < 1 ? 1 : c);
  return g < 1 ? 1 : g;
}

// Writes exp(x - max) into e and returns (max, sum) with the sum in double.
void exp_row(const float* x, float* e, int64_t c, activation::Kernels::ExpFn exp_fn, float& m,
             double& s) {
  m = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < c; ++j)
    if (x[j] > m) m = x[j];
  for (int64_t j = 0; j < c; ++j) e[j] = x[j] - m;
  exp_fn(e, e, c);
  s = 0.0;
  for (int64_t j = 0; j < c; ++j) s += e[j];
}

}  // namespace

void cross_entropy_forward(const float* logits, const int64_t* target, float* loss, int64_t n,
                           int64_t c) {
  if (n <= 0) return;
  const auto exp_fn = activation::kernels().exp;
  parallel_for(n, row_grain(c), [&](int64_t b, int64_t e) {
    std::vector<float> buf(static_cast<size_t>(c));
    for (int64_t i = b; i < e; ++i) {
      const float* x = logits + i * c;
      float m;
      double s;
      exp_row(x, buf.data(), c, exp_fn, m, s);
      loss[i] = static_cast<float>((static_cast<double>(m) - x[target[i]]) + std::log(s));
    }
  });
}

void cross_entropy_backward(const float* logits, const int64_t* target, double scale, float* grad,
                            int64_t n, int64_t c) {
  if (n <= 0 || c <= 0) return;
  const auto exp_fn = activation::kernels().exp;
  parallel_for(n, row_grain(c), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const float* x = logits + i * c;
      float* g = grad + i * c;
      float m;
      double s;
      exp_row(x, g, c, exp_fn, m, s);
      const double inv = 1.0 / s;
      const int64_t t = target[i];
      for (int64_t j = 0; j < c; ++j)
        g[j] = static_cast<float>((g[j] * inv - (j == t ? 1.0 : 0.0)) * scale);
    }
  });
}

}  // namespace pcn::softmax
