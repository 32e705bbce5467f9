// db = sum of dY over images and positions, in a fixed order.
#include "common/threading.h"
#include "conv/conv2d_grad.h"

namespace pcn::conv {

namespace {

// Sum of n floats in a fixed order that still vectorises: 16 interleaved partial sums (lane j
// takes elements j, j + 16, ...), combined pairwise at the end. Float addition is not
// associative, so the order is part of the contract; it depends only on n.
float lane_sum(const float* p, int64_t n) {
  constexpr int L = 16;
  float part[L] = {};
  int64_t i = 0;
  for (; i + L <= n; i += L)
    for (int j = 0; j < L; ++j) part[j] += p[i + j];
  for (int j = 0; i + j < n; ++j) part[j] += p[i + j];
  for (int w = L / 2; w > 0; w /= 2)
    for (int j = 0; j < w; ++j) part[j] += part[j + w];
  return part[0];
}

}  // namespace

void conv2d_grad_bias(const Conv2dShape& s, const float* dy, float* db) {
  const int64_t ohw = s.oh * s.ow;
  parallel_for_each(s.oc, [&](int64_t o) {
    double acc = 0.0;  // fixed order: images in order, each image's plane by lane_sum
    for (int64_t b = 0; b < s.n; ++b) acc += lane_sum(dy + (b * s.oc + o) * ohw, ohw);
    db[o] = static_cast<float>(acc);
  });
}

}  // namespace pcn::conv
