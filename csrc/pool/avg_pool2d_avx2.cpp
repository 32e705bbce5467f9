// AVX2 average pooling rows for horizontal stride 1 or 2 (any kernel, padding, ceil_mode).
//
// Same block scheme as max_pool2d_avx2.cpp. Each lane sums its window in row-major order
// starting from 0 and divides by the same float divisor as the portable kernel, so the
// results are bit-identical to avg_pool2d_rows_ref. No shared inline helpers here.
#include <immintrin.h>

#include <cstdint>

#include "pool/pool.h"

namespace pcn::pool {
namespace {

inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }
inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }

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

template <int SW>
inline void avg_block(const float* xp, int64_t W, int64_t y_lo, int64_t y_hi, int64_t ix0,
                      int kw, float divisor, float* out) {
  __m256 sum = _mm256_setzero_ps();
  for (int64_t iy = y_lo; iy < y_hi; ++iy) {
    const float* row = xp + iy * W + ix0;
    if (SW == 1) {
      for (int kx = 0; kx < kw; ++kx) sum = _mm256_add_ps(sum, _mm256_loadu_ps(row + kx));
    } else {
      int kx = 0;
      for (; kx + 1 < kw; kx += 2) {
        const __m256 lo = _mm256_loadu_ps(row + kx), hi = _mm256_loadu_ps(row + kx + 8);
        sum = _mm256_add_ps(sum, _mm256_shuffle_ps(lo, hi, 0x88));
        sum = _mm256_add_ps(sum, _mm256_shuffle_ps(lo, hi, 0xDD));
      }
      if (kx < kw) {
        __m256 v;
        if (kx >= 1) {
          v = _mm256_shuffle_ps(_mm256_loadu_ps(row + kx - 1), _mm256_loadu_ps(row + kx + 7),
                                0xDD);
        } else {
          v = _mm256_shuffle_ps(_mm256_loadu_ps(row), _mm256_loadu_ps(row + 8), 0x88);
        }
        sum = _mm256_add_ps(sum, v);
      }
    }
  }
  __m256 r = _mm256_div_ps(sum, _mm256_set1_ps(divisor));
  if (SW == 2) r = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(r), 0xD8));
  _mm256_storeu_ps(out, r);
}

template <int SW>
void avg_rows(const float* x, float* y, const Pool2dShape& s, bool cip, int64_t row_begin,
              int64_t row_end) {
  const int64_t H = s.h, W = s.w, OH = s.oh, OW = s.ow;
  const int kw = static_cast<int>(s.kw);
  const int64_t reach = SW == 1 ? kw + 6 : (kw == 1 ? 15 : kw + 13);
  const int64_t ox_a = (s.pw + SW - 1) / SW;
  const int64_t num = W - 1 - reach + s.pw;
  const int64_t smax = imin(num >= 0 ? num / SW : -1, OW - 8);
  for (int64_t r = row_begin; r < row_end; ++r) {
    const int64_t plane = r / OH, oy = r - plane * OH;
    const float* xp = x + plane * H * W;
    float* yr = y + r * OW;
    int64_t ox = 0;
    for (const int64_t end = imin(ox_a, OW); ox < end; ++ox) yr[ox] = avg_scalar(xp, W, window(s, cip, oy, ox));
    if (ox_a <= smax) {
      // Interior blocks: full kernel width, the same vertical extent for every lane.
      const Win w = window(s, cip, oy, ox_a);
      if (w.y_lo < w.y_hi && w.divisor > 0) {
        const float divisor = static_cast<float>(w.divisor);
        int64_t o = ox_a;
        for (; o <= smax; o += 8) avg_block<SW>(xp, W, w.y_lo, w.y_hi, o * SW - s.pw, kw, divisor, yr + o);
        if (o - 8 < smax) avg_block<SW>(xp, W, w.y_lo, w.y_hi, smax * SW - s.pw, kw, divisor, yr + smax);
        ox = smax + 8;
      }
    }
    for (; ox < OW; ++ox) yr[ox] = avg_scalar(xp, W, window(s, cip, oy, ox));
  }
}

}  // namespace

void avg_pool2d_rows_avx2(const float* x, float* y, const Pool2dShape& s, bool count_include_pad,
                          int64_t row_begin, int64_t row_end) {
  if (s.sw == 1) avg_rows<1>(x, y, s, count_include_pad, row_begin, row_end);
  else avg_rows<2>(x, y, s, count_include_pad, row_begin, row_end);
}

}  // namespace pcn::pool
