// Box operations with torchvision's semantics. A box is (x1, y1, x2, y2) with x1 <= x2 and
// y1 <= y2 (checked by the caller, as are finite coordinates and non-NaN scores).
//
//   area(b)      = (x2 - x1) * (y2 - y1)
//   inter(a, b)  = max(0, min(a.x2, b.x2) - max(a.x1, b.x1)) * max(0, min(a.y2, b.y2) - max(a.y1, b.y1))
//   iou(a, b)    = inter / (area(a) + area(b) - inter), and 0 when that union is 0 (two
//                  zero-area boxes; torchvision gives 0/0 = NaN there, which never suppresses)
// Everything is computed in double from the float32 coordinates, so the decision iou > t does
// not depend on float32 rounding of the intermediate products.
//
// nms: visit boxes by decreasing score (equal scores: lower index first, a stable order); keep
// a box unless a kept box overlaps it with iou > iou_threshold. batched_nms does the same within
// each class only. Both return the kept indices in visiting order.
#pragma once
#include <cstdint>
#include <vector>

namespace pcn::ops {

// out (n, m) float32: iou(a[i], b[j]); a is (n, 4), b is (m, 4).
void box_iou(const float* a, int64_t n, const float* b, int64_t m, float* out);

std::vector<int64_t> nms(const float* boxes, const float* scores, int64_t n, double iou_threshold);

std::vector<int64_t> batched_nms(const float* boxes, const float* scores, const int64_t* classes,
                                 int64_t n, double iou_threshold);

}  // namespace pcn::ops
