// AVX-512 depthwise forward: one output plane (one output channel of one image), 16 output
// columns per zmm, with the portable kernel's sums (depthwise.cpp) bit for bit.
//
// The portable loop adds one tap at a time over a whole output row, so every tap reloads and
// restores the row (GCC vectorises it 4 wide). Here each 16-column block of an output row stays
// in a register while all kh * kw taps are added in the portable order (bias, then ky, then kx;
// taps whose input row is outside the image are skipped, as there), and is stored once. A tap
// only adds to the lanes whose input column is inside the image (a masked add: a skipped lane
// keeps its value exactly, as the portable loop's column range does), and products are rounded
// before the add (explicit-rounding multiply, which the compiler cannot fuse into an FMA), so
// every output is the same float sum in the same order as on the ref tier, whatever block
// computes it. Input columns: stride 1 is one masked load, stride 2 two masked loads of the 32
// floats the block spans and a permute to the even ones, other strides a masked gather. Masked
// loads never touch the lanes they leave out, so no read goes past the image.
// A block is 4 output rows x 16 columns: four independent add chains (one row's chain of kh * kw
// dependent adds is latency-bound). A row's last block is shifted left to end at the row's end,
// so stores are full vectors, and rows narrower than 16 are copied out of a stack buffer (no
// masked store reaching into output not written yet, possibly on a page not mapped yet). The block walk
// visits input rows column block by column block, which the hardware prefetchers do not follow,
// so each row block prefetches the input 4 KB ahead (2x faster on planes streamed from DRAM).
// Measured on Zen 5, one thread, against the portable loop (benchmarks/compare_isa_misc.py
// --only dw): 3x3 stride 1 on 32x64x56x56 2.1x, 64x256x14x14 2.7x, 64x512x7x7 2.5x; 3x3
// stride 2 on 32x128x28x28 2.4x; 5x5 on 32x96x28x28 2.4x.
// GCC 12's AVX-512 intrinsics build their "undefined" pass-through vectors as `__m512 __Y = __Y`,
// which -Wmaybe-uninitialized (and, for the masked loads and the gather here, -Wuninitialized)
// reports at every inlined use (GCC bug 105593, fixed in GCC 13).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cstdint>

#include "conv/depthwise.h"

namespace pcn::conv {
namespace {

constexpr int kRound = _MM_FROUND_CUR_DIRECTION;
constexpr int kMaxKw = 64;  // wider kernels take the portable path (see depthwise.cpp)
constexpr int kRows = 4;    // output rows per block: independent add chains
constexpr int64_t kPrefetch = 4096;  // ~2 row blocks of a 56-wide plane; 16 KB measured the same

// Lanes [lo, hi) of a 16-lane block, clipped to [0, 16).
inline __mmask16 lanes(int64_t lo, int64_t hi) {
  if (lo < 0) lo = 0;
  if (hi > 16) hi = 16;
  if (hi <= lo) return 0;
  return static_cast<__mmask16>(((1u << (hi - lo)) - 1u) << lo);
}

// Bit l of m moved to bit 2l.
inline uint32_t spread_even(uint32_t m) {
  m = (m | (m << 8)) & 0x00FF00FFu;
  m = (m | (m << 4)) & 0x0F0F0F0Fu;
  m = (m | (m << 2)) & 0x33333333u;
  return (m | (m << 1)) & 0x55555555u;
}

// Input columns ox * sw of lanes k, from p = the input row at the block's first column.
template <int kStride>
inline __m512 load_cols(const float* p, __mmask16 k, int64_t sw, __m512i gather_idx) {
  if (kStride == 1) return _mm512_maskz_loadu_ps(k, p);
  if (kStride == 2) {
    const uint32_t e = spread_even(k);
    const __m512 a = _mm512_maskz_loadu_ps(static_cast<__mmask16>(e & 0xFFFFu), p);
    const __m512 b = _mm512_maskz_loadu_ps(static_cast<__mmask16>(e >> 16), p + 16);
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26,
                                           28, 30);
    return _mm512_permutex2var_ps(a, even, b);
  }
  (void)sw;
  return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), k, gather_idx, p, 4);
}

template <int kStride>
void plane(const Conv2dShape& s, const float* xin, const float* wk, float b0, float* out,
           bool relu) {
  // Per kx: the valid output columns [lo, hi) (input column inside the image).
  int64_t lo[kMaxKw], hi[kMaxKw];
  for (int64_t kx = 0; kx < s.kw; ++kx) {
    const int64_t off = kx * s.dw - s.pl;
    int64_t l = 0, h = s.ow;
    while (l < h && l * s.sw + off < 0) ++l;
    while (h > l && (h - 1) * s.sw + off >= s.w) --h;
    lo[kx] = l;
    hi[kx] = h;
  }
  const __m512i gather_idx =
      _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                         _mm512_set1_epi32(static_cast<int>(s.sw)));
  const __m512 zero = _mm512_setzero_ps();
  __mmask16 kmask[kMaxKw];
  // Row blocks outer, column blocks inner: the input and output are walked row by row, in
  // memory order (a column-block-major walk measured 2x slower on planes streamed from DRAM).
  for (int64_t oy0 = 0; oy0 < s.oh; oy0 += kRows) {
    const int64_t rows = s.oh - oy0 < kRows ? s.oh - oy0 : kRows;
    {
      // The block walks its input rows column block by column block, which the hardware
      // prefetchers do not follow; fetch the input kPrefetch bytes ahead of this block's rows
      // (past the plane's end too: the next plane is usually next in memory).
      const char* from = reinterpret_cast<const char*>(xin + oy0 * s.sh * s.w) + kPrefetch;
      const int64_t bytes = kRows * s.sh * s.w * static_cast<int64_t>(sizeof(float));
      for (int64_t b = 0; b < bytes; b += 64) _mm_prefetch(from + b, _MM_HINT_T0);
    }
    for (int64_t next = 0; next < s.ow; next += 16) {
      // A row's last block is moved left to end at the row's end (its lanes compute the same
      // sums as the block before), so stores are full 16-lane ones.
      const int64_t ox0 = next + 16 > s.ow && s.ow >= 16 ? s.ow - 16 : next;
      for (int64_t kx = 0; kx < s.kw; ++kx) kmask[kx] = lanes(lo[kx] - ox0, hi[kx] - ox0);
      const float* xcol = xin + ox0 * s.sw - s.pl;
      __m512 acc[kRows];
      for (int r = 0; r < kRows; ++r) acc[r] = _mm512_set1_ps(b0);
      for (int64_t ky = 0; ky < s.kh; ++ky) {
        const int64_t iy0 = oy0 * s.sh - s.pt + ky * s.dh;
        for (int64_t kx = 0; kx < s.kw; ++kx) {
          const __mmask16 k = kmask[kx];
          if (k == 0) continue;
          const __m512 wv = _mm512_set1_ps(wk[ky * s.kw + kx]);
          const float* base = xcol + kx * s.dw;
          for (int r = 0; r < kRows; ++r) {
            const int64_t iy = iy0 + r * s.sh;
            if (r >= rows || iy < 0 || iy >= s.h) continue;
            const __m512 in = load_cols<kStride>(base + iy * s.w, k, s.sw, gather_idx);
            acc[r] = _mm512_mask_add_ps(acc[r], k, acc[r], _mm512_mul_round_ps(wv, in, kRound));
          }
        }
      }
      for (int r = 0; r < kRows; ++r) {
        if (r >= rows) break;
        // zero first: NaN and -0 pass, as in the portable loop
        const __m512 v = relu ? _mm512_max_ps(zero, acc[r]) : acc[r];
        float* o = out + (oy0 + r) * s.ow + ox0;
        if (s.ow >= 16) {
          _mm512_storeu_ps(o, v);
        } else {
          // Rows narrower than a vector: no masked store, whose masked-off lanes would reach
          // into output not written yet, possibly on a page not mapped yet, where a masked
          // store can take a slow fault-suppression path.
          alignas(64) float tmp[16];
          _mm512_store_ps(tmp, v);
          for (int64_t l = 0; l < s.ow; ++l) o[l] = tmp[l];
        }
      }
    }
  }
}

}  // namespace

bool depthwise_plane_avx512(const Conv2dShape& s, const float* xin, const float* wk, float b0,
                            float* out, bool relu) {
  if (s.kw > kMaxKw) return false;
  if (s.sw == 1)
    plane<1>(s, xin, wk, b0, out, relu);
  else if (s.sw == 2)
    plane<2>(s, xin, wk, b0, out, relu);
  else
    plane<0>(s, xin, wk, b0, out, relu);
  return true;
}

}  // namespace pcn::conv
