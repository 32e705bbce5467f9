// One plane per work item, scanned in order: the same bits for every thread count.
#include "pool/global_max_pool2d.h"

#include <algorithm>
#include <cmath>

#include "common/threading.h"

namespace pcn::pool {

void global_max_pool2d_forward(const float* x, float* y, int64_t* index, int64_t planes, int64_t hw) {
  if (planes <= 0 || hw <= 0) return;
  const int64_t grain = std::max<int64_t>(1, 32768 / hw);
  parallel_for(planes, grain, [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      const float* xp = x + p * hw;
      int64_t best = 0;
      float m = xp[0];
      if (!std::isnan(m)) {
        for (int64_t i = 1; i < hw; ++i) {
          const float v = xp[i];
          if (std::isnan(v)) {
            best = i;
            m = v;
            break;
          }
          if (v > m) {
            m = v;
            best = i;
          }
        }
      }
      y[p] = m;
      if (index) index[p] = best;
    }
  });
}

void global_max_pool2d_backward(const float* grad_y, const int64_t* index, float* dx, int64_t planes,
                                int64_t hw) {
  if (planes <= 0 || hw <= 0) return;
  const int64_t grain = std::max<int64_t>(1, 32768 / hw);
  parallel_for(planes, grain, [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      std::fill(dx + p * hw, dx + (p + 1) * hw, 0.0f);
      dx[p * hw + index[p]] = grad_y[p];
    }
  });
}

}  // namespace pcn::pool
