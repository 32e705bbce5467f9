// Portable LRN kernels (lrn.h states the definitions). Work is split over (image, pixel block)
// pairs: each output depends only on its own pixel column, computed in a fixed channel order.
#include "lrn/lrn.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/threading.h"

namespace pcn::lrn {
namespace {

// Pixels per work item: a block of a plane, small enough to keep a column of channels in L2.
constexpr int64_t kPixelBlock = 256;

template <class F>
void over_blocks(const LrnShape& sh, F&& fn) {
  const int64_t blocks = (sh.hw + kPixelBlock - 1) / kPixelBlock;
  parallel_for(sh.n * blocks, 1, [&](int64_t b, int64_t e) {
    for (int64_t item = b; item < e; ++item) {
      const int64_t img = item / blocks;
      const int64_t p0 = (item % blocks) * kPixelBlock;
      fn(img, p0, std::min(sh.hw, p0 + kPixelBlock));
    }
  });
}

}  // namespace

void lrn_forward(const float* x, float* y, float* s, const LrnShape& sh) {
  if (sh.n <= 0 || sh.c <= 0 || sh.hw <= 0) return;
  const int64_t front = sh.size / 2, back = (sh.size - 1) / 2;
  const double scale = static_cast<double>(sh.alpha) / static_cast<double>(sh.size);
  const double nbeta = -static_cast<double>(sh.beta);
  over_blocks(sh, [&](int64_t img, int64_t p0, int64_t p1) {
    const int64_t base = img * sh.c * sh.hw;
    for (int64_t c = 0; c < sh.c; ++c) {
      const int64_t lo = std::max<int64_t>(0, c - front), hi = std::min<int64_t>(sh.c - 1, c + back);
      for (int64_t p = p0; p < p1; ++p) {
        double acc = 0.0;
        for (int64_t cc = lo; cc <= hi; ++cc) {
          const double v = x[base + cc * sh.hw + p];
          acc += v * v;
        }
        const double sv = static_cast<double>(sh.k) + scale * acc;
        const int64_t i = base + c * sh.hw + p;
        y[i] = static_cast<float>(static_cast<double>(x[i]) * std::pow(sv, nbeta));
        if (s) s[i] = static_cast<float>(sv);
      }
    }
  });
}

void lrn_backward(const float* x, const float* y, const float* s, const float* grad_y, float* dx,
                  const LrnShape& sh) {
  if (sh.n <= 0 || sh.c <= 0 || sh.hw <= 0) return;
  const int64_t front = sh.size / 2, back = (sh.size - 1) / 2;
  const double coef = 2.0 * static_cast<double>(sh.alpha) * static_cast<double>(sh.beta) /
                      static_cast<double>(sh.size);
  const double nbeta = -static_cast<double>(sh.beta);
  over_blocks(sh, [&](int64_t img, int64_t p0, int64_t p1) {
    const int64_t base = img * sh.c * sh.hw;
    const int64_t w = p1 - p0;
    // t[c] = grad_y * y / s for this block, one row per channel.
    std::vector<double> t(static_cast<size_t>(sh.c * w));
    for (int64_t c = 0; c < sh.c; ++c)
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t i = base + c * sh.hw + p;
        t[c * w + (p - p0)] = static_cast<double>(grad_y[i]) * y[i] / s[i];
      }
    for (int64_t c = 0; c < sh.c; ++c) {
      // window(c'') holds c for c'' in [c - back, c + front]
      const int64_t lo = std::max<int64_t>(0, c - back), hi = std::min<int64_t>(sh.c - 1, c + front);
      for (int64_t p = p0; p < p1; ++p) {
        double acc = 0.0;
        for (int64_t cc = lo; cc <= hi; ++cc) acc += t[cc * w + (p - p0)];
        const int64_t i = base + c * sh.hw + p;
        dx[i] = static_cast<float>(static_cast<double>(grad_y[i]) * std::pow(static_cast<double>(s[i]), nbeta) -
                                   coef * static_cast<double>(x[i]) * acc);
      }
    }
  });
}

}  // namespace pcn::lrn
