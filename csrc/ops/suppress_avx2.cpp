// AVX2 NMS row kernel: 4 boxes per step, the same double operations in the same order as the
// portable kernel (suppress.h), so the same decisions; the tail is the scalar formula, written
// here again so no inline helper is shared with the portable build.
#include <immintrin.h>

#include "ops/suppress.h"

namespace pcn::ops {
namespace {

double iou_scalar(const double* a, const Columns& c, int64_t j) {
  const double l = c.x1[j] > a[0] ? c.x1[j] : a[0], r = c.x2[j] < a[2] ? c.x2[j] : a[2];
  const double t = c.y1[j] > a[1] ? c.y1[j] : a[1], b = c.y2[j] < a[3] ? c.y2[j] : a[3];
  const double iw = r - l > 0.0 ? r - l : 0.0, ih = b - t > 0.0 ? b - t : 0.0;
  const double inter = iw * ih;
  const double uni = a[4] + c.area[j] - inter;
  return inter / (uni > 0.0 ? uni : 1.0);
}

void row_avx2(const double* a, const Columns& c, int64_t n, double threshold, uint8_t* sup) {
  const __m256d ax1 = _mm256_set1_pd(a[0]), ay1 = _mm256_set1_pd(a[1]);
  const __m256d ax2 = _mm256_set1_pd(a[2]), ay2 = _mm256_set1_pd(a[3]);
  const __m256d aarea = _mm256_set1_pd(a[4]), thr = _mm256_set1_pd(threshold);
  const __m256d zero = _mm256_setzero_pd(), one = _mm256_set1_pd(1.0);
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    const __m256d l = _mm256_max_pd(_mm256_loadu_pd(c.x1 + j), ax1);
    const __m256d r = _mm256_min_pd(_mm256_loadu_pd(c.x2 + j), ax2);
    const __m256d t = _mm256_max_pd(_mm256_loadu_pd(c.y1 + j), ay1);
    const __m256d b = _mm256_min_pd(_mm256_loadu_pd(c.y2 + j), ay2);
    const __m256d iw = _mm256_max_pd(_mm256_sub_pd(r, l), zero);
    const __m256d ih = _mm256_max_pd(_mm256_sub_pd(b, t), zero);
    const __m256d inter = _mm256_mul_pd(iw, ih);
    __m256d uni = _mm256_sub_pd(_mm256_add_pd(aarea, _mm256_loadu_pd(c.area + j)), inter);
    uni = _mm256_blendv_pd(one, uni, _mm256_cmp_pd(uni, zero, _CMP_GT_OQ));
    const int bits = _mm256_movemask_pd(_mm256_cmp_pd(_mm256_div_pd(inter, uni), thr, _CMP_GT_OQ));
    for (int k = 0; k < 4; ++k) sup[j + k] |= static_cast<uint8_t>((bits >> k) & 1);
  }
  for (; j < n; ++j) sup[j] |= static_cast<uint8_t>(iou_scalar(a, c, j) > threshold);
}

}  // namespace

SuppressRow suppress_row_avx2() { return &row_avx2; }

}  // namespace pcn::ops
