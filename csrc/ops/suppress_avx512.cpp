// AVX-512 NMS row kernel: 8 boxes per step, the same double operations in the same order as
// the portable kernel (suppress.h); the tail runs masked, so there is no scalar copy.
#include <immintrin.h>

#include <cstring>

// GCC 12's AVX-512 intrinsics pass _mm512_undefined_pd() as the unused merge operand, which
// -Wmaybe-uninitialized reports at every inlined use (GCC bug 105593, fixed in GCC 13).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "ops/suppress.h"

namespace pcn::ops {
namespace {

void row_avx512(const double* a, const Columns& c, int64_t n, double threshold, uint8_t* sup) {
  const __m512d ax1 = _mm512_set1_pd(a[0]), ay1 = _mm512_set1_pd(a[1]);
  const __m512d ax2 = _mm512_set1_pd(a[2]), ay2 = _mm512_set1_pd(a[3]);
  const __m512d aarea = _mm512_set1_pd(a[4]), thr = _mm512_set1_pd(threshold);
  const __m512d zero = _mm512_setzero_pd(), one = _mm512_set1_pd(1.0);
  const __m128i ones = _mm_set1_epi8(1);
  for (int64_t j = 0; j < n; j += 8) {
    const int64_t left = n - j;
    const __mmask8 live = left >= 8 ? __mmask8(0xFF) : __mmask8((1u << left) - 1);
    // Lanes past the end load 0 and are masked out of the result.
    const __m512d l = _mm512_max_pd(_mm512_maskz_loadu_pd(live, c.x1 + j), ax1);
    const __m512d r = _mm512_min_pd(_mm512_maskz_loadu_pd(live, c.x2 + j), ax2);
    const __m512d t = _mm512_max_pd(_mm512_maskz_loadu_pd(live, c.y1 + j), ay1);
    const __m512d b = _mm512_min_pd(_mm512_maskz_loadu_pd(live, c.y2 + j), ay2);
    const __m512d iw = _mm512_max_pd(_mm512_sub_pd(r, l), zero);
    const __m512d ih = _mm512_max_pd(_mm512_sub_pd(b, t), zero);
    const __m512d inter = _mm512_mul_pd(iw, ih);
    __m512d uni = _mm512_sub_pd(_mm512_add_pd(aarea, _mm512_maskz_loadu_pd(live, c.area + j)), inter);
    uni = _mm512_mask_blend_pd(_mm512_cmp_pd_mask(uni, zero, _CMP_GT_OQ), one, uni);
    const __mmask8 over =
        _mm512_mask_cmp_pd_mask(live, _mm512_div_pd(inter, uni), thr, _CMP_GT_OQ);
    // One byte (0 or 1) per box, OR-ed into the 8 flags at once.
    const uint64_t add = static_cast<uint64_t>(_mm_cvtsi128_si64(_mm_maskz_mov_epi8(over, ones)));
    if (left >= 8) {
      uint64_t cur;
      std::memcpy(&cur, sup + j, 8);
      cur |= add;
      std::memcpy(sup + j, &cur, 8);
    } else {
      for (int64_t k = 0; k < left; ++k) sup[j + k] |= static_cast<uint8_t>((add >> (8 * k)) & 1);
    }
  }
}

}  // namespace

SuppressRow suppress_row_avx512() { return &row_avx512; }

}  // namespace pcn::ops
