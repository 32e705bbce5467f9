// Merge kernels (see merge.h): threaded element-wise passes and row-block copies.
#include "merge/merge.h"

#include <cstring>
#include <vector>

#include "common/threading.h"

namespace pcn::merge {

namespace {

// Elements per parallel chunk: large enough that a chunk costs more than handing it out.
constexpr int64_t kGrain = 16384;

template <class Op>
void fold(const float* const* xs, int64_t n_inputs, int64_t size, float* y, Op op) {
  parallel_for(size, kGrain, [&](int64_t b, int64_t e) {
    const float* x0 = xs[0];
    if (n_inputs == 1) {
      std::memcpy(y + b, x0 + b, sizeof(float) * static_cast<size_t>(e - b));
      return;
    }
    const float* x1 = xs[1];
    for (int64_t i = b; i < e; ++i) y[i] = op(x0[i], x1[i]);
    for (int64_t k = 2; k < n_inputs; ++k) {
      const float* xk = xs[k];
      for (int64_t i = b; i < e; ++i) y[i] = op(y[i], xk[i]);
    }
  });
}

// Copies `rows` rows of `width` floats between strided row blocks.
inline void copy_rows(const float* src, int64_t src_stride, float* dst, int64_t dst_stride, int64_t rows,
                      int64_t width) {
  const size_t bytes = sizeof(float) * static_cast<size_t>(width);
  for (int64_t r = 0; r < rows; ++r) std::memcpy(dst + r * dst_stride, src + r * src_stride, bytes);
}

// Splits `outer` rows into chunks of about kGrain floats each (rows are never split, so each
// output float is written by exactly one chunk).
inline int64_t row_grain(int64_t total) {
  return total >= kGrain ? 1 : kGrain / (total > 0 ? total : 1);
}

}  // namespace

void add_forward(const float* const* xs, int64_t n_inputs, int64_t size, float* y) {
  fold(xs, n_inputs, size, y, [](float a, float b) { return a + b; });
}

void multiply_forward(const float* const* xs, int64_t n_inputs, int64_t size, float* y) {
  fold(xs, n_inputs, size, y, [](float a, float b) { return a * b; });
}

void multiply_backward(const float* g, const float* const* xs, int64_t n_inputs, int64_t skip,
                       int64_t size, float* dx) {
  parallel_for(size, kGrain, [&](int64_t b, int64_t e) {
    std::memcpy(dx + b, g + b, sizeof(float) * static_cast<size_t>(e - b));
    for (int64_t k = 0; k < n_inputs; ++k) {
      if (k == skip) continue;
      const float* xk = xs[k];
      for (int64_t i = b; i < e; ++i) dx[i] *= xk[i];
    }
  });
}

void concat_forward(const float* const* xs, const int64_t* widths, int64_t n_inputs, int64_t outer,
                    float* y) {
  std::vector<int64_t> offset(static_cast<size_t>(n_inputs) + 1, 0);
  for (int64_t k = 0; k < n_inputs; ++k) offset[k + 1] = offset[k] + widths[k];
  const int64_t total = offset[n_inputs];
  parallel_for(outer, row_grain(total), [&](int64_t b, int64_t e) {
    for (int64_t k = 0; k < n_inputs; ++k)
      copy_rows(xs[k] + b * widths[k], widths[k], y + b * total + offset[k], total, e - b, widths[k]);
  });
}

void concat_backward(const float* g, const int64_t* widths, int64_t n_inputs, int64_t outer,
                     float* const* dxs) {
  std::vector<int64_t> offset(static_cast<size_t>(n_inputs) + 1, 0);
  for (int64_t k = 0; k < n_inputs; ++k) offset[k + 1] = offset[k] + widths[k];
  const int64_t total = offset[n_inputs];
  parallel_for(outer, row_grain(total), [&](int64_t b, int64_t e) {
    for (int64_t k = 0; k < n_inputs; ++k)
      copy_rows(g + b * total + offset[k], total, dxs[k] + b * widths[k], widths[k], e - b, widths[k]);
  });
}

}  // namespace pcn::merge
