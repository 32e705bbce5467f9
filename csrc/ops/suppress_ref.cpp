// Portable NMS row kernel and the tier selection (formula and rules in suppress.h).
#include "common/cpu_features.h"
#include "ops/iou.h"
#include "ops/suppress.h"

namespace pcn::ops {
namespace {

void row_ref(const double* a, const Columns& c, int64_t n, double threshold, uint8_t* sup) {
  const BoxD box{a[0], a[1], a[2], a[3], a[4]};
  for (int64_t j = 0; j < n; ++j)
    sup[j] |= static_cast<uint8_t>(iou(box, c.x1[j], c.y1[j], c.x2[j], c.y2[j], c.area[j]) > threshold);
}

}  // namespace

SuppressRow suppress_row_ref() { return &row_ref; }

SuppressRow suppress_row() {
  [[maybe_unused]] const Isa isa = current_isa();
#ifdef PCN_HAVE_AVX512
  if (isa == Isa::avx512) return suppress_row_avx512();
#endif
#ifdef PCN_HAVE_AVX2
  if (isa >= Isa::avx2) return suppress_row_avx2();
#endif
  return &row_ref;
}

}  // namespace pcn::ops
