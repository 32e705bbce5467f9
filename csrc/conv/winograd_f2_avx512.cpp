// AVX-512 Winograd F(2x2, 3x3) transforms (winograd_kernels.h), vectorised across 16 tiles: one
// piece of 16 tiles of a tile row, two of 8 or four of 4 (maps up to 32 or 16 wide). Tiles are
// 2 apart, so a piece's input row is 2 * pitch floats plus the 2 past them: the pieces' first
// 2 * pitch floats are loaded one after the other into two vectors (32 floats), whose even and
// odd floats are tile columns 0 and 1 of the 16 lanes; columns 2 and 3 are columns 0 and 1 one
// tile on, where the last tile of a piece takes the 2 floats past it. The output rows are the 2
// output columns interleaved. The GEMM is F(4x4, 3x3)'s (winograd_avx512.cpp).
#include <immintrin.h>

#include "conv/winograd.h"
#include "conv/winograd_kernels.h"
#include "conv/winograd_lanes_avx512.h"

// GCC 12's _mm512_max_ps passes _mm512_undefined_ps(), which warns as maybe-uninitialized (GCC
// PR 105593); the value is never used.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace pcn::conv {
namespace {

constexpr int64_t kOut = winograd_out(WinogradVariant::f2x2);  // output tile side
constexpr int64_t kPrefetchChannels = 2;                        // as in winograd_avx512.cpp

// v = B^T d on vectors (one 4-point line per lane); points 0, 1, -1 and infinity.
__attribute__((always_inline)) inline void input_line(const __m512* d, __m512* v) {
  v[0] = _mm512_sub_ps(d[0], d[2]);
  v[1] = _mm512_add_ps(d[1], d[2]);
  v[2] = _mm512_sub_ps(d[2], d[1]);
  v[3] = _mm512_sub_ps(d[1], d[3]);
}

// o = A^T m on vectors (2 outputs per lane).
__attribute__((always_inline)) inline void output_line(const __m512* m, __m512* o) {
  const __m512 s = _mm512_add_ps(m[1], m[2]), d = _mm512_sub_ps(m[1], m[2]);
  o[0] = _mm512_add_ps(m[0], s);
  o[1] = _mm512_sub_ps(d, m[3]);
}

// Whether piece p of a group (2 * PITCH floats from float 2 * PITCH * p of the group's rows)
// has floats in row vector j (floats 16j .. 16j + 15).
template <int PITCH>
constexpr bool in_vector(int p, int j) {
  return 2 * PITCH * p < 16 * (j + 1) && 2 * PITCH * (p + 1) > 16 * j;
}

// PITCH a template argument, so that the loops over pieces unroll and the row vectors stay in
// registers.
template <int PITCH>
void input_pitch(const float* x, const WinogradGeometry& g, const WinogradPiece* pieces,
                 int count, float* v, int64_t ldv, int64_t ldxi) {
  constexpr int64_t pitch = PITCH;
  constexpr int slots = static_cast<int>(kLanes / PITCH);  // pieces per group
  constexpr int64_t span = 2 * PITCH;                       // a piece's floats in the row vectors
  const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odds = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  const __m512i next2 = next_index(pitch, 0), next3 = next_index(pitch, 1);
  int64_t total;
  const __mmask16 valid = piece_lanes(pieces, count, pitch, total);
  const bool packed = valid == first_lanes(total);  // lanes already consecutive
  const __mmask16 store = first_lanes(total);
  // Per piece: its image's first plane, its first row, and per row vector the offset of lane 0
  // from the start of an image row and the lanes it loads (its own, inside the image); the 2
  // floats past it go to lanes 2p and 2p + 1 of `ext`.
  const float* base[slots];
  int64_t row0[slots], off[slots][2], ext_off[slots];
  __mmask16 load[slots][2], tail[slots];
  for (int p = 0; p < slots; ++p) {
    const bool live = p < count;
    const int64_t y0 = live ? pieces[p].ty * kOut - g.pt : -4;
    const int64_t x0 = live ? pieces[p].tx * kOut - g.pl : 0;
    base[p] = live ? x + pieces[p].image * g.c * g.h * g.w : x;
    row0[p] = y0;
    for (int j = 0; j < 2; ++j) {
      off[p][j] = x0 + 16 * j - span * p;
      load[p][j] = live ? lanes_within(16 * j - span * p, 0, span) & lanes_within(off[p][j], 0, g.w)
                        : 0;
    }
    ext_off[p] = x0 + span - 2 * p;
    tail[p] = live ? static_cast<__mmask16>(lanes_within(ext_off[p], 0, g.w) & (3u << (2 * p))) : 0;
  }
  for (int64_t ch = 0; ch < g.c; ++ch) {
    const int64_t plane = ch * g.h * g.w;
    __m512 e[4][4];  // e[r][a]: row r of each tile transformed along x, point a
    for (int r = 0; r < 4; ++r) {
      __m512 raw[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
      __m512 ext = _mm512_setzero_ps();
      bool any = false;
      for (int p = 0; p < slots; ++p) {
        const int64_t y = row0[p] + r;
        if (p >= count || y < 0 || y >= g.h) continue;
        any = true;
        // Masked lanes are not read, so a row may start in the left padding.
        const float* row = base[p] + plane + y * g.w;
        for (int j = 0; j < 2; ++j)
          if (in_vector<PITCH>(p, j)) raw[j] = _mm512_mask_loadu_ps(raw[j], load[p][j], row + off[p][j]);
        ext = _mm512_mask_loadu_ps(ext, tail[p], row + ext_off[p]);
        // The next channels' rows are a plane apart, too far for the hardware prefetchers.
        if (ch + kPrefetchChannels < g.c) {
          const float* ahead = row + off[p][0] + span * p + kPrefetchChannels * g.h * g.w;
          for (int64_t q = 0; q <= span; q += 16)
            _mm_prefetch(reinterpret_cast<const char*>(ahead + q), _MM_HINT_T0);
          _mm_prefetch(reinterpret_cast<const char*>(ahead + span + 1), _MM_HINT_T0);
        }
      }
      if (!any) {
        for (int a = 0; a < 4; ++a) e[r][a] = _mm512_setzero_ps();
        continue;
      }
      __m512 d[4];
      d[0] = _mm512_permutex2var_ps(raw[0], evens, raw[1]);
      d[1] = _mm512_permutex2var_ps(raw[0], odds, raw[1]);
      d[2] = _mm512_permutex2var_ps(d[0], next2, ext);
      d[3] = _mm512_permutex2var_ps(d[1], next3, ext);
      input_line(d, e[r]);
    }
    float* vc = v + ch * ldv;
    for (int a = 0; a < 4; ++a) {
      __m512 col[4], out[4];
      for (int r = 0; r < 4; ++r) col[r] = e[r][a];
      input_line(col, out);
      for (int b = 0; b < 4; ++b) {
        const __m512 o = packed ? out[b] : _mm512_maskz_compress_ps(valid, out[b]);
        _mm512_mask_storeu_ps(vc + (b * 4 + a) * ldxi, store, o);
      }
    }
  }
}

template <int PITCH>
void output_pitch(const float* m, int64_t ldxi, int64_t ldm, int64_t nrows,
                  const WinogradGeometry& g, const WinogradPiece* pieces, int count, int64_t k0,
                  const float* bias, bool relu, float* y) {
  constexpr int64_t pitch = PITCH;
  constexpr int slots = static_cast<int>(kLanes / PITCH);
  constexpr int64_t span = 2 * PITCH;
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30,
                                       15, 31);
  int64_t total;
  const __mmask16 valid = piece_lanes(pieces, count, pitch, total);
  const bool packed = valid == first_lanes(total);
  const __mmask16 load = first_lanes(total);
  // Per piece: its first output (channel 0), its rows inside the map, and per output row
  // vector the offset of lane 0 from that output and the lanes it stores (its own columns
  // inside the map).
  float* first[slots] = {};
  int64_t rows_in[slots] = {}, off[slots][2] = {};
  __mmask16 store[slots][2] = {};
  for (int p = 0; p < count; ++p) {
    const WinogradPiece& pc = pieces[p];
    const int64_t oy0 = pc.ty * kOut, xs = pc.tx * kOut;
    const int64_t xe = min64(g.ow, xs + kOut * pc.n);  // this piece's columns end here
    first[p] = y + pc.image * g.k * g.oh * g.ow + oy0 * g.ow + xs;
    rows_in[p] = min64(kOut, g.oh - oy0);
    for (int j = 0; j < 2; ++j) {
      off[p][j] = 16 * j - span * p;
      store[p][j] = lanes_within(xs + off[p][j], xs, xe);
    }
  }
  for (int64_t r = 0; r < nrows; ++r) {
    const float* mr = m + r * ldm;
    const __m512 bv = _mm512_set1_ps(bias ? bias[k0 + r] : 0.0f);
    __m512 o[2][2];  // o[i][j]: output row i, column j of each tile
    transform_output<4, 2>(mr, ldxi, load, valid, packed, bv, relu,
                               [](const __m512* in, __m512* res) { output_line(in, res); }, o);
    const int64_t plane = (k0 + r) * g.oh * g.ow;
    for (int i = 0; i < 2; ++i) {
      // 32 floats: the pieces' output rows one after the other
      const __m512 rows[2] = {_mm512_permutex2var_ps(o[i][0], lo, o[i][1]),
                              _mm512_permutex2var_ps(o[i][0], hi, o[i][1])};
      for (int p = 0; p < count; ++p) {
        if (i >= rows_in[p]) continue;
        for (int j = 0; j < 2; ++j)
          if (in_vector<PITCH>(p, j))
            _mm512_mask_storeu_ps(first[p] + plane + i * g.ow + off[p][j], store[p][j], rows[j]);
      }
    }
  }
}

void input_avx512(const float* x, const WinogradGeometry& g, const WinogradPiece* pieces,
                  int count, int64_t pitch, float* v, int64_t ldv, int64_t ldxi) {
  if (pitch == 4) input_pitch<4>(x, g, pieces, count, v, ldv, ldxi);
  else if (pitch == 8) input_pitch<8>(x, g, pieces, count, v, ldv, ldxi);
  else input_pitch<16>(x, g, pieces, count, v, ldv, ldxi);
}

void output_avx512(const float* m, int64_t ldxi, int64_t ldm, int64_t rows,
                   const WinogradGeometry& g, const WinogradPiece* pieces, int count,
                   int64_t pitch, int64_t k0, const float* bias, bool relu, float* y) {
  if (pitch == 4) output_pitch<4>(m, ldxi, ldm, rows, g, pieces, count, k0, bias, relu, y);
  else if (pitch == 8) output_pitch<8>(m, ldxi, ldm, rows, g, pieces, count, k0, bias, relu, y);
  else output_pitch<16>(m, ldxi, ldm, rows, g, pieces, count, k0, bias, relu, y);
}

}  // namespace

const WinogradKernels& winograd_f2_kernels_avx512() {
  static const WinogradKernels k{&input_avx512, winograd_kernels_avx512().gemm, &output_avx512,
                                 kLanes, WinogradVariant::f2x2};
  return k;
}

}  // namespace pcn::conv
