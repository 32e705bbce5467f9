// AVX-512 average pooling rows for horizontal stride 1 or 2 (any kernel, padding, ceil_mode).
//
// Same block scheme as max_pool2d_avx512.cpp: 16 outputs per zmm, every output of a row in
// a vector block (windows clipped by the row get 0 in the columns outside it and their own
// divisor per lane), plain loads wherever they stay inside x, spill stores into this
// thread's next row, __mmask16 loads/stores only at the ends of the arrays, stride 2 split
// into even and odd columns by in-lane shuffles and put in order by one permute. Rows of
// fewer than 8 outputs, which the AVX2 tier leaves to the portable kernel, are one block.
// Each lane sums its window in row-major order starting from +0 (adding +0 for a column
// outside the row leaves any such sum unchanged: it is never -0) and divides by the same
// float divisor as the portable kernel, so the results are bit-identical to
// avg_pool2d_rows_ref (and to the AVX2 kernel). No shared inline helpers here.
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

// Stride 2 splits 32 loaded columns into even and odd ones with _mm512_shuffle_ps, which works
// within 128-bit lanes: register position p then holds output kScramble[p] of the block.
constexpr int kScramble[16] = {0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15};

// Lanes i in [0, 16) whose column start + i lies in [0, W).
inline __mmask16 cols_in_row(int64_t start, int64_t W) {
  const int64_t a = start < 0 ? -start : 0;
  const int64_t b = W - start;
  return static_cast<__mmask16>(first_lanes(b) & ~first_lanes(a));
}

// How a block reads its columns (see max_pool2d_avx512.cpp): plain loads where they stay
// inside x, CLIP replaces the columns outside the row by 0, GUARD masks every load.
enum Mode { kPlain = 0, kClip = 1, kGuard = 2 };

// Window sums of n (1..16) outputs whose windows start at column c (stride SW), in
// register order (kScramble for stride 2). tab: per kernel column the masks of the columns
// inside the row that stored lanes use (low 16 bits: the load at c+kx, high: at c+kx+16).
template <int SW, int MODE>
inline __m512 avg_sum(const float* xp, int64_t W, int64_t y_lo, int64_t y_hi, int64_t c, int kw,
                      const uint32_t* tab) {
  auto load = [&](const float* p, uint32_t k) {
    const __mmask16 m = static_cast<__mmask16>(k);
    if (MODE == kGuard) return _mm512_maskz_loadu_ps(m, p);
    if (MODE == kClip) return _mm512_maskz_mov_ps(m, _mm512_loadu_ps(p));
    return _mm512_loadu_ps(p);
  };
  __m512 sum = _mm512_setzero_ps();
  for (int64_t iy = y_lo; iy < y_hi; ++iy) {
    // May point before the row (left padding): those columns are masked off or replaced.
    const float* row = xp + iy * W + c;
    if (SW == 1) {
      for (int kx = 0; kx < kw; ++kx) sum = _mm512_add_ps(sum, load(row + kx, tab[kx]));
    } else {
      int kx = 0;
      for (; kx + 1 < kw; kx += 2) {
        const __m512 lo = load(row + kx, tab[kx]), hi = load(row + kx + 16, tab[kx] >> 16);
        sum = _mm512_add_ps(sum, _mm512_shuffle_ps(lo, hi, 0x88));
        sum = _mm512_add_ps(sum, _mm512_shuffle_ps(lo, hi, 0xDD));
      }
      if (kx < kw) {  // odd kernel width: the last column, even elements only
        const __m512 lo = load(row + kx, tab[kx]), hi = load(row + kx + 16, tab[kx] >> 16);
        sum = _mm512_add_ps(sum, _mm512_shuffle_ps(lo, hi, 0x88));
      }
    }
  }
  return sum;
}

template <int SW>
void avg_rows(const float* x, float* y, const Pool2dShape& s, bool cip, int64_t row_begin,
              int64_t row_end) {
  const int64_t H = s.h, W = s.w, OH = s.oh, OW = s.ow;
  const int64_t total = s.n * s.c * H * W;
  const int kw = static_cast<int>(s.kw);
  const int64_t reach = SW == 1 ? kw + 14 : kw + 30;  // last element a block's loads touch
  // Outputs [v_lo, v_hi) have windows that meet the row (all of them for valid arguments).
  int64_t v_lo = 0, v_hi = OW;
  while (v_lo < OW && v_lo * SW - s.pw + kw <= 0) ++v_lo;
  while (v_hi > v_lo && (v_hi - 1) * SW - s.pw >= W) --v_hi;
  // Blocks of 16 from v_lo, the same in every row. Per block: the masks, per register
  // position the horizontal factor of the divisor (1 in lanes that are not stored), and
  // whether a stored lane's window is clipped by the row. The divisor is row factor *
  // column factor, as window() computes it.
  const int64_t nb = (v_hi - v_lo + 15) / 16, stride = kw + 17;
  uint32_t* plan = nb > 0 ? new uint32_t[static_cast<size_t>(nb * stride)] : nullptr;
  for (int64_t b = 0; b < nb; ++b) {
    uint32_t* tab = plan + b * stride;
    const int64_t ox0 = v_lo + 16 * b, n = imin(16, v_hi - ox0), c = ox0 * SW - s.pw;
    tab[kw + 16] = c < 0 || c + (n - 1) * SW + kw - 1 > W - 1;
    for (int kx = 0; kx < kw; ++kx) {
      const bool odd_last = SW == 2 && (kw & 1) && kx == kw - 1;
      const int64_t need = SW == 1 ? n : 2 * n - (odd_last ? 1 : 0);
      const uint32_t lo = first_lanes(need) & cols_in_row(c + kx, W);
      const uint32_t hi = SW == 1 ? 0u : first_lanes(need - 16) & cols_in_row(c + kx + 16, W);
      tab[kx] = lo | (hi << 16);
    }
    for (int p = 0; p < 16; ++p) {
      const int64_t j = SW == 1 ? p : kScramble[p];
      int64_t f = 1;
      if (j < n) {
        const int64_t ws = c + j * SW, we = imin(ws + s.kw, W + s.pw);
        f = cip ? we - ws : imin(we, W) - imax(ws, 0);
      }
      tab[kw + p] = static_cast<uint32_t>(f);
    }
  }
  const __m512i order = _mm512_setr_epi32(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
  for (int64_t r = row_begin; r < row_end; ++r) {
    const int64_t plane = r / OH, oy = r - plane * OH;
    const float* xp = x + plane * H * W;
    float* yr = y + r * OW;
    // The row's window and divisor factor (the same for every output of the row).
    const Win wr = window(s, cip, oy, v_lo < OW ? v_lo : 0);
    const int64_t hs = oy * s.sh - s.ph, he = imin(hs + s.kh, s.h + s.ph);
    const int64_t fy = cip ? he - hs : wr.y_hi - wr.y_lo;
    if (wr.y_lo >= wr.y_hi || fy <= 0) {  // not for valid arguments
      for (int64_t ox = 0; ox < OW; ++ox) yr[ox] = avg_scalar(xp, W, window(s, cip, oy, ox));
      continue;
    }
    for (int64_t ox = 0; ox < v_lo; ++ox) yr[ox] = avg_scalar(xp, W, window(s, cip, oy, ox));
    const bool next_row_ours = r + 1 < row_end;
    const int64_t first = plane * H * W + wr.y_lo * W, last = plane * H * W + (wr.y_hi - 1) * W;
    for (int64_t b = 0; b < nb; ++b) {
      const uint32_t* tab = plan + b * stride;
      const int64_t ox0 = v_lo + 16 * b, n = imin(16, v_hi - ox0), c = ox0 * SW - s.pw;
      __m512 sum, divisor;
      if (first + c < 0 || last + c + reach >= total)
        sum = avg_sum<SW, kGuard>(xp, W, wr.y_lo, wr.y_hi, c, kw, tab);
      else if (tab[kw + 16])
        sum = avg_sum<SW, kClip>(xp, W, wr.y_lo, wr.y_hi, c, kw, tab);
      else
        sum = avg_sum<SW, kPlain>(xp, W, wr.y_lo, wr.y_hi, c, kw, tab);
      if (tab[kw + 16]) {
        // Per lane fy * fx, converted from the 64-bit product as static_cast<float> does.
        const __m256i fx0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tab + kw));
        const __m256i fx1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tab + kw + 8));
        const __m512i fyv = _mm512_set1_epi64(fy);
        const __m256 d0 =
            _mm512_cvtepi64_ps(_mm512_mullo_epi64(fyv, _mm512_maskz_cvtepu32_epi64(0xFF, fx0)));
        const __m256 d1 =
            _mm512_cvtepi64_ps(_mm512_mullo_epi64(fyv, _mm512_maskz_cvtepu32_epi64(0xFF, fx1)));
        divisor = _mm512_insertf32x8(_mm512_castps256_ps512(d0), d1, 1);
      } else {
        divisor = _mm512_set1_ps(static_cast<float>(fy * s.kw));
      }
      __m512 v = _mm512_div_ps(sum, divisor);
      if (SW == 2) v = _mm512_maskz_permutexvar_ps(0xFFFF, order, v);
      if (n == 16 || (next_row_ours && ox0 + 16 <= 2 * OW)) _mm512_storeu_ps(yr + ox0, v);
      else _mm512_mask_storeu_ps(yr + ox0, first_lanes(n), v);
    }
    for (int64_t ox = v_hi; ox < OW; ++ox) yr[ox] = avg_scalar(xp, W, window(s, cip, oy, ox));
  }
  delete[] plan;
}

}  // namespace

void avg_pool2d_rows_avx512(const float* x, float* y, const Pool2dShape& s,
                            bool count_include_pad, int64_t row_begin, int64_t row_end) {
  if (s.sw == 1) avg_rows<1>(x, y, s, count_include_pad, row_begin, row_end);
  else avg_rows<2>(x, y, s, count_include_pad, row_begin, row_end);
}

}  // namespace pcn::pool
