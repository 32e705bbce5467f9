// AVX2 max pooling rows for horizontal stride 1 or 2 (any kernel, padding, ceil_mode).
//
// Blocks of 8 (or, in narrow rows, 4) outputs whose windows lie inside the row are computed
// with vector loads
// (stride 2: two loads deinterleaved by _mm256_shuffle_ps, re-ordered by one permute at the
// end); border outputs use a scalar loop. Both visit each window in row-major order with
// PyTorch's update rule (v > best || isnan(v)), so results (values, NaN payloads, indices,
// the sign of a zero maximum) are bit-identical to max_pool2d_rows_ref.
// Everything except the exported function stays in an anonymous namespace and no shared
// inline helper is used here (see docs/ARCHITECTURE.md).
#include <immintrin.h>

#include <cstdint>

#include "pool/pool.h"

namespace pcn::pool {
namespace {

inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }
inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }

// One output, clipped window, row-major: same rule as the portable kernel.
inline void max_scalar(const float* xp, int64_t W, int64_t y_lo, int64_t y_hi, int64_t x_lo,
                       int64_t x_hi, float* out, int32_t* out_idx) {
  if (y_lo >= y_hi || x_lo >= x_hi) {
    *out = -__builtin_inff();
    if (out_idx) *out_idx = 0;
    return;
  }
  int64_t best_i = y_lo * W + x_lo;
  float best = xp[best_i];
  for (int64_t iy = y_lo; iy < y_hi; ++iy) {
    const float* row = xp + iy * W;
    for (int64_t ix = x_lo; ix < x_hi; ++ix) {
      const float v = row[ix];
      if (v > best || v != v) {
        best = v;
        best_i = iy * W + ix;
      }
    }
  }
  *out = best;
  if (out_idx) *out_idx = static_cast<int32_t>(best_i);
}

// Running maximum of 8 windows. Indices are tracked relative to each lane's first window
// element (the same code for every lane) and made absolute at the end. Starting from -inf
// with code 0 gives exactly the portable rule applied from the window's first element on.
template <bool IDX>
struct MaxAcc {
  __m256 m = _mm256_set1_ps(-__builtin_inff());
  __m256i code = _mm256_setzero_si256();
  inline void step(__m256 v, int32_t rel) {
    const __m256 isnan_v = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
    if (IDX) {
      const __m256 take = _mm256_or_ps(_mm256_cmp_ps(v, m, _CMP_GT_OQ), isnan_v);
      m = _mm256_blendv_ps(m, v, take);
      code = _mm256_castps_si256(_mm256_blendv_ps(
          _mm256_castsi256_ps(code), _mm256_castsi256_ps(_mm256_set1_epi32(rel)), take));
    } else {
      // max_ps(v, m) = v > m ? v : m (m kept when either is NaN); then a NaN v wins.
      m = _mm256_blendv_ps(_mm256_max_ps(v, m), v, isnan_v);
    }
  }
};

// 8 outputs whose windows start at column ix0 (stride SW); every read is inside the row.
template <int SW, bool IDX>
inline void max_block(const float* xp, int64_t W, int64_t y_lo, int64_t y_hi, int64_t ix0,
                      int kw, __m256i lane_off, float* out, int32_t* out_idx) {
  MaxAcc<IDX> acc;
  for (int64_t iy = y_lo; iy < y_hi; ++iy) {
    const float* row = xp + iy * W + ix0;
    const int32_t base = static_cast<int32_t>((iy - y_lo) * W);
    if (SW == 1) {
      for (int kx = 0; kx < kw; ++kx) acc.step(_mm256_loadu_ps(row + kx), base + kx);
    } else {
      int kx = 0;
      for (; kx + 1 < kw; kx += 2) {
        const __m256 lo = _mm256_loadu_ps(row + kx), hi = _mm256_loadu_ps(row + kx + 8);
        acc.step(_mm256_shuffle_ps(lo, hi, 0x88), base + kx);
        acc.step(_mm256_shuffle_ps(lo, hi, 0xDD), base + kx + 1);
      }
      if (kx < kw) {  // odd kernel width: the last column
        __m256 v;
        if (kx >= 1) {  // odd lanes of a load one column earlier: no read past the window
          v = _mm256_shuffle_ps(_mm256_loadu_ps(row + kx - 1), _mm256_loadu_ps(row + kx + 7),
                                0xDD);
        } else {
          v = _mm256_shuffle_ps(_mm256_loadu_ps(row), _mm256_loadu_ps(row + 8), 0x88);
        }
        acc.step(v, base + kx);
      }
    }
  }
  __m256 m = acc.m;
  __m256i mi = _mm256_add_epi32(
      acc.code, _mm256_add_epi32(_mm256_set1_epi32(static_cast<int32_t>(y_lo * W + ix0)), lane_off));
  if (SW == 2) {  // lanes hold outputs 0,1,4,5 | 2,3,6,7
    m = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(m), 0xD8));
    if (IDX) mi = _mm256_permute4x64_epi64(mi, 0xD8);
  }
  _mm256_storeu_ps(out, m);
  if (IDX) _mm256_storeu_si256(reinterpret_cast<__m256i*>(out_idx), mi);
}

// The same for 4 outputs with 128-bit vectors: rows too narrow for 8-output blocks (a 2x2/2
// pool of a 14-wide map has 7 outputs per row) still avoid the scalar loop.
template <bool IDX>
struct MaxAcc4 {
  __m128 m = _mm_set1_ps(-__builtin_inff());
  __m128i code = _mm_setzero_si128();
  inline void step(__m128 v, int32_t rel) {
    const __m128 isnan_v = _mm_cmpunord_ps(v, v);
    if (IDX) {
      const __m128 take = _mm_or_ps(_mm_cmpgt_ps(v, m), isnan_v);
      m = _mm_blendv_ps(m, v, take);
      code = _mm_castps_si128(
          _mm_blendv_ps(_mm_castsi128_ps(code), _mm_castsi128_ps(_mm_set1_epi32(rel)), take));
    } else {
      m = _mm_blendv_ps(_mm_max_ps(v, m), v, isnan_v);
    }
  }
};

template <int SW, bool IDX>
inline void max_block4(const float* xp, int64_t W, int64_t y_lo, int64_t y_hi, int64_t ix0,
                       int kw, float* out, int32_t* out_idx) {
  MaxAcc4<IDX> acc;
  for (int64_t iy = y_lo; iy < y_hi; ++iy) {
    const float* row = xp + iy * W + ix0;
    const int32_t base = static_cast<int32_t>((iy - y_lo) * W);
    if (SW == 1) {
      for (int kx = 0; kx < kw; ++kx) acc.step(_mm_loadu_ps(row + kx), base + kx);
    } else {
      int kx = 0;
      for (; kx + 1 < kw; kx += 2) {
        const __m128 lo = _mm_loadu_ps(row + kx), hi = _mm_loadu_ps(row + kx + 4);
        acc.step(_mm_shuffle_ps(lo, hi, 0x88), base + kx);
        acc.step(_mm_shuffle_ps(lo, hi, 0xDD), base + kx + 1);
      }
      if (kx < kw) {
        __m128 v;
        if (kx >= 1) {
          v = _mm_shuffle_ps(_mm_loadu_ps(row + kx - 1), _mm_loadu_ps(row + kx + 3), 0xDD);
        } else {
          v = _mm_shuffle_ps(_mm_loadu_ps(row), _mm_loadu_ps(row + 4), 0x88);
        }
        acc.step(v, base + kx);
      }
    }
  }
  _mm_storeu_ps(out, acc.m);
  if (IDX) {
    const __m128i lane_off = SW == 1 ? _mm_setr_epi32(0, 1, 2, 3) : _mm_setr_epi32(0, 2, 4, 6);
    const __m128i mi = _mm_add_epi32(
        acc.code, _mm_add_epi32(_mm_set1_epi32(static_cast<int32_t>(y_lo * W + ix0)), lane_off));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out_idx), mi);
  }
}

template <int SW, bool IDX>
void max_rows(const float* x, float* y, int32_t* indices, const Pool2dShape& s,
              int64_t row_begin, int64_t row_end) {
  const int64_t H = s.h, W = s.w, OH = s.oh, OW = s.ow;
  const int kw = static_cast<int>(s.kw);
  // Last column a block reads, relative to its first window's start.
  const int64_t reach = SW == 1 ? kw + 6 : (kw == 1 ? 15 : kw + 13);
  const __m256i lane_off = SW == 1 ? _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)
                                   : _mm256_setr_epi32(0, 2, 8, 10, 4, 6, 12, 14);
  // Block starts ox need ox*SW - pw >= 0 and ox*SW - pw + reach <= W - 1.
  const int64_t ox_a = (s.pw + SW - 1) / SW;
  const int64_t num = W - 1 - reach + s.pw;
  const int64_t smax = imin(num >= 0 ? num / SW : -1, OW - 8);
  // The same for 4-output blocks.
  const int64_t reach4 = SW == 1 ? kw + 2 : (kw == 1 ? 7 : kw + 5);
  const int64_t num4 = W - 1 - reach4 + s.pw;
  const int64_t smax4 = imin(num4 >= 0 ? num4 / SW : -1, OW - 4);
  for (int64_t r = row_begin; r < row_end; ++r) {
    const int64_t plane = r / OH, oy = r - plane * OH;
    const float* xp = x + plane * H * W;
    float* yr = y + r * OW;
    int32_t* ir = IDX ? indices + r * OW : nullptr;
    const int64_t iy0 = oy * s.sh - s.ph;
    const int64_t y_lo = imax(iy0, 0), y_hi = imin(iy0 + s.kh, H);
    auto scalar = [&](int64_t ox) {
      const int64_t ix0 = ox * SW - s.pw;
      max_scalar(xp, W, y_lo, y_hi, imax(ix0, 0), imin(ix0 + kw, W), yr + ox,
                 IDX ? ir + ox : nullptr);
    };
    auto block = [&](int64_t ox) {
      max_block<SW, IDX>(xp, W, y_lo, y_hi, ox * SW - s.pw, kw, lane_off, yr + ox,
                         IDX ? ir + ox : nullptr);
    };
    auto block4 = [&](int64_t ox) {
      max_block4<SW, IDX>(xp, W, y_lo, y_hi, ox * SW - s.pw, kw, yr + ox, IDX ? ir + ox : nullptr);
    };
    int64_t ox = 0;
    for (const int64_t end = imin(ox_a, OW); ox < end; ++ox) scalar(ox);
    if (y_lo < y_hi && ox_a <= smax) {
      int64_t o = ox_a;
      for (; o <= smax; o += 8) block(o);
      if (o - 8 < smax) block(smax);  // overlapping last block: same values rewritten
      ox = smax + 8;
    } else if (y_lo < y_hi && ox_a <= smax4) {
      int64_t o = ox_a;
      for (; o <= smax4; o += 4) block4(o);
      if (o - 4 < smax4) block4(smax4);
      ox = smax4 + 4;
    }
    for (; ox < OW; ++ox) scalar(ox);
  }
}

}  // namespace

void max_pool2d_rows_avx2(const float* x, float* y, int32_t* indices, const Pool2dShape& s,
                          int64_t row_begin, int64_t row_end) {
  if (s.sw == 1) {
    if (indices) max_rows<1, true>(x, y, indices, s, row_begin, row_end);
    else max_rows<1, false>(x, y, indices, s, row_begin, row_end);
  } else {
    if (indices) max_rows<2, true>(x, y, indices, s, row_begin, row_end);
    else max_rows<2, false>(x, y, indices, s, row_begin, row_end);
  }
}

}  // namespace pcn::pool
