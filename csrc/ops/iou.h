// The one IoU formula shared by box_iou and nms (see boxes.h), on double coordinates.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

namespace pcn::ops {

struct BoxD {
  double x1, y1, x2, y2, area;
  static BoxD from(const float* p) {
    const double x1 = p[0], y1 = p[1], x2 = p[2], y2 = p[3];
    return {x1, y1, x2, y2, (x2 - x1) * (y2 - y1)};
  }
};

// Boxes stored column-wise (structure of arrays) in a chosen order, so the loops over the
// other boxes read contiguous columns (the SIMD tiers load them as vectors).
struct BoxColumns {
  std::vector<double> x1, y1, x2, y2, area;
  BoxColumns(const float* boxes, int64_t n) : BoxColumns(boxes, n, nullptr) {}
  // Row k holds boxes[order[k]] (or boxes[k] when order is null).
  BoxColumns(const float* boxes, int64_t n, const int64_t* order)
      : x1(n), y1(n), x2(n), y2(n), area(n) {
    for (int64_t k = 0; k < n; ++k) {
      const BoxD b = BoxD::from(boxes + 4 * (order ? order[k] : k));
      x1[k] = b.x1, y1[k] = b.y1, x2[k] = b.x2, y2[k] = b.y2, area[k] = b.area;
    }
  }
};

inline double iou(const BoxD& a, double bx1, double by1, double bx2, double by2, double barea) {
  const double iw = std::max(0.0, std::min(a.x2, bx2) - std::max(a.x1, bx1));
  const double ih = std::max(0.0, std::min(a.y2, by2) - std::max(a.y1, by1));
  const double inter = iw * ih;
  const double uni = a.area + barea - inter;
  // uni == 0 only for two zero-area boxes, where inter == 0 too: dividing by 1 then gives the
  // defined 0 without a conditional division, which keeps the loops vectorisable.
  return inter / (uni > 0.0 ? uni : 1.0);
}

}  // namespace pcn::ops
