// The inner loop of greedy NMS, one kept box against every later box, per ISA tier:
//   sup[j] |= iou(a, box j) > threshold      for j in [0, n)
// with the IoU formula of boxes.h evaluated in double in exactly the same order on every tier
// (min/max, then iw * ih, then (area_a + area_j) - inter, then one division; no FMA: the ops
// files are built with -ffp-contract=off), so every tier makes the same decisions.
#pragma once
#include <cstdint>

namespace pcn::ops {

// a = {x1, y1, x2, y2, area} of the kept box; the other boxes are given column-wise.
struct Columns {
  const double *x1, *y1, *x2, *y2, *area;
};
using SuppressRow = void (*)(const double* a, const Columns& c, int64_t n, double threshold,
                             uint8_t* sup);

SuppressRow suppress_row_ref();
#ifdef PCN_HAVE_AVX2
SuppressRow suppress_row_avx2();
#endif
#ifdef PCN_HAVE_AVX512
SuppressRow suppress_row_avx512();
#endif

// The tier's kernel for current_isa().
SuppressRow suppress_row();

}  // namespace pcn::ops
