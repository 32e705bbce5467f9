// AVX-512 average pooling rows for horizontal stride 1 or 2 (any kernel, padding, ceil_mode).
//
// Same block scheme as max_pool2d_avx512.cpp: 16 outputs per zmm, full blocks plus one
// __mmask16-masked block for the rest of the outputs whose windows lie inside the row (so
// rows of 4..15 outputs are vectorised too), stride 2 split into even/odd columns with
// _mm512_permutex2var_ps; clipped border windows take the scalar loop. Each lane sums its
// window in row-major order starting from 0 and divides by the same float divisor as the
// portable kernel, so the results are bit-identical to avg_pool2d_rows_ref (and AVX2).
// No shared inline helpers here.
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

struct Win {
  int64_t y_lo, y_hi, x_lo, x_hi, divisor;
};

inline Win window(const Pool2dShape& s, bool cip, int64_t oy, int64_t ox) {
  Win w;
  const int64_t hs = oy * s.sh - s.ph, ws = ox * s.sw - s.pw;
  const int64_t he = imin(hs + s.kh, s.h + s.ph), we = imin(ws + s.kw, s.w + s.pw);
  const int64_t padded = (he - hs) * (we - ws);
  w.y_lo = imax(hs, 0);
  w.x_lo = imax(ws, 0);
  w.y_hi = imin(he, s.h);
  w.x_hi = imin(we, s.w);
  w.divisor = cip ? padded : (w.y_hi - w.y_lo) * (w.x_hi - w.x_lo);
  return w;
}

inline float avg_scalar(const float* xp, int64_t W, const Win& w) {
  if (w.y_lo >= w.y_hi || w.x_lo >= w.x_hi || w.divisor <= 0) return 0.0f;
  float sum = 0.0f;
  for (int64_t iy = w.y_lo; iy < w.y_hi; ++iy)
    for (int64_t ix = w.x_lo; ix < w.x_hi; ++ix) sum += xp[iy * W + ix];
  return sum / static_cast<float>(w.divisor);
}

// n (1..16) outputs whose windows start at column ix0 (stride SW) and lie inside the row;
// masking as in max_pool2d_avx512.cpp (no read past the last column lane n-1 needs).
template <int SW, bool FULL>
inline void avg_block(const float* xp, int64_t W, int64_t y_lo, int64_t y_hi, int64_t ix0,
                      int kw, int n, float divisor, float* out) {
  const int64_t last = static_cast<int64_t>(n - 1) * SW + kw - 1;
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  __m512 sum = _mm512_setzero_ps();
  for (int64_t iy = y_lo; iy < y_hi; ++iy) {
    const float* row = xp + iy * W + ix0;
    if (SW == 1) {
      for (int kx = 0; kx < kw; ++kx) {
        const __m512 v = FULL ? _mm512_loadu_ps(row + kx)
                              : _mm512_maskz_loadu_ps(first_lanes(last - kx + 1), row + kx);
        sum = _mm512_add_ps(sum, v);
      }
    } else {
      int kx = 0;
      for (; kx + 1 < kw; kx += 2) {
        const __m512 lo = FULL ? _mm512_loadu_ps(row + kx)
                               : _mm512_maskz_loadu_ps(first_lanes(last - kx + 1), row + kx);
        const __m512 hi = FULL ? _mm512_loadu_ps(row + kx + 16)
                               : _mm512_maskz_loadu_ps(first_lanes(last - kx - 15), row + kx + 16);
        sum = _mm512_add_ps(sum, _mm512_permutex2var_ps(lo, even, hi));
        sum = _mm512_add_ps(sum, _mm512_permutex2var_ps(lo, odd, hi));
      }
      if (kx < kw) {  // odd kernel width: the last column, even lanes only
        const __m512 lo = FULL ? _mm512_loadu_ps(row + kx)
                               : _mm512_maskz_loadu_ps(first_lanes(last - kx + 1), row + kx);
        const __m512 hi = _mm512_maskz_loadu_ps(first_lanes(last - kx - 15), row + kx + 16);
        sum = _mm512_add_ps(sum, _mm512_permutex2var_ps(lo, even, hi));
      }
    }
  }
  const __m512 r = _mm512_div_ps(sum, _mm512_set1_ps(divisor));
  if (FULL) _mm512_storeu_ps(out, r);
  else _mm512_mask_storeu_ps(out, first_lanes(n), r);
}

template <int SW>
void avg_rows(const float* x, float* y, const Pool2dShape& s, bool cip, int64_t row_begin,
              int64_t row_end) {
  const int64_t H = s.h, W = s.w, OH = s.oh, OW = s.ow;
  const int kw = static_cast<int>(s.kw);
  // Outputs [ox_a, ox_e) have windows inside the row (see max_pool2d_avx512.cpp).
  const int64_t ox_a = imin((s.pw + SW - 1) / SW, OW);
  const int64_t num = W - kw + s.pw;
  const int64_t ox_e = imax(ox_a, imin(num >= 0 ? num / SW + 1 : 0, OW));
  for (int64_t r = row_begin; r < row_end; ++r) {
    const int64_t plane = r / OH, oy = r - plane * OH;
    const float* xp = x + plane * H * W;
    float* yr = y + r * OW;
    int64_t ox = 0;
    for (; ox < ox_a; ++ox) yr[ox] = avg_scalar(xp, W, window(s, cip, oy, ox));
    if (ox_a < ox_e) {
      // Interior windows: full kernel width, the same rows and divisor for every lane.
      const Win w = window(s, cip, oy, ox_a);
      if (w.y_lo < w.y_hi && w.divisor > 0) {
        const float divisor = static_cast<float>(w.divisor);
        for (; ox + 16 <= ox_e; ox += 16)
          avg_block<SW, true>(xp, W, w.y_lo, w.y_hi, ox * SW - s.pw, kw, 16, divisor, yr + ox);
        if (ox < ox_e) {
          avg_block<SW, false>(xp, W, w.y_lo, w.y_hi, ox * SW - s.pw, kw,
                               static_cast<int>(ox_e - ox), divisor, yr + ox);
          ox = ox_e;
        }
      }
    }
    for (; ox < OW; ++ox) yr[ox] = avg_scalar(xp, W, window(s, cip, oy, ox));
  }
}

}  // namespace

void avg_pool2d_rows_avx512(const float* x, float* y, const Pool2dShape& s,
                            bool count_include_pad, int64_t row_begin, int64_t row_end) {
  if (s.sw == 1) avg_rows<1>(x, y, s, count_include_pad, row_begin, row_end);
  else avg_rows<2>(x, y, s, count_include_pad, row_begin, row_end);
}

}  // namespace pcn::pool
