// Global average pooling: one mean per (n, c) plane, summed in a fixed order that every tier
// keeps (the AVX-512 kernel, global_avg_pool2d_avx512.cpp, runs several planes side by side), so
// all tiers and thread counts give the same bits.
#include <algorithm>

#include "common/cpu_features.h"
#include "common/threading.h"
#include "pool/pool.h"

namespace pcn::pool {

void global_avg_pool2d_planes_ref(const float* x, float* y, int64_t plane_begin, int64_t plane_end,
                                  int64_t hw) {
  for (int64_t p = plane_begin; p < plane_end; ++p) {
    const float* xp = x + p * hw;
    // Eight float lanes over blocks of 256 elements (the compiler vectorises the lanes;
    // each lane's order is fixed), block sums added in double: fast and accurate.
    double total = 0.0;
    int64_t i = 0;
    while (i < hw) {
      const int64_t end = std::min<int64_t>(hw, i + 256);
      float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      for (; i + 8 <= end; i += 8)
        for (int j = 0; j < 8; ++j) lane[j] += xp[i + j];
      double block = 0.0;
      for (int j = 0; j < 8; ++j) block += lane[j];
      for (; i < end; ++i) block += xp[i];
      total += block;
    }
    y[p] = static_cast<float>(total / static_cast<double>(hw));
  }
}

void global_avg_pool2d_forward(const float* x, float* y, int64_t planes, int64_t hw) {
  if (planes <= 0) return;
  auto kernel = &global_avg_pool2d_planes_ref;
#ifdef PCN_HAVE_AVX512
  if (current_isa() == Isa::avx512) kernel = &global_avg_pool2d_planes_avx512;
#endif
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, hw));
  parallel_for(planes, grain, [&](int64_t b, int64_t e) { kernel(x, y, b, e, hw); });
}

void global_avg_pool2d_backward(const float* grad_y, float* dx, int64_t planes, int64_t hw) {
  if (planes <= 0) return;
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, hw));
  parallel_for(planes, grain, [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      const float v = static_cast<float>(static_cast<double>(grad_y[p]) / static_cast<double>(hw));
      std::fill(dx + p * hw, dx + (p + 1) * hw, v);
    }
  });
}

}  // namespace pcn::pool
