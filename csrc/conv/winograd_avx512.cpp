// AVX-512 Winograd F(4x4, 3x3) kernels (winograd_kernels.h), vectorised across 16 tiles: one
// piece of 16 tiles of a tile row, two of 8 or four of 4 (maps up to 32 or 16 wide). The rows
// of the pieces' 6x6 inputs (tiles 4 floats apart) are loaded as 4 vectors, plus the 2 floats
// past each piece, and split into the 6 tile columns with permutes; the 4 output columns are
// merged back into whole output rows the same way. The GEMM tile is 12 output channels x 32
// tiles (24 accumulators).
#include <immintrin.h>

#include "conv/winograd.h"
#include "conv/winograd_kernels.h"
#include "conv/winograd_lanes_avx512.h"

// GCC 12's _mm512_shuffle_f32x4 passes _mm512_undefined_ps(), which warns as
// maybe-uninitialized (GCC PR 105593); the value is never used.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace pcn::conv {
namespace {

constexpr int64_t kOut = winograd_out(WinogradVariant::f4x4);  // output tile side

constexpr int64_t kPrefetchChannels = 2;

// v = B^T d on vectors (one 6-point line per lane); points 0, 1, -1, 1/2, -2 (winograd.h).
__attribute__((always_inline)) inline void input_line(const __m512* d, __m512* v) {
  const __m512 two = _mm512_set1_ps(2.0f), half = _mm512_set1_ps(0.5f);
  const __m512 three_halves = _mm512_set1_ps(1.5f), five_halves = _mm512_set1_ps(2.5f);
  const __m512 e = _mm512_sub_ps(d[4], d[2]), f = _mm512_sub_ps(d[3], d[1]);
  const __m512 s04 = _mm512_add_ps(d[0], d[4]), s14 = _mm512_add_ps(d[4], d[1]);
  v[0] = _mm512_fmadd_ps(three_halves, f, _mm512_fnmadd_ps(two, d[2], s04));
  v[1] = _mm512_fmadd_ps(five_halves, d[3], _mm512_fmadd_ps(half, d[2], _mm512_sub_ps(d[4], d[1])));
  v[2] = _mm512_fmadd_ps(half, d[3], _mm512_fnmadd_ps(five_halves, d[2], s14));
  v[3] = _mm512_fmadd_ps(two, f, e);
  v[4] = _mm512_fnmadd_ps(half, f, e);
  v[5] = _mm512_fmadd_ps(three_halves, e, _mm512_fnmadd_ps(two, d[3], _mm512_add_ps(d[5], d[1])));
}

// o = A^T m on vectors (4 outputs per lane).
__attribute__((always_inline)) inline void output_line(const __m512* m, __m512* o) {
  const __m512 s = _mm512_add_ps(m[1], m[2]), d = _mm512_sub_ps(m[1], m[2]);
  o[0] = _mm512_add_ps(_mm512_add_ps(m[0], s), _mm512_add_ps(m[3], m[4]));
  o[1] = _mm512_fnmadd_ps(_mm512_set1_ps(2.0f), m[4],
                          _mm512_fmadd_ps(_mm512_set1_ps(0.5f), m[3], d));
  o[2] = _mm512_fmadd_ps(_mm512_set1_ps(4.0f), m[4],
                         _mm512_fmadd_ps(_mm512_set1_ps(0.25f), m[3], s));
  o[3] = _mm512_fnmadd_ps(_mm512_set1_ps(8.0f), m[4],
                          _mm512_fmadd_ps(_mm512_set1_ps(0.125f), m[3], _mm512_add_ps(d, m[5])));
}

// Splits image rows into tile columns, d[q][l] = row[4t + q] for lane l = g * pitch + t of
// piece g, q < 6. r[0..3] hold 64 floats: the 4 * pitch first floats of each piece's row in
// turn; pairs of columns come from 32 floats with one two-source permute (lanes 0-7 and
// 8-15), the two halves joined by 128-bit lane shuffles. Columns 4 and 5 are columns 0 and 1
// one tile on, where the last tile of a piece takes floats 4 * pitch and 4 * pitch + 1 of
// its row from `extra` (lanes 2g and 2g + 1), per the index vectors next4 and next5.
__attribute__((always_inline)) inline void split_columns(const __m512* r, __m512 extra,
                                                         __m512i next4, __m512i next5,
                                                         __m512* d) {
  const __m512i pair01 = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28,
                                           1, 5, 9, 13, 17, 21, 25, 29);
  const __m512i pair23 = _mm512_setr_epi32(2, 6, 10, 14, 18, 22, 26, 30,
                                           3, 7, 11, 15, 19, 23, 27, 31);
  const __m512 a01 = _mm512_permutex2var_ps(r[0], pair01, r[1]);
  const __m512 b01 = _mm512_permutex2var_ps(r[2], pair01, r[3]);
  const __m512 a23 = _mm512_permutex2var_ps(r[0], pair23, r[1]);
  const __m512 b23 = _mm512_permutex2var_ps(r[2], pair23, r[3]);
  d[0] = _mm512_shuffle_f32x4(a01, b01, 0x44);
  d[1] = _mm512_shuffle_f32x4(a01, b01, 0xEE);
  d[2] = _mm512_shuffle_f32x4(a23, b23, 0x44);
  d[3] = _mm512_shuffle_f32x4(a23, b23, 0xEE);
  d[4] = _mm512_permutex2var_ps(d[0], next4, extra);
  d[5] = _mm512_permutex2var_ps(d[1], next5, extra);
}

// The inverse for 4 columns: out[16p + l] = o[(16p + l) % 4][(16p + l) / 4], p < 4.
__attribute__((always_inline)) inline void merge_columns(const __m512* o, __m512* out) {
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30,
                                       15, 31);
  const __m512 a = _mm512_permutex2var_ps(o[0], lo, o[1]);  // o0 o1 pairs, tiles 0-7
  const __m512 b = _mm512_permutex2var_ps(o[0], hi, o[1]);  // tiles 8-15
  const __m512 c = _mm512_permutex2var_ps(o[2], lo, o[3]);
  const __m512 d = _mm512_permutex2var_ps(o[2], hi, o[3]);
  const __m512i plo = _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11);
  const __m512i phi = _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15);
  auto pairs = [](__m512 x, __m512i idx, __m512 y) {
    return _mm512_castpd_ps(_mm512_permutex2var_pd(_mm512_castps_pd(x), idx, _mm512_castps_pd(y)));
  };
  out[0] = pairs(a, plo, c);
  out[1] = pairs(a, phi, c);
  out[2] = pairs(b, plo, d);
  out[3] = pairs(b, phi, d);
}

// PITCH a template argument, so that the loops over pieces and vectors unroll and the row
// vectors stay in registers.
template <int PITCH>
void input_pitch(const float* x, const WinogradGeometry& g, const WinogradPiece* pieces,
                 int count, float* v, int64_t ldv, int64_t ldxi) {
  constexpr int64_t pitch = PITCH;
  constexpr int per = PITCH / 4;  // vectors of 16 floats per piece row
  const __m512i next4 = next_index(pitch, 0), next5 = next_index(pitch, 1);
  const __m512i join2 = _mm512_setr_epi32(0, 1, 16, 17, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m512i join4 = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 0, 0, 0, 0, 0, 0, 0, 0);
  int64_t total;
  const __mmask16 valid = piece_lanes(pieces, count, pitch, total);
  const bool packed = valid == first_lanes(total);  // lanes already consecutive
  const __mmask16 store = first_lanes(total);
  // Per piece: its first float in a channel plane (its rows are w apart), the rows inside the
  // image, and the load masks of its row (4 * pitch + 2 floats) against the image columns.
  const float* base[4];
  int64_t row0[4];
  __mmask16 load[4][4], tail[4];
  for (int p = 0; p < 4; ++p) {
    const bool live = p < count;
    const int64_t y0 = live ? pieces[p].ty * kOut - g.pt : -6;
    const int64_t x0 = live ? pieces[p].tx * kOut - g.pl : 0;
    base[p] = live ? x + pieces[p].image * g.c * g.h * g.w + x0 : x;
    row0[p] = y0;
    for (int q = 0; q < per; ++q) load[p][q] = live ? lanes_within(x0 + 16 * q, 0, g.w) : 0;
    tail[p] = live ? lanes_within(x0 + 4 * pitch, 0, g.w) & 0x3 : 0;
  }
  for (int64_t ch = 0; ch < g.c; ++ch) {
    const int64_t plane = ch * g.h * g.w;
    __m512 e[6][6];  // e[r][a]: row r of each tile transformed along x, point a
    for (int r = 0; r < 6; ++r) {
      __m512 raw[4], ext[4];
      bool any = false;
      for (int p = 0; p < 4 / per; ++p) {
        const int64_t y = row0[p] + r;
        const bool in = p < count && y >= 0 && y < g.h;
        any |= in;
        // Masked lanes are not read, so a row may start in the left padding.
        const float* row = base[p] + plane + y * g.w;
        for (int q = 0; q < per; ++q)
          raw[p * per + q] = in ? _mm512_maskz_loadu_ps(load[p][q], row + 16 * q)
                                : _mm512_setzero_ps();
        ext[p] = in ? _mm512_maskz_loadu_ps(tail[p], row + 4 * pitch) : _mm512_setzero_ps();
        // The next channels' rows are a plane apart, too far for the hardware prefetchers:
        // without this, loads from memory took a third of a batch-16 64 -> 64 32x32 call.
        if (in && ch + kPrefetchChannels < g.c) {
          const float* ahead = row + kPrefetchChannels * g.h * g.w;
          for (int q = 0; q <= per; ++q)
            _mm_prefetch(reinterpret_cast<const char*>(ahead + 16 * q), _MM_HINT_T0);
        }
      }
      if (!any) {
        for (int a = 0; a < 6; ++a) e[r][a] = _mm512_setzero_ps();
        continue;
      }
      __m512 extra = ext[0];
      if (per == 2) {
        extra = _mm512_permutex2var_ps(ext[0], join2, ext[1]);
      } else if (per == 1) {
        const __m512 ab = _mm512_permutex2var_ps(ext[0], join2, ext[1]);
        const __m512 cd = _mm512_permutex2var_ps(ext[2], join2, ext[3]);
        extra = _mm512_permutex2var_ps(ab, join4, cd);
      }
      __m512 d[6];
      split_columns(raw, extra, next4, next5, d);
      input_line(d, e[r]);
    }
    float* vc = v + ch * ldv;
    for (int a = 0; a < 6; ++a) {
      __m512 col[6], out[6];
      for (int r = 0; r < 6; ++r) col[r] = e[r][a];
      input_line(col, out);
      for (int b = 0; b < 6; ++b) {
        const __m512 o = packed ? out[b] : _mm512_maskz_compress_ps(valid, out[b]);
        _mm512_mask_storeu_ps(vc + (b * 6 + a) * ldxi, store, o);
      }
    }
  }
}

// R rows x V vectors of tiles; masks select the tiles of a partial last vector.
template <int R, int V>
void gemm_tile(int64_t kc, const float* u, const float* v, int64_t ldv, float* m, int64_t ldm,
               __mmask16 m0, __mmask16 m1, const char* next) {
  __m512 acc[R][V];
#pragma GCC unroll 12
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 2
    for (int j = 0; j < V; ++j) acc[i][j] = _mm512_setzero_ps();
#pragma GCC unroll 2
  for (int64_t ch = 0; ch < kc; ++ch) {
    __m512 b[V];
    b[0] = _mm512_maskz_loadu_ps(m0, v + ch * ldv);
    if constexpr (V == 2) b[1] = _mm512_maskz_loadu_ps(m1, v + ch * ldv + 16);
    const float* uc = u + ch * kWinogradRows;
    // 48 bytes of the next panel per input channel, as u advances: every line of it
    if (next) _mm_prefetch(next + ch * kWinogradRows * sizeof(float), _MM_HINT_T1);
#pragma GCC unroll 12
    for (int i = 0; i < R; ++i) {
      const __m512 a = _mm512_set1_ps(uc[i]);
#pragma GCC unroll 2
      for (int j = 0; j < V; ++j) acc[i][j] = _mm512_fmadd_ps(a, b[j], acc[i][j]);
    }
  }
#pragma GCC unroll 12
  for (int i = 0; i < R; ++i) {
    _mm512_mask_storeu_ps(m + i * ldm, m0, acc[i][0]);
    if constexpr (V == 2) _mm512_mask_storeu_ps(m + i * ldm + 16, m1, acc[i][1]);
  }
}

template <int R>
void gemm_rows(int64_t cols, int64_t kc, const float* u, const float* v, int64_t ldv, float* m,
               int64_t ldm, const float* next) {
  // the first pass over u prefetches (the later ones find u in cache)
  const char* pf = reinterpret_cast<const char*>(next);
  for (int64_t t = 0; t < cols; t += 2 * kLanes, pf = nullptr) {
    const int64_t left = cols - t;
    if (left > kLanes)
      gemm_tile<R, 2>(kc, u, v + t, ldv, m + t, ldm, 0xFFFF, first_lanes(left - kLanes), pf);
    else
      gemm_tile<R, 1>(kc, u, v + t, ldv, m + t, ldm, first_lanes(left), 0, pf);
  }
}

using GemmRowsFn = void (*)(int64_t, int64_t, const float*, const float*, int64_t, float*,
                            int64_t, const float*);
constexpr GemmRowsFn kGemmRows[kWinogradRows] = {
    &gemm_rows<1>, &gemm_rows<2>, &gemm_rows<3>, &gemm_rows<4>,  &gemm_rows<5>,  &gemm_rows<6>,
    &gemm_rows<7>, &gemm_rows<8>, &gemm_rows<9>, &gemm_rows<10>, &gemm_rows<11>, &gemm_rows<12>};

void gemm_avx512(int64_t rows, int64_t cols, int64_t kc, const float* u, const float* v,
                 int64_t ldv, float* m, int64_t ldm, const float* next) {
  kGemmRows[rows - 1](cols, kc, u, v, ldv, m, ldm, next);
}

template <int PITCH>
void output_pitch(const float* m, int64_t ldxi, int64_t ldm, int64_t nrows,
                  const WinogradGeometry& g, const WinogradPiece* pieces, int count, int64_t k0,
                  const float* bias, bool relu, float* y) {
  constexpr int64_t pitch = PITCH;
  constexpr int per = PITCH / 4;  // vectors of 16 floats per piece row
  int64_t total;
  const __mmask16 valid = piece_lanes(pieces, count, pitch, total);
  const bool packed = valid == first_lanes(total);
  const __mmask16 load = first_lanes(total);
  // Per piece: its first output (channel 0) and the masks of its row's columns in the map.
  float* first[4];
  int64_t rows_in[4];
  __mmask16 store[4][per];
  for (int p = 0; p < count; ++p) {
    const WinogradPiece& pc = pieces[p];
    const int64_t oy0 = pc.ty * kOut, xs = pc.tx * kOut;
    const int64_t xe = min64(g.ow, xs + 4 * pc.n);  // this piece's columns end here
    first[p] = y + pc.image * g.k * g.oh * g.ow + oy0 * g.ow + xs;
    rows_in[p] = min64(4, g.oh - oy0);
    for (int q = 0; q < per; ++q) store[p][q] = lanes_within(xs + 16 * q, 0, xe);
  }
  for (int64_t r = 0; r < nrows; ++r) {
    const float* mr = m + r * ldm;
    const __m512 bv = _mm512_set1_ps(bias ? bias[k0 + r] : 0.0f);
    __m512 o[4][4];  // o[i][j]: output row i, column j of each tile
    transform_output<6, 4>(mr, ldxi, load, valid, packed, bv, relu,
                               [](const __m512* in, __m512* res) { output_line(in, res); }, o);
    // merge_columns gives 16 floats per 4 lanes: piece p's row is vectors [p * per, p * per + per)
    __m512 rows[4][4];
    for (int i = 0; i < 4; ++i) merge_columns(o[i], rows[i]);
    const int64_t plane = (k0 + r) * g.oh * g.ow;
    for (int p = 0; p < count; ++p)
      for (int i = 0; i < rows_in[p]; ++i)
        for (int q = 0; q < per; ++q)
          _mm512_mask_storeu_ps(first[p] + plane + i * g.ow + 16 * q, store[p][q],
                                rows[i][p * per + q]);
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

const WinogradKernels& winograd_kernels_avx512() {
  static const WinogradKernels k{&input_avx512, &gemm_avx512, &output_avx512, kLanes, WinogradVariant::f4x4};
  return k;
}

}  // namespace pcn::conv
