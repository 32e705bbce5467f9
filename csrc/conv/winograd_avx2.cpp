// AVX2/FMA Winograd F(4x4, 3x3) kernels (winograd_kernels.h), vectorised across 8 tiles: one
// piece of 8 tiles or two of 4 per vector. A piece row's 4 * pitch floats are split into its
// tiles' columns by a 128-bit lane exchange and an in-lane 4x4 transpose, and merged back the
// same way; the GEMM runs 6 output channels x 16 tiles per register tile.
#include <immintrin.h>

#include "conv/winograd.h"
#include "conv/winograd_kernels.h"
#include "conv/winograd_lanes_avx2.h"

namespace pcn::conv {
namespace {

constexpr int64_t kOut = winograd_out(WinogradVariant::f4x4);  // output tile side

constexpr int64_t kPrefetchChannels = 2;  // as in winograd_avx512.cpp

// v = B^T d on vectors; points 0, 1, -1, 1/2, -2 (winograd.h).
__attribute__((always_inline)) inline void input_line(const __m256* d, __m256* v) {
  const __m256 two = _mm256_set1_ps(2.0f), half = _mm256_set1_ps(0.5f);
  const __m256 three_halves = _mm256_set1_ps(1.5f), five_halves = _mm256_set1_ps(2.5f);
  const __m256 e = _mm256_sub_ps(d[4], d[2]), f = _mm256_sub_ps(d[3], d[1]);
  const __m256 s04 = _mm256_add_ps(d[0], d[4]), s14 = _mm256_add_ps(d[4], d[1]);
  v[0] = _mm256_fmadd_ps(three_halves, f, _mm256_fnmadd_ps(two, d[2], s04));
  v[1] = _mm256_fmadd_ps(five_halves, d[3], _mm256_fmadd_ps(half, d[2], _mm256_sub_ps(d[4], d[1])));
  v[2] = _mm256_fmadd_ps(half, d[3], _mm256_fnmadd_ps(five_halves, d[2], s14));
  v[3] = _mm256_fmadd_ps(two, f, e);
  v[4] = _mm256_fnmadd_ps(half, f, e);
  v[5] = _mm256_fmadd_ps(three_halves, e, _mm256_fnmadd_ps(two, d[3], _mm256_add_ps(d[5], d[1])));
}

// o = A^T m on vectors.
__attribute__((always_inline)) inline void output_line(const __m256* m, __m256* o) {
  const __m256 s = _mm256_add_ps(m[1], m[2]), d = _mm256_sub_ps(m[1], m[2]);
  o[0] = _mm256_add_ps(_mm256_add_ps(m[0], s), _mm256_add_ps(m[3], m[4]));
  o[1] = _mm256_fnmadd_ps(_mm256_set1_ps(2.0f), m[4],
                          _mm256_fmadd_ps(_mm256_set1_ps(0.5f), m[3], d));
  o[2] = _mm256_fmadd_ps(_mm256_set1_ps(4.0f), m[4],
                         _mm256_fmadd_ps(_mm256_set1_ps(0.25f), m[3], s));
  o[3] = _mm256_fnmadd_ps(_mm256_set1_ps(8.0f), m[4],
                          _mm256_fmadd_ps(_mm256_set1_ps(0.125f), m[3], _mm256_add_ps(d, m[5])));
}

// In-lane 4x4 transposes of (a0..a3): per 128-bit half h, out[j][i] = a[i][j].
__attribute__((always_inline)) inline void transpose_halves(const __m256* a, __m256* out) {
  const __m256 u0 = _mm256_unpacklo_ps(a[0], a[1]), u1 = _mm256_unpackhi_ps(a[0], a[1]);
  const __m256 u2 = _mm256_unpacklo_ps(a[2], a[3]), u3 = _mm256_unpackhi_ps(a[2], a[3]);
  out[0] = _mm256_shuffle_ps(u0, u2, 0x44);
  out[1] = _mm256_shuffle_ps(u0, u2, 0xEE);
  out[2] = _mm256_shuffle_ps(u1, u3, 0x44);
  out[3] = _mm256_shuffle_ps(u1, u3, 0xEE);
}

// PITCH a template argument, so that the loops over pieces and vectors unroll and the row
// vectors stay in registers.
template <int PITCH>
void input_pitch(const float* x, const WinogradGeometry& g, const WinogradPiece* pieces,
                 int count, float* v, int64_t ldv, int64_t ldxi) {
  constexpr int64_t pitch = PITCH;
  constexpr int per = PITCH / 2;  // vectors of 8 floats per piece row
  constexpr int slots = static_cast<int>(kLanes / PITCH);
  int64_t total;
  const unsigned bits = piece_bits(pieces, count, pitch, total);
  const bool packed = bits == (1u << total) - 1;
  const __m256i compress = compress_index(bits);
  const __m256i store = first_lanes(total);
  // A masked store (vmaskmovps) costs far more than a plain one on AMD cores: only for tails.
  const bool whole = total == kLanes;
  const NextColumns next_columns(pitch);
  const float* base[2];
  int64_t row0[2];
  __m256i load[2][4], tail[2];
  for (int p = 0; p < 2; ++p) {
    const bool live = p < count;
    const int64_t y0 = live ? pieces[p].ty * kOut - g.pt : -6;
    const int64_t x0 = live ? pieces[p].tx * kOut - g.pl : 0;
    base[p] = live ? x + pieces[p].image * g.c * g.h * g.w + x0 : x;
    row0[p] = y0;
    for (int q = 0; q < 4; ++q) load[p][q] = lanes_within(x0 + 8 * q, live ? 0 : 1, live ? g.w : 0);
    tail[p] = _mm256_and_si256(lanes_within(x0 + 4 * pitch, live ? 0 : 1, live ? g.w : 0),
                               first_lanes(2));
  }
  for (int64_t ch = 0; ch < g.c; ++ch) {
    const int64_t plane = ch * g.h * g.w;
    __m256 e[6][6];
    for (int r = 0; r < 6; ++r) {
      __m256 raw[4], ext[2];
      bool any = false;
      for (int p = 0; p < slots; ++p) {
        const int64_t y = row0[p] + r;
        const bool in = p < count && y >= 0 && y < g.h;
        any |= in;
        const float* row = base[p] + plane + y * g.w;  // masked lanes are not read
        for (int q = 0; q < per; ++q)
          raw[p * per + q] = in ? _mm256_maskload_ps(row + 8 * q, load[p][q]) : _mm256_setzero_ps();
        ext[p] = in ? _mm256_maskload_ps(row + 4 * pitch, tail[p]) : _mm256_setzero_ps();
        if (in && ch + kPrefetchChannels < g.c) {
          const float* ahead = row + kPrefetchChannels * g.h * g.w;
          for (int q = 0; q <= per / 2; ++q)
            _mm_prefetch(reinterpret_cast<const char*>(ahead + 16 * q), _MM_HINT_T0);
        }
      }
      if (!any) {
        for (int a = 0; a < 6; ++a) e[r][a] = _mm256_setzero_ps();
        continue;
      }
      // pitch 8: raw = 32 floats of one row; pitch 4: 16 floats of each of two rows. Either
      // way the 128-bit halves hold tiles, paired so that the low half of the vectors gets
      // lanes 0-3 and the high half lanes 4-7.
      const __m256 t[4] = {_mm256_permute2f128_ps(raw[0], raw[2], 0x20),
                           _mm256_permute2f128_ps(raw[0], raw[2], 0x31),
                           _mm256_permute2f128_ps(raw[1], raw[3], 0x20),
                           _mm256_permute2f128_ps(raw[1], raw[3], 0x31)};
      // pitch 8: t = tiles 0|4, 1|5, 2|6, 3|7; pitch 4: A0|B0, A1|B1, A2|B2, A3|B3
      __m256 d[6];
      transpose_halves(t, d);
      const __m256 extra = slots == 2 ? _mm256_shuffle_ps(ext[0], ext[1], 0x44) : ext[0];
      next_columns(d[0], d[1], extra, d[4], d[5]);
      input_line(d, e[r]);
    }
    float* vc = v + ch * ldv;
    for (int a = 0; a < 6; ++a) {
      __m256 col[6], out[6];
      for (int r = 0; r < 6; ++r) col[r] = e[r][a];
      input_line(col, out);
      for (int b = 0; b < 6; ++b) {
        const __m256 o = packed ? out[b] : _mm256_permutevar8x32_ps(out[b], compress);
        if (whole) _mm256_storeu_ps(vc + (b * 6 + a) * ldxi, o);
        else _mm256_maskstore_ps(vc + (b * 6 + a) * ldxi, store, o);
      }
    }
  }
}

// R <= 6 rows x V vectors of 8 tiles; with MASKED, masks select the tiles of a partial last
// vector (plain loads and stores otherwise: vmaskmovps stores are slow on AMD cores).
template <int R, int V, bool MASKED>
void gemm_tile(int64_t kc, const float* u, const float* v, int64_t ldv, float* m, int64_t ldm,
               __m256i m0, __m256i m1, const char* next) {
  __m256 acc[R][V];
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < V; ++j) acc[i][j] = _mm256_setzero_ps();
#pragma GCC unroll 2
  for (int64_t ch = 0; ch < kc; ++ch) {
    __m256 b[V];
    const float* vc = v + ch * ldv;
    b[0] = MASKED ? _mm256_maskload_ps(vc, m0) : _mm256_loadu_ps(vc);
    if constexpr (V == 2) b[1] = MASKED ? _mm256_maskload_ps(vc + 8, m1) : _mm256_loadu_ps(vc + 8);
    const float* uc = u + ch * kWinogradRows;
    // 48 bytes of the next panel per input channel, as u advances: every line of it
    if (next) _mm_prefetch(next + ch * kWinogradRows * sizeof(float), _MM_HINT_T1);
    for (int i = 0; i < R; ++i) {
      const __m256 a = _mm256_broadcast_ss(uc + i);
      for (int j = 0; j < V; ++j) acc[i][j] = _mm256_fmadd_ps(a, b[j], acc[i][j]);
    }
  }
  for (int i = 0; i < R; ++i) {
    if constexpr (MASKED) {
      _mm256_maskstore_ps(m + i * ldm, m0, acc[i][0]);
      if constexpr (V == 2) _mm256_maskstore_ps(m + i * ldm + 8, m1, acc[i][1]);
    } else {
      _mm256_storeu_ps(m + i * ldm, acc[i][0]);
      if constexpr (V == 2) _mm256_storeu_ps(m + i * ldm + 8, acc[i][1]);
    }
  }
}

template <int R>
void gemm_rows(int64_t cols, int64_t kc, const float* u, const float* v, int64_t ldv, float* m,
               int64_t ldm, const char* next) {
  const __m256i full = first_lanes(8);
  // the first pass over u prefetches (the later ones find u in cache)
  for (int64_t t = 0; t < cols; t += 2 * kLanes, next = nullptr) {
    const int64_t left = cols - t;
    if (left >= 2 * kLanes)
      gemm_tile<R, 2, false>(kc, u, v + t, ldv, m + t, ldm, full, full, next);
    else if (left > kLanes)
      gemm_tile<R, 2, true>(kc, u, v + t, ldv, m + t, ldm, full, first_lanes(left - kLanes), next);
    else
      gemm_tile<R, 1, true>(kc, u, v + t, ldv, m + t, ldm, first_lanes(left), full, next);
  }
}

using GemmRowsFn = void (*)(int64_t, int64_t, const float*, const float*, int64_t, float*,
                            int64_t, const char*);
constexpr GemmRowsFn kGemmRows[6] = {&gemm_rows<1>, &gemm_rows<2>, &gemm_rows<3>,
                                     &gemm_rows<4>, &gemm_rows<5>, &gemm_rows<6>};

// Rows in runs of 6 (16 ymm registers: 12 accumulators, 2 rows of V, a broadcast); the first
// run prefetches.
void gemm_avx2(int64_t rows, int64_t cols, int64_t kc, const float* u, const float* v,
               int64_t ldv, float* m, int64_t ldm, const float* next) {
  const char* pf = reinterpret_cast<const char*>(next);
  for (int64_t i = 0; i < rows; i += 6, pf = nullptr)
    kGemmRows[min64(6, rows - i) - 1](cols, kc, u + i, v, ldv, m + i * ldm, ldm, pf);
}

template <int PITCH>
void output_pitch(const float* m, int64_t ldxi, int64_t ldm, int64_t nrows,
                  const WinogradGeometry& g, const WinogradPiece* pieces, int count, int64_t k0,
                  const float* bias, bool relu, float* y) {
  constexpr int64_t pitch = PITCH;
  constexpr int per = PITCH / 2;  // vectors of 8 floats per piece row
  int64_t total;
  const unsigned bits = piece_bits(pieces, count, pitch, total);
  const bool packed = bits == (1u << total) - 1;
  const __m256i expand = expand_index(bits);
  const __m256i load = first_lanes(total);
  float* first[2];
  int64_t rows_in[2];
  __m256i store[2][per];  // per piece and vector of its row: the columns inside the map
  bool whole[2][per];     // all 8 of them inside (a plain store)
  for (int p = 0; p < count; ++p) {
    const WinogradPiece& pc = pieces[p];
    const int64_t oy0 = pc.ty * kOut, xs = pc.tx * kOut;
    const int64_t xe = min64(g.ow, xs + 4 * pc.n);
    first[p] = y + pc.image * g.k * g.oh * g.ow + oy0 * g.ow + xs;
    rows_in[p] = min64(4, g.oh - oy0);
    for (int q = 0; q < per; ++q) {
      store[p][q] = lanes_within(xs + 8 * q, 0, xe);
      whole[p][q] = xs + 8 * q + 8 <= xe;
    }
  }
  for (int64_t r = 0; r < nrows; ++r) {
    const float* mr = m + r * ldm;
    const __m256 bv = _mm256_set1_ps(bias ? bias[k0 + r] : 0.0f);
    __m256 o[4][4];  // o[i][j]: output row i, column j of each tile
    transform_output<6, 4>(mr, ldxi, load, expand, packed, bv, relu,
                               [](const __m256* in, __m256* res) { output_line(in, res); }, o);
    const int64_t plane = (k0 + r) * g.oh * g.ow;
    for (int i = 0; i < 4; ++i) {
      // T[q]: lanes q | q + 4 as 4 consecutive outputs each; rows[q'] = lanes 2q', 2q' + 1
      __m256 T[4];
      transpose_halves(o[i], T);
      const __m256 rows[4] = {_mm256_permute2f128_ps(T[0], T[1], 0x20),
                              _mm256_permute2f128_ps(T[2], T[3], 0x20),
                              _mm256_permute2f128_ps(T[0], T[1], 0x31),
                              _mm256_permute2f128_ps(T[2], T[3], 0x31)};
      for (int p = 0; p < count; ++p) {
        if (i >= rows_in[p]) continue;
        for (int q = 0; q < per; ++q) {
          float* dst = first[p] + plane + i * g.ow + 8 * q;
          if (whole[p][q]) _mm256_storeu_ps(dst, rows[p * per + q]);
          else _mm256_maskstore_ps(dst, store[p][q], rows[p * per + q]);
        }
      }
    }
  }
}

void input_avx2(const float* x, const WinogradGeometry& g, const WinogradPiece* pieces,
                int count, int64_t pitch, float* v, int64_t ldv, int64_t ldxi) {
  if (pitch == 4) input_pitch<4>(x, g, pieces, count, v, ldv, ldxi);
  else input_pitch<8>(x, g, pieces, count, v, ldv, ldxi);
}

void output_avx2(const float* m, int64_t ldxi, int64_t ldm, int64_t rows,
                 const WinogradGeometry& g, const WinogradPiece* pieces, int count,
                 int64_t pitch, int64_t k0, const float* bias, bool relu, float* y) {
  if (pitch == 4) output_pitch<4>(m, ldxi, ldm, rows, g, pieces, count, k0, bias, relu, y);
  else output_pitch<8>(m, ldxi, ldm, rows, g, pieces, count, k0, bias, relu, y);
}

}  // namespace

const WinogradKernels& winograd_kernels_avx2() {
  static const WinogradKernels k{&input_avx2, &gemm_avx2, &output_avx2, kLanes, WinogradVariant::f4x4};
  return k;
}

}  // namespace pcn::conv
