// AVX-512 max pooling rows for horizontal stride 1 or 2 (any kernel, padding, ceil_mode).
//
// One zmm holds 16 adjacent outputs of a row. The outputs whose windows lie inside the row
// are computed in blocks of 16 and one masked block for the rest (__mmask16 loads that read
// only columns some stored lane needs, masked stores), so the narrow rows of small feature
// maps (7 or 14 outputs) take one vector block instead of a scalar tail. Stride 2 loads 32
// columns and splits them into the even and odd columns with _mm512_permutex2var_ps, which
// leaves the 16 outputs in order. Border outputs whose windows are clipped by padding use
// a scalar loop. Every lane visits its window in row-major order with PyTorch's update rule
// (v > best || isnan(v)), so values, NaN payloads, zero signs and argmax indices are
// bit-identical to max_pool2d_rows_ref (and to the AVX2 kernel).
// Everything except the exported function stays in an anonymous namespace and no shared
// inline helper is used here (see docs/ARCHITECTURE.md).
#include <immintrin.h>

#include <cstdint>

#include "pool/pool.h"

namespace pcn::pool {
namespace {

inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }
inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }

// The first `avail` of 16 lanes (all for avail >= 16, none for avail <= 0).
inline __mmask16 first_lanes(int64_t avail) {
  if (avail >= 16) return static_cast<__mmask16>(0xFFFF);
  if (avail <= 0) return 0;
  return static_cast<__mmask16>((1u << avail) - 1u);
}

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

// Running maximum of 16 windows. Indices are tracked relative to each lane's first window
// element (the same code for every lane) and made absolute at the end. Starting from -inf
// with code 0 gives exactly the portable rule applied from the window's first element on.
template <bool IDX>
struct MaxAcc {
  __m512 m = _mm512_set1_ps(-__builtin_inff());
  __m512i code = _mm512_setzero_si512();
  inline void step(__m512 v, int32_t rel) {
    const __mmask16 isnan_v = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    if (IDX) {
      const __mmask16 take = _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ) | isnan_v;
      m = _mm512_mask_mov_ps(m, take, v);
      code = _mm512_mask_mov_epi32(code, take, _mm512_set1_epi32(rel));
    } else {
      // max_ps(v, m) = v > m ? v : m (m kept when either is NaN); then a NaN v wins. The
      // all-lanes maskz form is the plain vmaxps without GCC 12's false "__Y may be used
      // uninitialized" warning from _mm512_max_ps.
      m = _mm512_mask_mov_ps(_mm512_maskz_max_ps(0xFFFF, v, m), isnan_v, v);
    }
  }
};

// n (1..16) outputs whose windows start at column ix0 (stride SW) and lie inside the row.
// FULL (n == 16) loads whole vectors except the one load that would pass the last window;
// otherwise every load is masked to the columns up to the last one lane n-1 reads, so no
// read leaves the row (masked-off lanes read as 0 and feed only lanes that are not stored).
template <int SW, bool IDX, bool FULL>
inline void max_block(const float* xp, int64_t W, int64_t y_lo, int64_t y_hi, int64_t ix0,
                      int kw, int n, float* out, int32_t* out_idx) {
  // Last column read by lane n-1, relative to ix0.
  const int64_t last = static_cast<int64_t>(n - 1) * SW + kw - 1;
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  MaxAcc<IDX> acc;
  for (int64_t iy = y_lo; iy < y_hi; ++iy) {
    const float* row = xp + iy * W + ix0;
    const int32_t base = static_cast<int32_t>((iy - y_lo) * W);
    if (SW == 1) {
      for (int kx = 0; kx < kw; ++kx) {
        const __m512 v = FULL ? _mm512_loadu_ps(row + kx)
                              : _mm512_maskz_loadu_ps(first_lanes(last - kx + 1), row + kx);
        acc.step(v, base + kx);
      }
    } else {
      int kx = 0;
      for (; kx + 1 < kw; kx += 2) {
        const __m512 lo = FULL ? _mm512_loadu_ps(row + kx)
                               : _mm512_maskz_loadu_ps(first_lanes(last - kx + 1), row + kx);
        const __m512 hi = FULL ? _mm512_loadu_ps(row + kx + 16)
                               : _mm512_maskz_loadu_ps(first_lanes(last - kx - 15), row + kx + 16);
        acc.step(_mm512_permutex2var_ps(lo, even, hi), base + kx);
        acc.step(_mm512_permutex2var_ps(lo, odd, hi), base + kx + 1);
      }
      if (kx < kw) {  // odd kernel width: the last column, even lanes only
        // For n == 16 the second load's last column is one past lane 15's window.
        const __m512 lo = FULL ? _mm512_loadu_ps(row + kx)
                               : _mm512_maskz_loadu_ps(first_lanes(last - kx + 1), row + kx);
        const __m512 hi = _mm512_maskz_loadu_ps(first_lanes(last - kx - 15), row + kx + 16);
        acc.step(_mm512_permutex2var_ps(lo, even, hi), base + kx);
      }
    }
  }
  const __m512i lane_off =
      SW == 1 ? _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
              : even;
  const __mmask16 store = first_lanes(n);
  if (FULL) _mm512_storeu_ps(out, acc.m);
  else _mm512_mask_storeu_ps(out, store, acc.m);
  if (IDX) {
    const __m512i mi = _mm512_add_epi32(
        acc.code,
        _mm512_add_epi32(_mm512_set1_epi32(static_cast<int32_t>(y_lo * W + ix0)), lane_off));
    if (FULL) _mm512_storeu_si512(out_idx, mi);
    else _mm512_mask_storeu_epi32(out_idx, store, mi);
  }
}

template <int SW, bool IDX>
void max_rows(const float* x, float* y, int32_t* indices, const Pool2dShape& s,
              int64_t row_begin, int64_t row_end) {
  const int64_t H = s.h, W = s.w, OH = s.oh, OW = s.ow;
  const int kw = static_cast<int>(s.kw);
  // Outputs [ox_a, ox_e) have windows inside the row: ox*SW - pw >= 0 and
  // ox*SW - pw + kw - 1 <= W - 1.
  const int64_t ox_a = imin((s.pw + SW - 1) / SW, OW);
  const int64_t num = W - kw + s.pw;
  const int64_t ox_e = imax(ox_a, imin(num >= 0 ? num / SW + 1 : 0, OW));
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
    int64_t ox = 0;
    for (; ox < ox_a; ++ox) scalar(ox);
    if (y_lo < y_hi) {
      for (; ox + 16 <= ox_e; ox += 16)
        max_block<SW, IDX, true>(xp, W, y_lo, y_hi, ox * SW - s.pw, kw, 16, yr + ox,
                                 IDX ? ir + ox : nullptr);
      if (ox < ox_e) {
        max_block<SW, IDX, false>(xp, W, y_lo, y_hi, ox * SW - s.pw, kw,
                                  static_cast<int>(ox_e - ox), yr + ox, IDX ? ir + ox : nullptr);
        ox = ox_e;
      }
    }
    for (; ox < OW; ++ox) scalar(ox);
  }
}

}  // namespace

void max_pool2d_rows_avx512(const float* x, float* y, int32_t* indices, const Pool2dShape& s,
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
