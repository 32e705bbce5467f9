#include "linear/linear.h"

#include "common/threading.h"
#include "gemm/sgemm.h"

namespace pcn::linear {

void linear_forward(int64_t n, int64_t in, int64_t out, const float* x, const float* w,
                    const float* bias, float* y, bool relu) {
  // B = W^T: element (k, j) is w[j * in + k].
  gemm::sgemm(n, out, in, {x, in, 1}, {w, 1, in}, y, out, false, {nullptr, bias, relu});
}

void linear_backward(int64_t n, int64_t in, int64_t out, const float* x, const float* w,
                     const float* dy, float* dx, float* dw, float* db) {
  if (dx) gemm::sgemm(n, in, out, {dy, out, 1}, {w, in, 1}, dx, in, false, {});
  // dW = dY^T X: one GEMM whose k loop runs over the batch in order.
  if (dw) gemm::sgemm(out, in, n, {dy, 1, out}, {x, in, 1}, dw, in, false, {});
  if (db) {
    parallel_for(out, 64, [&](int64_t j0, int64_t j1) {
      for (int64_t j = j0; j < j1; ++j) db[j] = 0.0f;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = j0; j < j1; ++j) db[j] += dy[i * out + j];
    });
  }
}

}  // namespace pcn::linear
