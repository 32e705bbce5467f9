// Pairwise IoU of two box sets (formulas in boxes.h).
#include <algorithm>

#include "common/threading.h"
#include "ops/boxes.h"
#include "ops/iou.h"

namespace pcn::ops {

void box_iou(const float* a, int64_t n, const float* b, int64_t m, float* out) {
  if (n == 0 || m == 0) return;
  // b as columns in double, once, so each row's loop reads five contiguous arrays.
  const BoxColumns cols(b, m);
  // About 16k pairs per chunk: enough work to pay for waking a thread. Each output row is
  // written by one thread, so the result does not depend on the split.
  const int64_t grain = std::max<int64_t>(1, 16384 / m);
  parallel_for(n, grain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const BoxD ai = BoxD::from(a + 4 * i);
      float* __restrict row = out + i * m;
      const double *x1 = cols.x1.data(), *y1 = cols.y1.data(), *x2 = cols.x2.data(),
                   *y2 = cols.y2.data(), *area = cols.area.data();
      for (int64_t j = 0; j < m; ++j)
        row[j] = static_cast<float>(iou(ai, x1[j], y1[j], x2[j], y2[j], area[j]));
    }
  });
}

}  // namespace pcn::ops
