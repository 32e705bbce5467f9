// AVX-512 max pooling rows for horizontal stride 1 or 2 (any kernel, padding, ceil_mode).
//
// One zmm holds 16 adjacent outputs of a row, and every output of a row whose window meets
// the input is computed in 16-output blocks: windows clipped by the row (left padding, the
// right edge, ceil_mode overhang) get -inf in the columns outside the row, so padded 3x3/2
// pools and the short rows of small maps (7 or 14 outputs) have no scalar border loop, which
// is where the AVX2 kernel spends most of its time on such shapes. The per-block __mmask16
// column masks and first-column offsets depend only on the block and the kernel column, so
// they are tabulated once per call. Masked loads and stores cost measurably more than plain
// ones on this core when the data comes from L2/L3 (about 15% and 10% on a 28x28 2x2/2
// pool), so loads are plain wherever the whole vector lies inside x (elements beyond the row
// feed only lanes that are not stored, or are replaced by -inf with a register blend), and a
// short last block stores 16 lanes when the spill lands in the next row of this thread's
// range (computed, so overwritten, right after); masked loads/stores are kept for blocks at
// the ends of the arrays. Stride 2 splits 32 loaded columns into even and odd ones with two
// in-lane _mm512_shuffle_ps and puts the 16 outputs in order with one permute at the end.
// Every lane visits its window in row-major order with PyTorch's update rule
// (v > best || isnan(v)) starting from (-inf, the window's first element inside the row); a
// -inf fill never wins, so values, NaN payloads, zero signs and argmax indices are
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

// Running maximum of 16 windows. Indices are tracked relative to each lane's window start
// (row y_lo, column c + lane * SW; the same code for every lane) and made absolute at the
// end. Starting from -inf with the code of the window's first element inside the row gives
// exactly the portable rule applied from that element on.
// Without indices the NaNs are kept apart: m = max_ps(v, m) (v > m ? v : m: ties keep the
// earlier element, a NaN v is skipped, so m never holds a NaN) and nan = the last NaN seen;
// a lane with a NaN ends as that NaN, as the portable rule gives. This keeps the loop-carried
// chain of m to one vmaxps per element, which is what bounds small windows.
template <bool IDX>
struct MaxAcc {
  __m512 m = _mm512_set1_ps(-__builtin_inff());
  __m512 nan = _mm512_setzero_ps();
  __m512i code = _mm512_setzero_si512();
  inline void step(__m512 v, int32_t rel) {
    const __mmask16 isnan_v = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    if (IDX) {
      const __mmask16 take = _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ) | isnan_v;
      m = _mm512_mask_mov_ps(m, take, v);
      code = _mm512_mask_mov_epi32(code, take, _mm512_set1_epi32(rel));
    } else {
      // The all-lanes maskz form is the plain vmaxps without GCC 12's false "__Y may be used
      // uninitialized" warning from _mm512_max_ps.
      m = _mm512_maskz_max_ps(0xFFFF, v, m);
      nan = _mm512_mask_mov_ps(nan, isnan_v, v);
    }
  }
  inline __m512 result() const {
    if (IDX) return m;
    return _mm512_mask_mov_ps(m, _mm512_cmp_ps_mask(nan, nan, _CMP_UNORD_Q), nan);
  }
};

// Stride 2 splits 32 loaded columns into even and odd ones with _mm512_shuffle_ps, which works
// within 128-bit lanes: register position p then holds output kScramble[p] of the block.
constexpr int kScramble[16] = {0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15};

// Lanes i in [0, 16) whose column start + i lies in [0, W).
inline __mmask16 cols_in_row(int64_t start, int64_t W) {
  const int64_t a = start < 0 ? -start : 0;
  const int64_t b = W - start;
  return static_cast<__mmask16>(first_lanes(b) & ~first_lanes(a));
}

// How a block reads its columns: plain loads (no stored lane's window is clipped), plain
// loads with the columns outside the row replaced by -inf (kClip), or masked loads (kGuard:
// a plain load would leave x).
enum Mode { kPlain = 0, kClip = 1, kGuard = 2 };

// n (1..16) outputs whose windows start at column c (stride SW). tab holds, per kernel
// column kx, the masks of the columns inside the row that stored lanes use (low 16 bits:
// the load at c+kx, high: the second load of stride 2, at c+kx+16), then per lane the offset
// of the window's first column inside the row from its start (the initial argmax code).
// kGuard masks every load (the block is near an end of x); the result is the same.
template <int SW, bool IDX, int MODE>
inline void max_block(const float* xp, int64_t W, int64_t y_lo, int64_t y_hi, int64_t c, int kw,
                      const uint32_t* tab, __m512& out_v, __m512i& out_i) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512 fill = _mm512_set1_ps(-__builtin_inff());
  auto load = [&](const float* p, uint32_t k) {
    const __mmask16 m = static_cast<__mmask16>(k);
    if (MODE == kGuard) return _mm512_mask_loadu_ps(fill, m, p);
    if (MODE == kClip) return _mm512_mask_mov_ps(fill, m, _mm512_loadu_ps(p));
    return _mm512_loadu_ps(p);
  };
  MaxAcc<IDX> acc;
  if (IDX && MODE != kPlain) acc.code = _mm512_loadu_si512(tab + kw);
  for (int64_t iy = y_lo; iy < y_hi; ++iy) {
    // May point before the row (left padding): those columns are masked off or replaced.
    const float* row = xp + iy * W + c;
    const int32_t base = static_cast<int32_t>((iy - y_lo) * W);
    if (SW == 1) {
      for (int kx = 0; kx < kw; ++kx) acc.step(load(row + kx, tab[kx]), base + kx);
    } else {
      int kx = 0;
      for (; kx + 1 < kw; kx += 2) {
        const __m512 lo = load(row + kx, tab[kx]), hi = load(row + kx + 16, tab[kx] >> 16);
        acc.step(_mm512_shuffle_ps(lo, hi, 0x88), base + kx);
        acc.step(_mm512_shuffle_ps(lo, hi, 0xDD), base + kx + 1);
      }
      if (kx < kw) {  // odd kernel width: the last column, even elements only
        const __m512 lo = load(row + kx, tab[kx]), hi = load(row + kx + 16, tab[kx] >> 16);
        acc.step(_mm512_shuffle_ps(lo, hi, 0x88), base + kx);
      }
    }
  }
  // Stride 2: register position p holds output kScramble[p]; put the outputs in order.
  const __m512i order = _mm512_setr_epi32(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
  out_v = SW == 1 ? acc.result() : _mm512_maskz_permutexvar_ps(0xFFFF, order, acc.result());
  if (IDX) {
    const __m512i lane_off =
        SW == 1 ? _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15) : even;
    const __m512i code = SW == 1 ? acc.code : _mm512_maskz_permutexvar_epi32(0xFFFF, order, acc.code);
    out_i = _mm512_add_epi32(
        code, _mm512_add_epi32(_mm512_set1_epi32(static_cast<int32_t>(y_lo * W + c)), lane_off));
  }
}

template <int SW, bool IDX>
void max_rows(const float* x, float* y, int32_t* indices, const Pool2dShape& s,
              int64_t row_begin, int64_t row_end) {
  const int64_t H = s.h, W = s.w, OH = s.oh, OW = s.ow;
  const int64_t total = s.n * s.c * H * W;
  const int kw = static_cast<int>(s.kw);
  // Last element a block's loads touch, relative to c.
  const int64_t reach = SW == 1 ? kw + 14 : kw + 30;
  // Outputs [v_lo, v_hi) have windows that meet the row (all of them for valid arguments).
  int64_t v_lo = 0, v_hi = OW;
  while (v_lo < OW && v_lo * SW - s.pw + kw <= 0) ++v_lo;
  while (v_hi > v_lo && (v_hi - 1) * SW - s.pw >= W) --v_hi;
  // Blocks of 16 from v_lo, the same in every row; per block the table of max_block, then
  // whether a stored lane's window is clipped by the row.
  const int64_t nb = (v_hi - v_lo + 15) / 16, stride = kw + 17;
  uint32_t* plan = nb > 0 ? new uint32_t[static_cast<size_t>(nb * stride)] : nullptr;
  for (int64_t b = 0; b < nb; ++b) {
    uint32_t* tab = plan + b * stride;
    const int64_t ox0 = v_lo + 16 * b, n = imin(16, v_hi - ox0), c = ox0 * SW - s.pw;
    tab[kw + 16] = c < 0 || c + (n - 1) * SW + kw - 1 > W - 1;
    for (int kx = 0; kx < kw; ++kx) {
      // Element i of a load feeds lane i (stride 1) or lane i/2 of its half (stride 2); the
      // last column of an odd kernel width uses the even elements only.
      const bool odd_last = SW == 2 && (kw & 1) && kx == kw - 1;
      const int64_t need = SW == 1 ? n : 2 * n - (odd_last ? 1 : 0);
      const uint32_t lo = first_lanes(need) & cols_in_row(c + kx, W);
      const uint32_t hi = SW == 1 ? 0u : first_lanes(need - 16) & cols_in_row(c + kx + 16, W);
      tab[kx] = lo | (hi << 16);
    }
    for (int p = 0; p < 16; ++p) {
      const int64_t start = c + (SW == 1 ? p : kScramble[p]) * SW;
      tab[kw + p] = static_cast<uint32_t>(start < 0 ? -start : 0);
    }
  }
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
    if (y_lo >= y_hi) {  // not for valid arguments
      for (int64_t ox = 0; ox < OW; ++ox) scalar(ox);
      continue;
    }
    for (int64_t ox = 0; ox < v_lo; ++ox) scalar(ox);
    // A short last block may store all 16 lanes when the spill lands inside the next row of
    // this thread's range, which is computed (and so overwritten) after this one.
    const bool next_row_ours = r + 1 < row_end;
    const int64_t first = plane * H * W + y_lo * W, last = plane * H * W + (y_hi - 1) * W;
    for (int64_t b = 0; b < nb; ++b) {
      const uint32_t* tab = plan + b * stride;
      const int64_t ox0 = v_lo + 16 * b, n = imin(16, v_hi - ox0), c = ox0 * SW - s.pw;
      __m512 v;
      __m512i vi = _mm512_setzero_si512();
      if (first + c < 0 || last + c + reach >= total)
        max_block<SW, IDX, kGuard>(xp, W, y_lo, y_hi, c, kw, tab, v, vi);
      else if (tab[kw + 16])
        max_block<SW, IDX, kClip>(xp, W, y_lo, y_hi, c, kw, tab, v, vi);
      else
        max_block<SW, IDX, kPlain>(xp, W, y_lo, y_hi, c, kw, tab, v, vi);
      if (n == 16 || (next_row_ours && ox0 + 16 <= 2 * OW)) {
        _mm512_storeu_ps(yr + ox0, v);
        if (IDX) _mm512_storeu_si512(ir + ox0, vi);
      } else {
        const __mmask16 store = first_lanes(n);
        _mm512_mask_storeu_ps(yr + ox0, store, v);
        if (IDX) _mm512_mask_storeu_epi32(ir + ox0, store, vi);
      }
    }
    for (int64_t ox = v_hi; ox < OW; ++ox) scalar(ox);
  }
  delete[] plan;
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
