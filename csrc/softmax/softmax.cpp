// softmax / log_softmax along one axis.
#include "softmax/softmax.h"

#include <cmath>
#include <limits>

#include "activation/activation.h"
#include "common/threading.h"

namespace pcn::softmax {
namespace {

constexpr int64_t kWork = 16384;  // elements per parallel unit (roughly)
constexpr int64_t kBlock = 256;   // inner positions handled together when inner > 1

int64_t grain_for(int64_t elems_per_task) {
  if (elems_per_task < 1) elems_per_task = 1;
  int64_t g = kWork / elems_per_task;
  return g < 1 ? 1 : g;
}

// One contiguous row of c elements.
void row(const float* x, float* y, int64_t c, bool log, activation::Kernels::ExpFn exp_fn) {
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < c; ++j)
    if (x[j] > m) m = x[j];
  for (int64_t j = 0; j < c; ++j) y[j] = x[j] - m;
  exp_fn(y, y, c);
  double s = 0.0;
  for (int64_t j = 0; j < c; ++j) s += y[j];
  if (log) {
    const double ls = std::log(s);
    for (int64_t j = 0; j < c; ++j)
      y[j] = static_cast<float>((static_cast<double>(x[j]) - m) - ls);
  } else {
    const double inv = 1.0 / s;
    for (int64_t j = 0; j < c; ++j) y[j] = static_cast<float>(y[j] * inv);
  }
}

// Positions [j0, j0 + len) of every channel of one outer slice; stride between channels `inner`.
void block(const float* x, float* y, int64_t c, int64_t inner, int64_t len, bool log,
           activation::Kernels::ExpFn exp_fn) {
  float m[kBlock];
  double s[kBlock];
  for (int64_t j = 0; j < len; ++j) {
    m[j] = -std::numeric_limits<float>::infinity();
    s[j] = 0.0;
  }
  for (int64_t k = 0; k < c; ++k) {
    const float* xs = x + k * inner;
    for (int64_t j = 0; j < len; ++j)
      if (xs[j] > m[j]) m[j] = xs[j];
  }
  for (int64_t k = 0; k < c; ++k) {
    const float* xs = x + k * inner;
    float* ys = y + k * inner;
    for (int64_t j = 0; j < len; ++j) ys[j] = xs[j] - m[j];
    exp_fn(ys, ys, len);
    for (int64_t j = 0; j < len; ++j) s[j] += ys[j];
  }
  if (log) {
    for (int64_t j = 0; j < len; ++j) s[j] = std::log(s[j]);
    for (int64_t k = 0; k < c; ++k) {
      const float* xs = x + k * inner;
      float* ys = y + k * inner;
      for (int64_t j = 0; j < len; ++j)
        ys[j] = static_cast<float>((static_cast<double>(xs[j]) - m[j]) - s[j]);
    }
  } else {
    for (int64_t j = 0; j < len; ++j) s[j] = 1.0 / s[j];
    for (int64_t k = 0; k < c; ++k) {
      float* ys = y + k * inner;
      for (int64_t j = 0; j < len; ++j) ys[j] = static_cast<float>(ys[j] * s[j]);
    }
  }
}

void run(const float* x, float* y, const AxisShape& sh, bool log) {
  if (sh.outer <= 0 || sh.c <= 0 || sh.inner <= 0) return;
  const auto exp_fn = activation::kernels().exp;
  const int64_t c = sh.c, inner = sh.inner;
  if (inner == 1) {
    parallel_for(sh.outer, grain_for(c), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) row(x + o * c, y + o * c, c, log, exp_fn);
    });
    return;
  }
  const int64_t nb = (inner + kBlock - 1) / kBlock;
  const int64_t per_task = c * (inner < kBlock ? inner : kBlock);
  parallel_for(sh.outer * nb, grain_for(per_task), [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t o = t / nb, j0 = (t % nb) * kBlock;
      const int64_t len = inner - j0 < kBlock ? inner - j0 : kBlock;
      const int64_t off = o * c * inner + j0;
      block(x + off, y + off, c, inner, len, log, exp_fn);
    }
  });
}

}  // namespace

void softmax_forward(const float* x, float* y, const AxisShape& s) { run(x, y, s, false); }
void log_softmax_forward(const float* x, float* y, const AxisShape& s) { run(x, y, s, true); }

}  // namespace pcn::softmax
