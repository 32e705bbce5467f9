// Greedy non-maximum suppression, plain and per class (rules in boxes.h).
#include <algorithm>
#include <numeric>

#include "common/threading.h"
#include "ops/boxes.h"
#include "ops/iou.h"
#include "ops/suppress.h"

namespace pcn::ops {
namespace {

// Indices by decreasing score; stable_sort keeps equal scores in increasing index order.
std::vector<int64_t> score_order(const float* scores, int64_t n) {
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), int64_t(0));
  std::stable_sort(order.begin(), order.end(),
                   [scores](int64_t a, int64_t b) { return scores[a] > scores[b]; });
  return order;
}

// NMS over boxes already in visiting order (rows of `c`); keep[k] = 1 for kept rows.
void greedy(const BoxColumns& c, int64_t n, double threshold, uint8_t* keep) {
  const SuppressRow row = suppress_row();
  std::vector<uint8_t> suppressed(n, 0);
  uint8_t* sup = suppressed.data();
  for (int64_t i = 0; i < n; ++i) {
    if (sup[i]) continue;
    keep[i] = 1;
    const double a[5] = {c.x1[i], c.y1[i], c.x2[i], c.y2[i], c.area[i]};
    // Every later box, suppressed or not (marking one again changes nothing): a branch-free
    // pass over contiguous columns.
    const int64_t k = i + 1;
    const Columns rest{c.x1.data() + k, c.y1.data() + k, c.x2.data() + k, c.y2.data() + k,
                       c.area.data() + k};
    row(a, rest, n - k, threshold, sup + k);
  }
}

}  // namespace

std::vector<int64_t> nms(const float* boxes, const float* scores, int64_t n, double iou_threshold) {
  const std::vector<int64_t> order = score_order(scores, n);
  const BoxColumns cols(boxes, n, order.data());
  std::vector<uint8_t> keep(n, 0);
  greedy(cols, n, iou_threshold, keep.data());
  std::vector<int64_t> kept;
  for (int64_t k = 0; k < n; ++k)
    if (keep[k]) kept.push_back(order[k]);
  return kept;
}

std::vector<int64_t> batched_nms(const float* boxes, const float* scores, const int64_t* classes,
                                 int64_t n, double iou_threshold) {
  const std::vector<int64_t> order = score_order(scores, n);
  // Visiting positions grouped by class, each group still in visiting order (stable sort), so
  // each class runs the plain greedy pass on its own boxes only.
  std::vector<int64_t> pos(n);
  std::iota(pos.begin(), pos.end(), int64_t(0));
  std::stable_sort(pos.begin(), pos.end(), [&](int64_t a, int64_t b) {
    return classes[order[a]] < classes[order[b]];
  });
  std::vector<int64_t> starts;  // group k is pos[starts[k] .. starts[k + 1])
  for (int64_t k = 0; k < n; ++k)
    if (k == 0 || classes[order[pos[k]]] != classes[order[pos[k - 1]]]) starts.push_back(k);
  starts.push_back(n);
  const int64_t groups = static_cast<int64_t>(starts.size()) - 1;

  // keep is indexed by visiting position; every position belongs to one class, so each byte is
  // written by one thread and the result does not depend on the thread count.
  std::vector<uint8_t> keep(n, 0);
  parallel_for_dynamic(groups, 1, [&](int64_t g0, int64_t g1) {
    for (int64_t g = g0; g < g1; ++g) {
      const int64_t b = starts[g], len = starts[g + 1] - b;
      std::vector<int64_t> idx(len);
      for (int64_t k = 0; k < len; ++k) idx[k] = order[pos[b + k]];
      const BoxColumns cols(boxes, len, idx.data());
      std::vector<uint8_t> kg(len, 0);
      greedy(cols, len, iou_threshold, kg.data());
      for (int64_t k = 0; k < len; ++k) keep[pos[b + k]] = kg[k];
    }
  });
  std::vector<int64_t> kept;
  for (int64_t k = 0; k < n; ++k)
    if (keep[k]) kept.push_back(order[k]);
  return kept;
}

}  // namespace pcn::ops
